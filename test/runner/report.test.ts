/**
 * The status page's pure parts: what runner/src/report/model.ts makes of status's evaluation and
 * the kept manifests, and what runner/src/report/html.ts renders, including text from the
 * bucket that tries to be markup.
 */
import fc from "fast-check";
import { BackupEntry } from "../../runner/src/catalog";
import { evaluateSource, HealthLimits, ReadBackup, SourceHealth } from "../../runner/src/health";
import { Manifest, Verification } from "../../runner/src/manifest";
import { buildReport } from "../../runner/src/report/model";
import { esc, renderHtml } from "../../runner/src/report/html";
import { pageKey } from "../../runner/src/commands/report";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const HOUR = 3600_000;
const LIMITS: HealthLimits = { maxAge: 26 * 3600, shrink: 0.5, maxTableShrink: 0.5 };

function backup(source: string, hoursAgo: number, tables: Record<string, number>, rawBytes = 10 << 20): ReadBackup {
  const t = new Date(NOW - hoursAgo * HOUR);
  const key = `prod/${source}/daily/${t.toISOString().replace(/[-:]/g, "")}-abababababab.dump.zst.age`;
  const entry: BackupEntry = { key, manifestKey: key + ".manifest.json", parts: { source, tier: "daily", time: t } as BackupEntry["parts"], size: 5 << 20, storedAt: t, flags: [] };
  const manifest = {
    version: 1, source, kind: "postgres", tier: "daily", key, startedAt: t.toISOString(), finishedAt: t.toISOString(),
    rawBytes, storedBytes: 5 << 20, sha256: "0".repeat(64), compression: { tool: "zstd", level: 3 },
    encryption: { tool: "age", recipientFingerprints: ["x"] }, tools: {},
    postgres: { serverVersion: "15", database: "app", tables: Object.entries(tables).map(([table, rows]) => ({ table, rows })) },
  } as Manifest;
  return { entry, manifest };
}

function passed(of: ReadBackup, hoursAgo: number, durationSeconds: number): Verification {
  return { version: 1, key: of.entry.key, source: of.manifest.source, ok: true, checkedAt: new Date(NOW - hoursAgo * HOUR).toISOString(), durationSeconds, problems: [] };
}

/** A healthy source with three kept backups (rows growing) and a drill that took `drillSeconds`. */
function healthySource(source: string, drillSeconds = 90) {
  const kept = [backup(source, 49, { orders: 1000 }), backup(source, 25, { orders: 1100 }), backup(source, 1, { orders: 1200 })];
  const health = evaluateSource(source, kept[2]!, kept[1]!, new Map([[kept[1]!.entry.key, passed(kept[1]!, 20, drillSeconds)]]), LIMITS, NOW);
  return { health, history: kept.map((k) => k.manifest), kind: "postgres" };
}

test("a healthy source: the summary says so, and the page shows its age against the RPO, its drill against the RTO, and a point per kept backup", () => {
  const src = healthySource("app-db");
  expect(src.health.healthy).toBe(true);
  const r = buildReport({ now: NOW, destination: "s3://b/prod", rpoSeconds: LIMITS.maxAge, rtoSeconds: 4 * 3600, sources: [src] });
  expect(r).toMatchObject({ healthy: true, problemCount: 0 });
  expect(r.sources[0]).toMatchObject({ newest: { withinRpo: true }, restore: { durationSeconds: 90, withinRto: true } });
  expect(r.sources[0]!.trend.map((p) => p.rows)).toEqual([1000, 1100, 1200]);
  const html = renderHtml(r);
  expect(html).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
  expect(html).toContain("<title>Backup status: all healthy</title>");
  expect(html).toContain("All 1 source healthy");
  expect(html).toContain("1h ago");
  expect(html).toContain("Within the recovery point objective (RPO) of 1d 2h");
  expect(html).toContain("the restore took 1m 30s, within the declared recovery time objective (RTO) of 4h");
  // Two charts (size and rows), three points each.
  expect(html.match(/<svg class="trend"/g)).toHaveLength(2);
  expect(html.match(/<circle class="point"/g)).toHaveLength(6);
  // The rows chart (the second): left to right in time, higher as the rows grow, the newest at the top.
  const rows = [...html.split('<svg class="trend"')[2]!.matchAll(/<circle class="point" cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  expect(rows.map(([cx]) => cx)).toEqual([...rows.map(([cx]) => cx)].sort((a, b) => a - b));
  expect(rows[0]![1]).toBeGreaterThan(rows[1]![1]!);
  expect(rows[1]![1]).toBeGreaterThan(rows[2]![1]!);
  expect(rows[2]![1]).toBe(12);
  // Self-contained: nothing is fetched or run.
  expect(html).not.toMatch(/<script|<link|<img|src=|href=|@import|url\(/i);
});

test("problems are counted and listed in words, a restore slower than the declared RTO among them", () => {
  const slow = healthySource("app-db", 5 * 3600);
  const missing: SourceHealth = { source: "n8n-data", healthy: false, problems: ["no backups found"] };
  const r = buildReport({ now: NOW, destination: "s3://b/prod", rpoSeconds: LIMITS.maxAge, rtoSeconds: 4 * 3600, sources: [slow, { health: missing, history: [] }] });
  expect(r.healthy).toBe(false);
  expect(r.problemCount).toBe(2);
  expect(r.sources[0]!.problems).toEqual([expect.stringMatching(/^restore too slow: the latest passing drill .* took 5h, more than the declared RTO 4h$/)]);
  const html = renderHtml(r);
  expect(html).toContain("<title>Backup status: 2 problems</title>");
  expect(html).toContain("2 problems in 2 of 2 sources: see below.");
  expect(html).toContain("<li>no backups found</li>");
  expect(html).toContain("none: there is no backup to restore.");
  expect(html).toContain("never: no restore drill has passed yet");
  // The verdict is a word, not only a colour.
  expect(html).toMatch(/<span class="verdict bad">1 problem<\/span>/);
});

test("no source at all is a problem, not 'all healthy'", () => {
  const r = buildReport({ now: NOW, destination: "s3://b/prod", rpoSeconds: 3600, sources: [] });
  expect(r).toMatchObject({ healthy: false, problemCount: 1 });
  expect(renderHtml(r)).toContain("Problem: no backups found at all.");
});

test("WAL lag of a PITR source is shown from what the bucket holds: the sidecar's coveredUntil, else the newest WAL", () => {
  const src = healthySource("app-db");
  const at = (ms: number) => new Date(NOW - ms).toISOString();
  const wal = { maxLagSeconds: 300, objects: 3, newest: { file: "000000010000000000000003", capturedAt: at(95_000), ageSeconds: 95 } };
  const r = buildReport({ now: NOW, destination: "s3://b/prod", rpoSeconds: LIMITS.maxAge, sources: [{ ...src, health: { ...src.health, wal } }] });
  expect(r.sources[0]!.wal).toEqual({ newestAt: at(95_000), lagSeconds: 95 });
  expect(renderHtml(r)).toContain("the WAL in the bucket reaches 1m 35s ago");
  const heartbeat = { ...wal, sidecar: { at: at(20_000), ageSeconds: 20, streaming: true, coveredUntil: at(21_000) } };
  const live = buildReport({ now: NOW, destination: "s3://b/prod", rpoSeconds: LIMITS.maxAge, sources: [{ ...src, health: { ...src.health, wal: heartbeat } }] });
  expect(live.sources[0]!.wal).toEqual({ newestAt: at(21_000), lagSeconds: 21 });
});

test("a hostile source name and table name from the bucket are shown as text, never as markup", () => {
  const evil = "<script>alert(1)</script>";
  const table = `public."<img src=x onerror=alert(2)>"`;
  const prev = backup("app-db", 25, { [table]: 5000, orders: 10 });
  const newest = backup("app-db", 1, { orders: 10 });
  const health = { ...evaluateSource("app-db", newest, prev, new Map(), LIMITS, NOW), source: evil };
  expect(health.problems.join(" ")).toContain(table);
  const html = renderHtml(buildReport({ now: NOW, destination: "s3://b/prod", rpoSeconds: LIMITS.maxAge, sources: [{ health, history: [prev.manifest, newest.manifest] }] }));
  expect(html).not.toContain("<script");
  expect(html).not.toContain("<img");
  expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  expect(html).toContain(esc(`${table} vanished (had 5000 rows)`));
});

test("whatever text the bucket holds, the page's markup is the same: every tag is ours", () => {
  const page = (text: string) => {
    const health: SourceHealth = { source: text, healthy: false, problems: [text], warnings: [text] };
    return renderHtml(buildReport({ now: NOW, destination: text, rpoSeconds: 3600, sources: [{ health, history: [], kind: text }] }));
  };
  const tags = (html: string) => html.match(/<[^>]*>/g)!.map((t) => t.replace(/"[^"]*"/g, '""'));
  const plain = tags(page("x"));
  // Markup characters often, and any other text too.
  const text = fc.oneof(fc.string({ unit: fc.constantFrom("<", ">", "&", '"', "'", "/", "=", " ", "a", "script", "svg"), minLength: 1 }), fc.string({ unit: "binary", minLength: 1 }));
  fc.assert(fc.property(text, (t) => expect(tags(page(t))).toEqual(plain)), { numRuns: 100 });
});

test("the bucket copy's key: create-only and never repeated, under the verifier's own prefix", () => {
  const at = new Date("2026-12-01T12:00:00.123Z");
  expect(pageKey("prod", "app-db", at, "a1b2c3d4e5f6")).toBe("prod/_verifications/app-db/status/20261201T120000.123Z-a1b2c3d4e5f6.html");
  expect(pageKey("", undefined, at, "a1b2c3d4e5f6")).toBe("_verifications/_all/status/20261201T120000.123Z-a1b2c3d4e5f6.html");
});
