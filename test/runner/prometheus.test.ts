/**
 * `status --format prometheus`: the node_exporter textfile format, checked by parsing it with
 * an independent parser of the exposition format (parse-prometheus-text-format).
 */
import { prometheusMetrics } from "../../runner/src/prometheus";
import { SourceHealth } from "../../runner/src/health";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const parse: (text: string) => Array<{ name: string; help: string; type: string; metrics: Array<{ labels?: Record<string, string>; value: string }> }> = require("parse-prometheus-text-format");

const db: SourceHealth = {
  source: "app-db",
  healthy: true,
  problems: [],
  newest: { key: "prod/app-db/daily/x.dump.zst.age", takenAt: "2026-12-01T11:00:00.000Z", finishedAt: "2026-12-01T11:00:42.000Z", ageSeconds: 3600, storedBytes: 5_000_000, rawBytes: 20_000_000, verified: "no" },
  lastVerifiedRestore: { key: "prod/app-db/daily/w.dump.zst.age", checkedAt: "2026-11-29T05:01:30.000Z", durationSeconds: 87.5 },
};
const vol: SourceHealth = { source: "n8n-data", healthy: false, problems: ["no backups found"] };

function sample(text: string, name: string, source: string): number | undefined {
  const fam = parse(text).find((f) => f.name === name);
  const m = fam?.metrics.find((x) => x.labels?.source === source);
  return m ? Number(m.value) : undefined;
}

test("each source's last success, newest recoverable point, bytes, verified restore and its duration, as gauges", () => {
  const text = prometheusMetrics([db, vol]);
  const fams = parse(text);
  for (const f of fams) {
    expect(f.type).toBe("GAUGE");
    expect(f.help.length).toBeGreaterThan(10);
  }
  expect(sample(text, "lifeboat_backup_last_success_timestamp_seconds", "app-db")).toBe(Date.parse("2026-12-01T11:00:42Z") / 1000);
  expect(sample(text, "lifeboat_backup_newest_recoverable_timestamp_seconds", "app-db")).toBe(Date.parse("2026-12-01T11:00:00Z") / 1000);
  expect(sample(text, "lifeboat_backup_stored_bytes", "app-db")).toBe(5_000_000);
  expect(sample(text, "lifeboat_backup_raw_bytes", "app-db")).toBe(20_000_000);
  expect(sample(text, "lifeboat_backup_last_verified_restore_timestamp_seconds", "app-db")).toBe(Date.parse("2026-11-29T05:01:30Z") / 1000);
  expect(sample(text, "lifeboat_backup_restore_duration_seconds", "app-db")).toBe(87.5);
  expect(sample(text, "lifeboat_backup_healthy", "app-db")).toBe(1);
  expect(sample(text, "lifeboat_backup_problems", "app-db")).toBe(0);
  // A source with no backup: healthy 0 and its problem count, no invented timestamps.
  expect(sample(text, "lifeboat_backup_healthy", "n8n-data")).toBe(0);
  expect(sample(text, "lifeboat_backup_problems", "n8n-data")).toBe(1);
  expect(sample(text, "lifeboat_backup_last_success_timestamp_seconds", "n8n-data")).toBeUndefined();
});

test("a point-in-time source's newest recoverable point includes its WAL: later than its newest base backup", () => {
  const pitr: SourceHealth = { ...db, source: "pitr-db", wal: { maxLagSeconds: 300, objects: 2, newest: { file: "000000010000000000000002", capturedAt: "2026-12-01T11:59:30.000Z", ageSeconds: 30 } } };
  const text = prometheusMetrics([db, pitr]);
  expect(sample(text, "lifeboat_backup_newest_recoverable_timestamp_seconds", "pitr-db")).toBe(Date.parse("2026-12-01T11:59:30Z") / 1000);
  expect(sample(text, "lifeboat_backup_wal_newest_timestamp_seconds", "pitr-db")).toBe(Date.parse("2026-12-01T11:59:30Z") / 1000);
  // Without WAL: the backup's own time, and no WAL sample.
  expect(sample(text, "lifeboat_backup_newest_recoverable_timestamp_seconds", "app-db")).toBe(Date.parse("2026-12-01T11:00:00Z") / 1000);
  expect(sample(text, "lifeboat_backup_wal_newest_timestamp_seconds", "app-db")).toBeUndefined();
});

test("label values are escaped as the format requires", () => {
  const text = prometheusMetrics([{ ...vol, source: 'we"ird\\name\nx' }]);
  expect(parse(text).find((f) => f.name === "lifeboat_backup_healthy")!.metrics[0]!.labels!.source).toBe('we"ird\\name\nx');
});
