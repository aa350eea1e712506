/**
 * Failing over to the replica and back: the config switch, what `pulumi up` then restores where,
 * by-hand restores from the replica, and copying the failover's backups back.
 */
import { replicateArgs } from "lifeboat-core";
import { bucketDestination, bucketUrl } from "../specs";
import { defaultTarget, withoutPassword } from "../targets";
import type { RunbookWriter } from "../writer";

export function failover(w: RunbookWriter): void {
  const i = w.i;
  w.p(`## Fail over and fail back`);
  const replica = i.replicas[0];
  if (!replica) {
    w.p(`This environment has no replica, so it cannot fail over: add one under \`lifeboat:replicas\` in \`Pulumi.${i.stack}.yaml\`.`);
    return;
  }
  w.p(`### Fail over (the primary ${i.primary.provider === "r2" ? "R2 bucket" : "region"} is unavailable)`);
  w.code("bash", `pulumi config set lifeboat:failover true ${w.stackFlag}\npulumi up ${w.stackFlag}`);
  const targets = i.sources.map((s) => {
    const t = s.kind === "postgres" ? (s.drTargetUrl ? `\`${withoutPassword(s.drTargetUrl)}\`` : s.drTargetUrlKey && secretKey(w, s.drTargetUrlKey)) : s.drTargetPath && `\`${defaultTarget(s)}\``;
    return `| \`${s.name}\` | ${t || "none configured: restore by hand (below)"} | ${s.rto} |`;
  });
  w.p(
    `What \`pulumi up\` then does: the scheduled backups write to the replica ${w.where(replica)} instead of ` +
      `\`${i.primary.bucketName}\`; one-shot restore jobs restore the newest verified backup of each source that ` +
      `has a DR target into it; the stack outputs say what was restored from where. Nothing in either bucket is ` +
      `deleted or overwritten.`,
  );
  w.out.push("| source | DR target | RTO |", "| --- | --- | --- |", ...targets, "");
  w.p(`Any source by hand from the replica (with credentials that read it), e.g. those without a DR target:`);
  w.code("bash", i.sources.map((s) => [w.replicaCreds(s).trimEnd(), ...w.prepareTarget(s), w.targetLine(s), w.restoreCommand(s, replica)].filter(Boolean).join("\n")).join("\n\n"));
  w.p(`### Fail back (the primary is healthy again)`);
  w.code("bash", `pulumi config set lifeboat:failover false ${w.stackFlag}\npulumi up ${w.stackFlag}`);
  w.p(
    `The backups go back to \`${i.primary.bucketName}\` from their next run; the DR restore jobs are removed (the ` +
      `restored data stays where it is). Backups written to the replica during the failover stay on the replica ` +
      `only: replication runs primary → replica, never back. They expire with the replica's own lifecycle rules. ` +
      `Until the primary has a newer backup, restore from the replica (commands above). To keep them in the ` +
      `primary too, copy them back (create-only, never overwrites; needs credentials that can read the replica ` +
      `and put on the primary, the replica side as \`LIFEBOAT_REPLICA_ACCESS_KEY_ID\`/\`LIFEBOAT_REPLICA_SECRET_ACCESS_KEY\`):`,
  );
  w.code("bash", w.cmd(replicateArgs({
    all: true,
    ...bucketDestination(replica, i.prefix),
    to: bucketUrl(i.primary, i.prefix),
    toEndpoint: i.primary.endpoint,
    toRegion: i.primary.region,
  })));
}

/** A secret config value named by its key, with the command that reads it. */
function secretKey(w: RunbookWriter, key: string): string {
  return `the secret \`${key}\` (\`pulumi config get --path '${key}' ${w.stackFlag}\`)`;
}
