/**
 * Restore drills that prove more (#17), end to end through the built runner: a scram-auth
 * PostgreSQL cluster, the strict S3 layer in front of s3rver, and a webhook. A drill also
 * restores an older backup of another tier (reproducibly, by seed), times its stages, fails on a
 * stale or emptied database (freshness) and on a false SQL assertion, and `status --rto` alerts
 * while drills slow down towards the declared RTO, before one crosses it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, keyTimestamp, statusArgs, tierFor, verificationPrefix, verifyArgs, VerifySpec } from "lifeboat-core";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { startPostgres, PgServer } from "../support/postgres";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";

jest.setTimeout(300_000);

const BUCKET = "lifeboat-drills";
const PREFIX = "prod";
const DEST = `s3://${BUCKET}/${PREFIX}`;
const DAY = 86_400_000;

let s3: S3Server;
let hook: Hook;
let pg: PgServer;
let key: AgeKey;
let work: string;

const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "auto", stateFile: join(work, "state.json"), workDir: work });
/** Secrets travel in the environment, as the scheduled jobs pass them. */
const env = (db: string, extra: NodeJS.ProcessEnv = {}) => ({ ...s3.env, LIFEBOAT_SOURCE_URL: pg.appUrl(db), LIFEBOAT_SCRATCH_URL: pg.url("postgres"), ...extra });

/** A database owned by the app role with a `messages` table whose rows were created `ageDays` ago. */
async function database(db: string, rows: number, ageDays: number): Promise<void> {
  await pg.query("postgres", `CREATE DATABASE ${db} OWNER app`);
  await pg.query(db, "SET ROLE app; CREATE TABLE messages (id serial PRIMARY KEY, body text, created_at timestamptz NOT NULL)");
  await pg.query(db, `SET ROLE app; INSERT INTO messages (body, created_at) SELECT 'm' || g, now() - interval '${ageDays} days' - g * interval '1 second' FROM generate_series(1, ${rows}) g`);
}

/** A backup of `db` as source `name`; with `takenAt`, a backup taken then (tier from that date), planted in the store at that time. */
async function backup(name: string, db: string, takenAt?: Date): Promise<{ key: string; tier: string }> {
  const r = await runner(backupArgs({ source: "postgres", name, recipients: [key.recipient], ...dest(), json: true }), env(db, takenAt ? { LIFEBOAT_NOW: takenAt.toISOString() } : {}));
  expect(describeRun(r)).toMatch(/^exit 0/);
  const m = JSON.parse(r.stdout).manifest;
  if (takenAt) {
    const stored = new Date(takenAt.getTime() + 30_000);
    s3.backdate(BUCKET, m.key, stored);
    s3.backdate(BUCKET, m.key + ".manifest.json", stored);
  }
  return { key: m.key, tier: m.tier };
}

async function verify(spec: Omit<VerifySpec, "name"> & { name: string }, db: string, extra: NodeJS.ProcessEnv = {}) {
  hook.received.length = 0;
  const r = await runner(verifyArgs({ identity: key.file, alertWebhook: hook.url, ...dest(), json: true, ...spec }), env(db, extra));
  return { r, out: r.stdout ? JSON.parse(r.stdout) : undefined };
}

async function records(name: string): Promise<any[]> {
  const keys = await s3.keys(BUCKET, verificationPrefix(PREFIX, name));
  return Promise.all(keys.sort().map(async (k) => JSON.parse((await s3.get(BUCKET, k)).toString("utf8"))));
}

/** 03:00 UTC `daysAgo` days back, moved further back until its tier is `tier` (a Sunday for weekly, a 1st for monthly). */
function pastRun(daysAgo: number, tier: "weekly" | "monthly" | "yearly"): Date {
  const t = new Date(Date.now() - daysAgo * DAY);
  t.setUTCHours(3, 0, 0, 0);
  while (tierFor(t) !== tier) t.setTime(t.getTime() - DAY);
  return t;
}

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-drill-e2e-"));
  [s3, hook, pg] = await Promise.all([startS3(), startWebhook(), startPostgres()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), hook?.stop(), pg?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("a drill also restores an older backup of another tier, chosen by a recorded seed, and times each stage", async () => {
  await database("crm", 500, 0);
  const weekly = await backup("crm", "crm", pastRun(8, "weekly"));
  const monthly = await backup("crm", "crm", pastRun(35, "monthly"));
  expect([weekly.tier, monthly.tier]).toEqual(["weekly", "monthly"]);
  const newest = await backup("crm", "crm");

  const { r, out } = await verify({ name: "crm", seed: 7 }, "crm");
  expect(describeRun(r)).toMatch(/^exit 0/);
  expect(out.key).toBe(newest.key);
  expect(out.tier).toBe(newest.tier);
  // Another tier than the newest's whenever one exists: the planted weekly or monthly.
  const planted = [weekly, monthly].filter((b) => b.tier !== newest.tier);
  expect(planted.map((b) => b.key)).toContain(out.older.key);
  expect(out.older).toMatchObject({ ok: true, problems: [], seed: 7, tier: planted.find((b) => b.key === out.older.key)!.tier });
  expect(out.older.rows).toBe(500);
  for (const s of [out.stages, out.older.stages]) {
    const sum = s.downloadSeconds + s.decryptSeconds + s.restoreSeconds + s.checksSeconds;
    expect(s.restoreSeconds).toBeGreaterThan(0);
    expect(Math.abs(sum - (s === out.stages ? out.durationSeconds : out.older.durationSeconds))).toBeLessThan(0.01);
  }
  // The record in the bucket says which backups, which tiers and the stage times.
  const [rec] = await records("crm");
  expect(rec).toMatchObject({ key: newest.key, tier: newest.tier, ok: true, older: { key: out.older.key, tier: out.older.tier, ok: true, seed: 7 } });
  expect(Object.keys(rec.stages).sort()).toEqual(["checksSeconds", "decryptSeconds", "downloadSeconds", "restoreSeconds"]);

  // The same seed repeats the choice; --key verifies exactly one backup.
  const again = await verify({ name: "crm", seed: 7, noRecord: true }, "crm");
  expect(again.out.older.key).toBe(out.older.key);
  const one = await verify({ name: "crm", key: weekly.key, noRecord: true }, "crm");
  expect(describeRun(one.r)).toMatch(/^exit 0/);
  expect(one.out.older).toBeUndefined();
});

test("freshness: a backup of a stale database, or of an emptied one, fails the drill and alerts; a fresh one passes", async () => {
  const fresh = { freshnessColumn: "public.messages.created_at", freshnessWithin: "1d", noOlder: true };
  const ok = await verify({ name: "crm", ...fresh, noRecord: true }, "crm");
  expect(describeRun(ok.r)).toMatch(/^exit 0/);
  expect(ok.out.freshness).toMatchObject({ column: "public.messages.created_at", withinSeconds: 86_400, ok: true });

  await database("inbox", 200, 3);
  await backup("inbox", "inbox");
  const stale = await verify({ name: "inbox", ...fresh }, "inbox");
  expect(stale.r.code).toBe(1);
  expect(stale.out.problems).toEqual([expect.stringMatching(/freshness: newest public\.messages\.created_at is .*, 3d\b.* before the backup was taken .*more than 1d: a stale database was backed up/)]);
  expect(JSON.parse(hook.received.find((h) => h.body.includes("FAILED"))!.body).text).toMatch(/verification of inbox backup .* FAILED: .*freshness/);
  expect((await records("inbox"))[0]).toMatchObject({ ok: false, freshness: { ok: false, column: "public.messages.created_at" } });

  await pg.query("inbox", "DELETE FROM messages");
  await backup("inbox", "inbox");
  // Through the environment, as a job passes it.
  const emptied = await verify({ name: "inbox", noOlder: true }, "inbox", { LIFEBOAT_FRESHNESS_COLUMN: "public.messages.created_at", LIFEBOAT_FRESHNESS_WITHIN: "1d" });
  expect(emptied.r.code).toBe(1);
  expect(emptied.out.problems).toEqual([expect.stringMatching(/freshness: public\.messages\.created_at has no value in the restored database/)]);

  const bad = await verify({ name: "inbox", freshnessColumn: "messages.created_at", freshnessWithin: "1d" }, "inbox");
  expect(bad.r.code).toBe(2);
  expect(bad.r.stderr).toMatch(/--freshness-column: must be schema\.table\.column/);
});

test("a false SQL assertion fails the drill, named; assertions run read-only in the scratch database", async () => {
  const { r, out } = await verify(
    { name: "crm", noOlder: true, assertions: [{ name: "has messages", sql: "SELECT count(*) > 0 FROM messages" }, { name: "enough messages", sql: "SELECT count(*) >= 1000 FROM messages" }] },
    "crm",
    { LIFEBOAT_ASSERTIONS: JSON.stringify([{ name: "read only", sql: "DELETE FROM messages RETURNING true" }]) },
  );
  expect(r.code).toBe(1);
  expect(out.assertions).toEqual([{ name: "has messages", ok: true }, { name: "enough messages", ok: false }, { name: "read only", ok: false }]);
  expect(out.problems).toEqual([
    expect.stringMatching(/assertion "enough messages" returned false$/),
    expect.stringMatching(/assertion "read only" failed: .*read-only transaction/),
  ]);
  expect(JSON.parse(hook.received.find((h) => h.body.includes("FAILED"))!.body).text).toMatch(/assertion "enough messages" returned false/);
});

test("an assertion slower than --assert-timeout fails the drill naming it and the bound, in seconds rather than at --run-timeout", async () => {
  await database("slowcheck", 20, 0);
  await backup("slowcheck", "slowcheck");
  const started = Date.now();
  const { r, out } = await verify(
    {
      name: "slowcheck",
      noOlder: true,
      assertTimeout: "2s",
      assertions: [{ name: "sleeps", sql: "SELECT pg_sleep(60) IS NOT NULL" }, { name: "has messages", sql: "SELECT count(*) > 0 FROM messages" }],
    },
    "slowcheck",
  );
  const seconds = (Date.now() - started) / 1000;
  expect(describeRun(r)).toMatch(/^exit 1/);
  // The sleeping query was canceled at its bound; the next assertion still ran.
  expect(seconds).toBeLessThan(40);
  expect(out.assertions).toEqual([{ name: "sleeps", ok: false }, { name: "has messages", ok: true }]);
  expect(out.problems).toEqual([expect.stringMatching(/assertion "sleeps" did not finish within --assert-timeout 2s \(its statement_timeout canceled it\)$/)]);

  const bad = await verify({ name: "slowcheck", noOlder: true, assertTimeout: "30d", assertions: [{ name: "x", sql: "SELECT true" }] }, "slowcheck");
  expect(bad.r.code).toBe(2);
  expect(bad.r.stderr).toMatch(/--assert-timeout: must be at most 24d/);
});

test("drill history: status --rto alerts when drills trend towards the RTO, before any drill crossed it", async () => {
  await database("leads", 300, 0);
  const b = await backup("leads", "leads");
  // Four weekly drills that took 10, 20, 30 and 40 minutes, as recorded by earlier runs.
  for (const [i, minutes] of [10, 20, 30, 40].entries()) {
    const at = new Date(Date.now() - (4 - i) * 7 * DAY);
    const rec = { version: 1, key: b.key, source: "leads", ok: true, checkedAt: at.toISOString(), durationSeconds: minutes * 60, problems: [] };
    await s3.put(BUCKET, `${verificationPrefix(PREFIX, "leads")}${keyTimestamp(at)}-${"0".repeat(11)}${i}.json`, Buffer.from(JSON.stringify(rec)));
  }
  const status = async () => {
    hook.received.length = 0;
    const r = await runner(statusArgs({ name: "leads", maxAge: "1h", minSize: "1", rto: "55m", ...dest(), alertWebhook: hook.url, json: true }), s3.env);
    return { r, report: JSON.parse(r.stdout) };
  };
  // With the planted history alone the newest drill (40m) is under 80% of 55m and the trend not yet over it.
  const before = await status();
  expect(describeRun(before.r)).toMatch(/^exit 0/);
  expect(before.report.sources[0].rtoTrend).toMatchObject({ rtoSeconds: 3300, recentSeconds: [600, 1200, 1800, 2400] });

  // A real drill, seconds long: the trend of the last five (10m, 20m, 30m, 40m, then a fast one) still forecasts 1h.
  const d = await verify({ name: "leads", rto: "55m" }, "leads");
  expect(describeRun(d.r)).toMatch(/^exit 0/);
  expect(d.out.rtoSeconds).toBe(3300);
  expect((await records("leads")).pop()).toMatchObject({ ok: true, rtoSeconds: 3300 });

  const after = await status();
  expect(after.r.code).toBe(1);
  const s = after.report.sources[0];
  expect(s.rtoTrend.recentSeconds).toHaveLength(5);
  expect(s.rtoTrend.forecastSeconds).toBeGreaterThan(3300);
  expect(s.problems).toEqual([expect.stringMatching(/^RTO at risk: restore drills are getting slower .*more than the declared RTO 55m/)]);
  expect(JSON.parse(hook.received[0]!.body).text).toMatch(/leads: RTO at risk: restore drills are getting slower/);
});
