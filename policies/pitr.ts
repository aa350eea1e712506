/**
 * `lifeboat-pitr-for-short-rpo`: a PostgreSQL source whose declared RPO is under 15 minutes
 * needs point-in-time recovery (continuous WAL streaming), not ever more frequent dumps: a
 * full `pg_dump` every few minutes loads the database and still loses everything since the
 * last one. Judged on `lifeboat:index:ScheduledBackup` inputs `sourceKind` (or `kind`), `rpo`
 * (or `rpoSeconds`) and `pitr` (true when the WAL-streaming sidecar is declared).
 */
import { humanDuration } from "lifeboat-core";
import { Finding, LifeboatPolicy, PolicyResourceInput, T } from "./model";
import { rpoOf, sourceName } from "./schedule";

/** Below this RPO a Postgres source must stream WAL. */
export const PITR_RPO_THRESHOLD_SECONDS = 15 * 60;

export function checkPitr(resources: PolicyResourceInput[]): Finding[] {
  const findings: Finding[] = [];
  for (const r of resources.filter((x) => x.type === T.scheduledBackup)) {
    const kind = r.inputs.sourceKind ?? r.inputs.kind;
    if (kind !== "postgres" || r.inputs.pitr === true) continue;
    const rpo = rpoOf(r);
    if (rpo === undefined || rpo.seconds >= PITR_RPO_THRESHOLD_SECONDS) continue;
    findings.push({
      resource: r.name,
      message:
        `postgres source ${sourceName(r)} declares an RPO of ${rpo.text}, under ${humanDuration(PITR_RPO_THRESHOLD_SECONDS)}: ` +
        `enable point-in-time recovery (pitr: true, WAL streaming) instead of dumping that often`,
    });
  }
  return findings;
}

export const pitrPolicy: LifeboatPolicy = {
  name: "lifeboat-pitr-for-short-rpo",
  description: "A PostgreSQL source with an RPO under 15 minutes streams WAL (point-in-time recovery).",
  scope: "resource",
  check: checkPitr,
};
