/**
 * `status --format prometheus`: the health of each source in the Prometheus text exposition
 * format, for node_exporter's textfile collector (write to a `*.prom` file in its directory).
 * Timestamps are gauges in Unix seconds, so alert rules compare them with `time()`.
 */
import { walRecoveryPoint } from "./pitr/walHealth";
import { SourceHealth } from "./health";

interface Gauge {
  name: string;
  help: string;
  value: (s: SourceHealth) => number | undefined;
}

const seconds = (iso: string | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);
const walPoint = (s: SourceHealth) => (s.wal ? walRecoveryPoint(s.wal) : undefined);

/** The later of the newest backup's time and, for point-in-time sources, the newest WAL's capture time. */
function newestRecoverable(s: SourceHealth): number | undefined {
  const points = [seconds(s.newest?.takenAt), seconds(walPoint(s))].filter((v): v is number => v !== undefined);
  return points.length ? Math.max(...points) : undefined;
}

const GAUGES: Gauge[] = [
  { name: "lifeboat_backup_healthy", help: "1 when status finds nothing wrong with the source, else 0", value: (s) => (s.healthy ? 1 : 0) },
  { name: "lifeboat_backup_problems", help: "Number of problems status reports for the source", value: (s) => s.problems.length },
  { name: "lifeboat_backup_last_success_timestamp_seconds", help: "When the newest trusted backup finished (Unix seconds)", value: (s) => seconds(s.newest?.finishedAt ?? s.newest?.takenAt) },
  {
    name: "lifeboat_backup_newest_recoverable_timestamp_seconds",
    help: "The newest point a restore can return to: when the newest trusted backup was taken or, for point-in-time sources, the newest WAL in the bucket was captured, whichever is later (Unix seconds)",
    value: newestRecoverable,
  },
  { name: "lifeboat_backup_wal_newest_timestamp_seconds", help: "Point-in-time sources: the newest point the WAL in the bucket reaches (the sidecar's heartbeat coveredUntil, or the newest WAL object's capture time) (Unix seconds)", value: (s) => seconds(walPoint(s)) },
  { name: "lifeboat_backup_stored_bytes", help: "Bytes stored for the newest trusted backup (compressed and encrypted)", value: (s) => s.newest?.storedBytes },
  { name: "lifeboat_backup_raw_bytes", help: "Bytes the source produced for the newest trusted backup, before compression", value: (s) => s.newest?.rawBytes },
  { name: "lifeboat_backup_last_verified_restore_timestamp_seconds", help: "When the latest passing restore drill (verify) ran (Unix seconds)", value: (s) => seconds(s.lastVerifiedRestore?.checkedAt) },
  { name: "lifeboat_backup_restore_duration_seconds", help: "How long the latest passing restore drill took: the measured restore time (RTO)", value: (s) => s.lastVerifiedRestore?.durationSeconds },
];

/** A label value as the text format requires: backslash, double quote and newline escaped. */
function labelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The metrics text; a source without a value for a gauge (no backup yet) has no sample for it. */
export function prometheusMetrics(sources: SourceHealth[]): string {
  const out: string[] = [];
  for (const g of GAUGES) {
    const samples = sources.flatMap((s) => {
      const v = g.value(s);
      return v === undefined || !Number.isFinite(v) ? [] : [`${g.name}{source="${labelValue(s.source)}"} ${v}`];
    });
    out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`, ...samples);
  }
  return out.join("\n") + "\n";
}
