/**
 * Scenarios (corruption, lost volume, server loss, ransomware): the steps for each, with the
 * objectives this environment's config promises.
 */
import { restoreArgs, type SourceKind } from "lifeboat-core";
import { shellQuote } from "../shell";
import { restoreSpecFor } from "../specs";
import type { RunbookWriter } from "../writer";

export function scenarios(w: RunbookWriter): void {
  const i = w.i;
  const of = (...kinds: SourceKind[]) => i.sources.filter((s) => kinds.includes(s.kind));
  const dbs = of("postgres", "redis", "sqlite");
  const vols = of("volume", "directory", "sqlite");
  w.p(`## Scenarios`);
  w.p(`Each scenario names the objectives this environment's config promises. "Lose at most RPO" means the data written after the newest backup; "within RTO" is the time the restore may take.`);

  w.p(`### Database corruption (bad migration, accidental DELETE, broken disk pages) — ${dbs.length ? w.objectives(dbs) : "no database sources here"}`);
  w.p(
    `1. Stop the writers (scale the application down) so the damage stops spreading.`,
    `2. Find the last good time: \`list\` the source (above) and pick the newest backup from before the damage.`,
    `3. Restore it into a NEW empty database, never over the live one:`,
  );
  if (dbs.length > 0) {
    w.code("bash", dbs.map((s) => s.pitr
      ? [
        w.useRestorer(s.name), w.targetLine(s),
        `export AT='2026-01-31T22:59:59Z'   # point-in-time: ONE SECOND before the damage (the DROP/DELETE/migration), UTC`,
        w.pitrCommand(s),
      ].join("\n")
      : [
        w.useRestorer(s.name), w.targetLine(s),
        w.cmd(restoreArgs({ ...restoreSpecFor(s, i.primary, i.prefix), at: "2026-01-31T23:00:00Z" })) + "   # the time before the damage",
      ].join("\n")).join("\n\n"));
  }
  const pitrDbs = dbs.filter((s) => s.pitr);
  if (pitrDbs.length > 0) {
    w.p(
      `For ${pitrDbs.map((s) => `\`${s.name}\``).join(", ")} (point-in-time recovery) the restore replays the WAL up to ` +
        `\`$AT\`: set it to a second before the damage (find the time in the application's or PostgreSQL's log), start ` +
        `the directory with \`pg_ctl\` and check it as under "Restore to a point in time"; only what was written after ` +
        `\`$AT\` is lost.`,
    );
  }
  w.p(
    `4. Check it (row counts are compared with the manifest automatically; spot-check recent rows), then point the application at it.`,
    `5. What was written after that backup is lost (at most the RPO), unless it can be re-entered or exported from the damaged database.`,
  );

  w.p(`### Lost volume (deleted volume, failed disk) — ${vols.length ? w.objectives(vols) : "no volume or directory sources here"}`);
  w.p(
    `1. Stop the containers that use it.`,
    `2. Create a fresh volume or directory and restore the newest backup into it:`,
  );
  if (vols.length > 0) {
    w.code("bash", vols.map((s) => [
      w.useRestorer(s.name),
      ...(s.kind === "volume" && !s.drTargetPath ? [`docker volume create ${shellQuote(`${s.volume ?? s.name}_restored`)}`] : []),
      w.targetLine(s), w.restoreCommand(s),
    ].join("\n")).join("\n\n"));
  }
  w.p(`3. Start the containers with the restored volume mounted. Files written after the backup are lost (at most the RPO).`);

  w.p(`### Server loss (the Docker host is gone) — ${w.objectives(i.sources)}`);
  w.p(
    `1. Provision a new host (same Docker networks, volumes created empty).`,
    `2. Restore every source into it with the commands under "Restore with the runner", databases first.`,
    `3. Point \`lifeboat:runtime\` at the new host in \`Pulumi.${i.stack}.yaml\` (e.g. \`host\`) and run ` +
      `\`pulumi up ${w.stackFlag}\` so the scheduled backups run again; check with the status commands.`,
    `4. If the whole ${i.primary.provider === "r2" ? "provider" : "region"} is gone, not just the host, fail over (above) instead.`,
  );

  w.p(`### Ransomware or a compromised account — ${w.objectives(i.sources)}`);
  w.p(
    `The backup hosts hold only the age public key: an attacker on them cannot decrypt backups, and ` +
      `${i.primary.provider === "s3" ? "S3 object lock (the writers cannot delete either)" : "R2 bucket-lock rules"} keep every ` +
      `backup until its retention ends, whatever credentials leak.`,
    `1. Isolate: take the affected hosts off the network; do not restore onto them.`,
    `2. Rotate every credential the attacker may have seen (database passwords, cloud keys; \`pulumi up\` after ` +
      `replacing the Lifeboat identities), from a clean machine.`,
    `3. Find when the compromise began and pick, per source, the newest backup from before it (\`list\`); ` +
      `\`verify\` it on a clean machine.`,
    `4. Restore into fresh hosts with \`--at\` that time (commands as under "Database corruption"), or from the ` +
      `replica if the primary's account is the one compromised.`,
    `5. Data since that backup is lost: at least the RPO, more if the attack went unnoticed for longer.`,
  );
}
