import { humanDuration } from "lifeboat-core";
import { LifeboatConfig } from "./validate";

/** One source's recovery objectives next to what its schedule actually gives. */
export interface ObjectiveRow {
  source: string;
  kind: string;
  schedule: string;
  /** Declared recovery point objective. */
  rpo: string;
  /** The worst-case recovery point: the longest gap between backups, or with PITR the WAL flush interval. */
  worstCaseRpo: string;
  /** Declared recovery time objective. */
  rto: string;
  /** Whether the schedule keeps the RPO (config validation refuses configs where it does not). */
  met: boolean;
}

/** Objectives as code: per source, the declared RPO beside the worst case the schedule gives. */
export function objectiveRows(config: LifeboatConfig): ObjectiveRow[] {
  return config.sources.map((s) => ({
    source: s.name,
    kind: s.kind,
    schedule: s.schedule,
    // One format for all three (the config may say 24h where the schedule gives 1d).
    rpo: humanDuration(s.rpoSeconds),
    worstCaseRpo: humanDuration(s.worstCaseRpoSeconds),
    rto: humanDuration(s.rtoSeconds),
    met: s.worstCaseRpoSeconds <= s.rpoSeconds,
  }));
}

/** The rows as an aligned text table. */
export function renderObjectives(rows: ObjectiveRow[]): string {
  const head = ["source", "kind", "schedule (UTC)", "declared RPO", "worst-case RPO", "RTO"];
  const body = rows.map((r) => [r.source, r.kind, r.schedule, r.rpo, r.worstCaseRpo + (r.met ? "" : "  (misses RPO)"), r.rto]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => "  " + cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return ["Objectives:", line(head), ...body.map(line)].join("\n");
}
