/**
 * What the status page shows, as a pure function of what `status` already judged (each
 * source's {@link SourceHealth} from health.ts, its WAL state included) and the manifests of
 * the kept backups. No I/O here: commands/report.ts gathers, html.ts renders.
 */
import { walRecoveryPoint } from "../pitr/walHealth";
import { humanDuration } from "lifeboat-core";
import { SourceHealth } from "../health";
import { Manifest } from "../manifest";

/** One kept backup, as the trend charts plot it. */
export interface TrendPoint {
  takenAt: string;
  storedBytes: number;
  rawBytes: number;
  /** Postgres: the sum of the manifest's exact per-table row counts. */
  rows?: number;
}

export interface SourceReport {
  source: string;
  healthy: boolean;
  /** Every open problem in words: status's own, then the report's (a restore slower than the declared RTO). */
  problems: string[];
  warnings: string[];
  kind?: string;
  /** The RPO the newest backup is judged against (status's --max-age). */
  rpoSeconds: number;
  newest?: { takenAt: string; ageSeconds: number; storedBytes: number; withinRpo: boolean };
  /** The declared RTO, when one was given. */
  rtoSeconds?: number;
  /** The latest restore drill that passed, and whether its measured time meets the declared RTO. */
  restore?: { checkedAt: string; ageSeconds: number; durationSeconds: number; withinRto?: boolean };
  /** Oldest first. */
  trend: TrendPoint[];
  /** PITR sources: the newest WAL in the bucket and how far it is behind now. */
  /** Point-in-time sources: the newest point the WAL in the bucket reaches, and how long ago that is. */
  wal?: { newestAt: string; lagSeconds: number };
}

export interface StatusReport {
  generatedAt: string;
  destination: string;
  healthy: boolean;
  /** Open problems over every source (a source without any backup counts as one). */
  problemCount: number;
  sources: SourceReport[];
}

export interface SourceInput {
  health: SourceHealth;
  /** Manifests of the kept backups to plot, any order. */
  history: Manifest[];
  kind?: string;
}

export interface ReportInput {
  now: number;
  destination: string;
  rpoSeconds: number;
  rtoSeconds?: number;
  sources: SourceInput[];
}

function trendPoint(m: Manifest): TrendPoint {
  const tables = m.postgres?.tables;
  return { takenAt: m.startedAt, storedBytes: m.storedBytes, rawBytes: m.rawBytes, ...(tables ? { rows: tables.reduce((n, t) => n + t.rows, 0) } : {}) };
}

function sourceReport(input: SourceInput, now: number, rpoSeconds: number, rtoSeconds: number | undefined): SourceReport {
  const h = input.health;
  const problems = [...h.problems];
  const r = h.lastVerifiedRestore;
  const withinRto = r && rtoSeconds !== undefined ? r.durationSeconds <= rtoSeconds : undefined;
  // status does not know the declared RTO; a drill that passed but took longer than it is still a recovery that would miss its objective.
  if (r && withinRto === false) problems.push(`restore too slow: the latest passing drill (${r.checkedAt}) took ${humanDuration(r.durationSeconds)}, more than the declared RTO ${humanDuration(rtoSeconds!)}`);
  const trend = input.history.map(trendPoint).sort((a, b) => Date.parse(a.takenAt) - Date.parse(b.takenAt));
  const walAt = h.wal ? walRecoveryPoint(h.wal) : undefined;
  return {
    source: h.source,
    healthy: problems.length === 0,
    problems,
    warnings: [...(h.warnings ?? [])],
    ...(input.kind ? { kind: input.kind } : {}),
    rpoSeconds,
    ...(h.newest ? { newest: { takenAt: h.newest.takenAt, ageSeconds: h.newest.ageSeconds, storedBytes: h.newest.storedBytes, withinRpo: h.newest.ageSeconds <= rpoSeconds } } : {}),
    ...(rtoSeconds !== undefined ? { rtoSeconds } : {}),
    ...(r ? { restore: { checkedAt: r.checkedAt, ageSeconds: (now - Date.parse(r.checkedAt)) / 1000, durationSeconds: r.durationSeconds, ...(withinRto !== undefined ? { withinRto } : {}) } } : {}),
    trend,
    ...(walAt ? { wal: { newestAt: walAt, lagSeconds: (now - Date.parse(walAt)) / 1000 } } : {}),
  };
}

export function buildReport(input: ReportInput): StatusReport {
  const sources = input.sources.map((s) => sourceReport(s, input.now, input.rpoSeconds, input.rtoSeconds));
  // No source at all is not "all healthy": nothing is being backed up.
  const problemCount = sources.reduce((n, s) => n + s.problems.length, 0) + (sources.length === 0 ? 1 : 0);
  return { generatedAt: new Date(input.now).toISOString(), destination: input.destination, healthy: problemCount === 0, problemCount, sources };
}
