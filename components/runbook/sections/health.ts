/**
 * Checking on the backups: `status` per source and the alerts, `list`, and `verify`.
 */
import { statusArgs, verifyArgs } from "lifeboat-core";
import { maxAgeFor } from "../../schedule/cron";
import { RUNBOOK_VARIABLES } from "../input";
import { bucketDestination } from "../specs";
import type { RunbookWriter } from "../writer";

export function health(w: RunbookWriter): void {
  const i = w.i;
  w.p(`## Are the backups healthy?`);
  w.p(
    `\`status\` exits 0 when the newest backup of a source is younger than its \`--max-age\` (the schedule's ` +
      `longest gap plus an hour), not suspiciously small, not much smaller than the previous one, and its last ` +
      `verification passed, and its restore drills are neither over, near (80%) nor trending over its RTO; otherwise it exits 1 and says why.`,
  );
  w.code("bash", i.sources.map((s) => {
    // A postgres source's own limit, as its scheduled health check has it.
    const maxTableShrink = s.maxTableShrink ?? i.alerting.maxTableShrink;
    return [
      w.useRestorer(s.name),
      w.cmd(statusArgs({
        name: s.name,
        maxAge: maxAgeFor(s.schedule),
        ...(s.kind === "postgres" ? { minSize: String(i.alerting.minBackupBytes) } : {}),
        maxShrink: i.alerting.maxShrink,
        ...(maxTableShrink !== undefined ? { maxTableShrink } : {}),
        rto: s.rto,
        ...bucketDestination(i.primary, i.prefix),
      })),
    ].join("\n");
  }).join("\n\n"));
  const channels = [
    i.alerting.webhook ? "a Slack-compatible webhook" : "",
    i.alerting.healthcheck ? "healthcheck pings (`/start`, success, `/fail`)" : "",
  ].filter(Boolean);
  w.p(
    `Alerts: ${channels.length > 0 ? channels.join(" and ") : "**none configured** (set `lifeboat:alerts`)"}` +
      ` on failed backups, overdue or suspicious backups (Postgres under ${i.alerting.minBackupBytes} bytes, or ` +
      `shrunk by more than ${Math.round(i.alerting.maxShrink * 100)}%)` +
      (i.verification.enabled ? `, failed verifications; the health check runs on \`${i.verification.statusSchedule}\`` : "") +
      `. On a backup host, \`docker logs\` of the backup container shows each run as JSON lines.`,
  );
}

export function list(w: RunbookWriter): void {
  w.p(`## List backups`);
  w.p(`Per source: tier, time, size and whether verification passed. Restores pick from these.`);
  w.code("bash", w.i.sources.map((s) => `${w.useRestorer(s.name)}\n${w.listCommand(s)}`).join("\n\n"));
  if (w.i.replicas.length > 0) {
    w.p(`The same on the replica${w.i.replicas.length > 1 ? "s" : ""} (with credentials that read ${w.i.replicas.length > 1 ? "them" : "it"}):`);
    w.code("bash", w.i.replicas.flatMap((r) => w.i.sources.map((s) => w.replicaCreds(s) + w.listCommand(s, r))).join("\n"));
  }
}

export function verify(w: RunbookWriter): void {
  const i = w.i;
  w.p(`## Verify a backup`);
  w.p(
    `\`verify\` downloads a backup, checks its sha256, decrypts it and, for Postgres, restores it into a scratch ` +
      `database it creates and drops on the server in \`$SCRATCH_URL\` and compares row counts with the manifest; ` +
      `it records the result beside the backups (\`list\` shows it).` +
      (i.verification.enabled
        ? ` The stack runs it on \`${i.verification.schedule}\` for every source.`
        : ` This stack schedules no drill (no \`lifeboat:ageIdentity\`): run it by hand after every restore test.`) +
      (i.sources.some((s) => s.pitr)
        ? ` For a point-in-time source (${i.sources.filter((s) => s.pitr).map((s) => `\`${s.name}\``).join(", ")}) it checks the newest ` +
          `base backup instead: unpacked into a temporary directory and checked with \`pg_verifybackup\` against the ` +
          `\`backup_manifest\` inside it (every file's checksum, and the WAL from the backup's start to its end), and that the ` +
          `WAL chain in the bucket from its start to the newest WAL has no gap (it names the first missing segment); no scratch ` +
          `database. That is an integrity check, not a restore drill: it measures no RTO.`
        : ""),
  );
  w.code("bash", [
    ...(i.sources.some((s) => s.kind === "postgres" && !s.pitr) ? [`export SCRATCH_URL='postgres://postgres@SCRATCH-HOST:5432/postgres'   # may CREATE/DROP databases`] : []),
    ...i.sources.map((s) => [
      w.useRestorer(s.name),
      w.cmd(verifyArgs({
        name: s.name,
        identity: RUNBOOK_VARIABLES.identity,
        ...(s.kind === "postgres" && !s.pitr ? { scratchUrl: RUNBOOK_VARIABLES.scratchUrl } : {}),
        ...bucketDestination(i.primary, i.prefix),
      })),
    ].join("\n")),
  ].join("\n\n"));
}
