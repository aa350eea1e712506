/**
 * The restore side of point-in-time recovery end to end: WAL fetched on demand through
 * restore_command (`lifeboat-runner wal-fetch`), timelines after a promote-and-continue, and the
 * choice of base backup. A PostgreSQL 15 cluster (scram, 1 MB WAL segments, commit timestamps),
 * `wal-stream` sidecars shipping to s3rver (behind the strict S3 layer), restored clusters
 * started with `pg_ctl` as the postgres user.
 *
 * 1. A far-away base backup and a near target: the restore downloads no WAL, and the server
 *    fetches only the segments up to the target plus the prefetch window (GETs counted at the
 *    S3 layer), not the dozens written after it; the rows are exactly those committed by then.
 * 2. A WAL object with a flipped byte: the server's recovery stops (pg_ctl start fails) and its log
 *    names the object and the sha256 mismatch; no row past it is served as if WAL ended there.
 * 3. Promote and continue: restore to T1 and promote (timeline 2), stream from the new primary
 *    while the old one writes on timeline 1; then --at latest (newest base on timeline 2, not a
 *    newer one of timeline 1 taken after the fork), a time on timeline 2, and a time on timeline 1
 *    after the fork (which must not follow timeline 2) each hold exactly their rows; --base picks
 *    a base backup explicitly (an unknown one is refused naming the available ones); no recovery
 *    setting or fetcher credential survives recovery, nor reaches a later base backup.
 */
import { ChildProcess, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { basebackupArgs, restoreArgs, walStreamArgs } from "lifeboat-core";
import { startPostgres, PgServer, pgUrl, SUPER_PASSWORD } from "../support/postgres";
import { startS3, S3Server } from "../support/s3";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { waitFor } from "../support/ports";
import { killGroup } from "../support/procs";
import { RestoredServers, spawnSidecar } from "../support/pitr";

jest.setTimeout(400_000);

const BUCKET = "lifeboat-pitr-restore";
const PREFIX = "prod";
const NAME = "app-db";
const FLUSH_SECONDS = 2;
const REPL = { user: "lifeboat_repl", password: "repl-s3cret-7c1" };

let pg: PgServer;
let s3: S3Server;
let key: AgeKey;
let work: string;
const sidecars: ChildProcess[] = [];
const restored = new RestoredServers(() => work);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dest = () => ({ dest: `s3://${BUCKET}/${PREFIX}`, endpoint: s3.endpoint, region: "us-east-1", workDir: work });

function startSidecar(replicationUrl: string, spool: string): ChildProcess {
  const args = walStreamArgs({ name: NAME, recipients: [key.recipient], flushInterval: `${FLUSH_SECONDS}s`, maxLag: "60s", spoolDir: spool, statusIntervalSeconds: 1, ...dest() });
  const child = spawnSidecar(args, { ...s3.env, LIFEBOAT_SOURCE_URL: replicationUrl, LIFEBOAT_STATE_FILE: join(spool, "..", `state-${sidecars.length}.json`) });
  sidecars.push(child);
  return child;
}

async function slotActive(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(`SELECT active FROM pg_replication_slots WHERE slot_name = 'lifeboat_app_db'`);
    return r.rows[0]?.active === true;
  } finally {
    await c.end();
  }
}

/** One row per transaction, ~10 ms apart, into `url` until stopped. */
function startWriter(url: string): { stop(): Promise<void> } {
  let on = true;
  const done = (async () => {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      while (on) {
        await c.query("INSERT INTO ticks (payload) VALUES (repeat(md5(random()::text), 60))");
        await sleep(10);
      }
    } finally {
      await c.end();
    }
  })();
  return {
    stop: async () => {
      on = false;
      await done;
    },
  };
}

async function basebackup(replicationUrl: string): Promise<string> {
  const b = await runner(basebackupArgs({ name: NAME, recipients: [key.recipient], fastCheckpoint: true, json: true, ...dest() }), { ...s3.env, LIFEBOAT_SOURCE_URL: replicationUrl });
  expect({ code: b.code, out: describeRun(b) }).toMatchObject({ code: 0 });
  return JSON.parse(b.stdout).manifest.key;
}

async function restore(dir: string, sel: { at?: string; timeline?: number | "latest" | "current"; base?: string; allowPartialTarget?: boolean }) {
  const r = await runner(restoreArgs({ name: NAME, ...sel, targetDir: dir, identity: key.file, json: true, ...dest() }), { ...s3.env });
  expect({ code: r.code, out: describeRun(r) }).toMatchObject({ code: 0 });
  return JSON.parse(r.stdout);
}

/** pg_ctl start as the postgres user, as the source ran; resolves once recovery ended and the server was promoted. */
const startRestored = (dir: string) => restored.start(dir, { fsync: "off", track_commit_timestamp: "on" });

const ids = async (c: Client | PgServer, where = "true"): Promise<number[]> => {
  const sql = `SELECT id FROM ticks WHERE ${where} ORDER BY id`;
  const rows = c instanceof Client ? (await c.query<{ id: string }>(sql)).rows : await c.query<{ id: string }>("app", sql);
  return rows.map((r) => Number(r.id));
};
const committedBy = (t: string) => `pg_xact_commit_timestamp(xmin) <= '${t}'`;

/** GETs of WAL objects (not manifests) the S3 layer saw since `from`. */
function walGets(from: number): string[] {
  return s3.requests
    .slice(from)
    .filter((r) => r.method === "GET" && r.url.includes(`/${NAME}/wal/`) && !r.url.includes(".manifest.json") && !r.url.includes("list-type") && !r.url.includes("prefix="))
    .map((r) => r.url);
}

const autoConfSettings = (text: string) => text.split("\n").filter((l) => /^\s*(recovery_target\w*|restore_command|recovery_end_command)\s*=/.test(l));

beforeAll(async () => {
  requireBuiltRunner();
  s3 = await startS3();
  await s3.createBucket(BUCKET);
  pg = await startPostgres({ replication: REPL, walSegSizeMB: 1, settings: { track_commit_timestamp: "on" } });
  key = ageKey();
  work = mkdtempSync(join(tmpdir(), "lifeboat-pitr-restore-"));
  chmodSync(work, 0o755); // the postgres user runs the restored clusters under it
  await pg.query("postgres", "CREATE DATABASE app");
  await pg.query("app", "CREATE TABLE ticks (id bigserial PRIMARY KEY, payload text NOT NULL)");
  await pg.query("app", "CREATE TABLE bulk (x text)");
});

afterAll(async () => {
  for (const s of sidecars) await killGroup(s);
  restored.stopAll();
  await pg?.stop();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

let baseKey = "";
let nearTarget = "";
let walSegmentsInBucket = 0;

test("a far-away base and a near target: only the WAL up to the target (plus the prefetch window) is downloaded, on demand", async () => {
  const side = startSidecar(pg.replicationUrl!("app"), join(work, "spool-1"));
  await waitFor("the sidecar's slot", () => slotActive(pg.url("postgres")), 30_000);
  const writer = startWriter(pg.url("app"));
  baseKey = await basebackup(pg.replicationUrl!("app"));
  await sleep(2500);
  nearTarget = new Date().toISOString();
  await sleep(1000);
  // Then a lot of WAL after the target: ~40 segments of 1 MB.
  for (let i = 0; i < 8; i++) await pg.query("app", "INSERT INTO bulk SELECT md5(random()::text) || repeat('x', 200) FROM generate_series(1, 20000)");
  await pg.query("app", "SELECT pg_switch_wal()");
  await sleep((FLUSH_SECONDS + 3) * 1000);
  await writer.stop();
  await waitFor("the WAL written after the target in the bucket, with no segment still on its way", async () => {
    const segs = [...new Set((await s3.keys(BUCKET, `${PREFIX}/${NAME}/wal/`)).map((k) => /\/([0-9A-F]{24})\.[^/]*\.zst\.age$/.exec(k)?.[1]).filter((x): x is string => !!x))];
    const nums = segs.map((f) => parseInt(f.slice(8, 16), 16) * 256 + parseInt(f.slice(16), 16)).sort((a, b) => a - b);
    walSegmentsInBucket = nums.length;
    return nums.length >= 30 && nums[nums.length - 1]! - nums[0]! === nums.length - 1; // 1 MB segments: 256 per log file
  }, 180_000);
  void side;

  const before = s3.requests.length;
  const dir = join(work, "near");
  const res = await restore(dir, { at: nearTarget });
  expect(res).toMatchObject({ ok: true, base: baseKey, timeline: "1", walGap: null, recoveryPoint: "wal" });
  expect(res.walFiles).toBeGreaterThanOrEqual(30); // available...
  expect(walGets(before)).toEqual([]); // ...but the restore itself downloads none
  // The fetcher's credentials are 0600 and not in postgresql.auto.conf.
  const conf = readFileSync(join(dir, "postgresql.auto.conf"), "utf8");
  expect(conf).toMatch(/^restore_command = 'if \[ -f .* wal-fetch --dir lifeboat_restore "%f" "%p"; fi'$/m);
  expect(conf).not.toContain("S3RVER");
  expect(readFileSync(join(dir, "lifeboat_restore", "fetch.json"), "utf8")).toContain("S3RVER");
  for (const f of ["fetch.json", "identity.txt"]) expect(spawnSync("stat", ["-c", "%a", join(dir, "lifeboat_restore", f)], { encoding: "utf8" }).stdout.trim()).toBe("600");

  const want = await ids(pg, committedBy(nearTarget));
  const s = await startRestored(dir);
  try {
    expect(await ids(s.client)).toEqual(want);
    expect(want.length).toBeGreaterThan(50);
    expect(Number((await s.client.query("SELECT count(*) AS n FROM bulk")).rows[0].n)).toBe(0); // all of it came after the target
  } finally {
    await s.client.end();
    restored.stop(dir);
  }
  const fetched = walGets(before);
  const serverLog = readFileSync(s.log, "utf8");
  const served = serverLog.split("\n").filter((l) => l.startsWith("lifeboat wal-fetch: ")).length;
  // eslint-disable-next-line no-console
  console.log(`near target: ${fetched.length} WAL object(s) downloaded of ${walSegmentsInBucket} in the bucket; ${served} served to PostgreSQL`);
  expect(served).toBeGreaterThan(0);
  expect(fetched.length).toBeLessThanOrEqual(served + 8 + 1); // what replay asked for, the prefetch window, a history probe
  expect(fetched.length).toBeLessThan(walSegmentsInBucket / 2);
  // Recovery ended: no recovery setting and no fetcher directory (credentials, identity) left.
  expect(autoConfSettings(readFileSync(join(dir, "postgresql.auto.conf"), "utf8"))).toEqual([]);
  expect(existsSync(join(dir, "lifeboat_restore"))).toBe(false);

  // A target after the newest WAL: with --allow-partial-target, replayed to the end with a warning
  // (refused without it: pitr.e2e.test.ts); a bad --timeline is refused naming the flag.
  const future = new Date(Date.now() + 3600_000).toISOString();
  const partialDir = join(work, "partial-target");
  const partial = await restore(partialDir, { at: future, allowPartialTarget: true });
  expect(partial.warnings).toEqual([expect.stringMatching(/is after the newest WAL of app-db .*--allow-partial-target replays all of it; the recovery point is the newest WAL/)]);
  expect(readFileSync(join(partialDir, "postgresql.auto.conf"), "utf8")).not.toMatch(/^recovery_target_time\s*=/m);
  rmSync(partialDir, { recursive: true, force: true });
  const bad = await runner([...restoreArgs({ name: NAME, targetDir: join(work, "bad-tli"), identity: key.file, ...dest() }), "--timeline", "two"], { ...s3.env });
  expect({ code: bad.code, err: bad.stderr }).toMatchObject({ code: 2, err: expect.stringContaining('--timeline: must be a timeline number (1, 2, ...), "latest" or "current"; got "two"') });
  expect(existsSync(join(work, "bad-tli"))).toBe(false);
});

test("a corrupted WAL object stops recovery loudly, naming the object", async () => {
  const probe = join(work, "corrupt-probe");
  const res = await restore(probe, { at: nearTarget });
  const cfg = JSON.parse(readFileSync(join(probe, "lifeboat_restore", "fetch.json"), "utf8"));
  rmSync(probe, { recursive: true, force: true });
  // The segment after the start: replay to the target needs it.
  const startSeg: string = res.startWal;
  const next = Object.keys(cfg.files).filter((f) => /^[0-9A-F]{24}$/.test(f) && f.slice(0, 8) === startSeg.slice(0, 8) && f > startSeg).sort()[0]!;
  const victim: string = cfg.files[next].key;
  const original = await s3.get(BUCKET, victim);
  try {
    const bad = Buffer.from(original);
    bad[Math.floor(bad.length / 2)]! ^= 0x01;
    s3.rot(BUCKET, victim, bad);
    const dir = join(work, "corrupt");
    await restore(dir, { at: nearTarget });
    const failed = await startRestored(dir).then(
      () => "started",
      (e: Error) => e.message,
    );
    expect(failed).toMatch(/^pg_ctl start failed/);
    const log = failed; // the message carries the server log
    expect(log).toContain(`lifeboat wal-fetch FAILED (recovery stops here; exit 255): ${victim}: `);
    expect(log).toMatch(/stored bytes do not match the manifest/);
    expect(log).not.toMatch(/database system is ready to accept connections/);
  } finally {
    s3.rot(BUCKET, victim, original);
  }
});

test("promote and continue: restores to times on both timelines and --at latest pick base and timeline right; nothing of the restore survives into later base backups", async () => {
  const tl1Spool = join(work, "spool-1");
  // T1 on timeline 1, then TOLD: the old primary keeps writing on timeline 1 after T1 (the fork point).
  const oldWriter = startWriter(pg.url("app"));
  await sleep(2000);
  const T1 = new Date().toISOString();
  await sleep(2500);
  const TOLD = new Date().toISOString();
  await sleep((FLUSH_SECONDS + 2) * 1000);

  // Restore to T1 and promote: timeline 2 forks at T1's position.
  const r1Dir = join(work, "r1");
  const r1Res = await restore(r1Dir, { at: T1 });
  expect(r1Res.timeline).toBe("1");
  const r1 = await startRestored(r1Dir);
  expect(Number((await r1.client.query("SELECT timeline_id FROM pg_control_checkpoint()")).rows[0].timeline_id)).toBe(2);
  expect(await ids(r1.client)).toEqual(await ids(pg, committedBy(T1)));
  // Recovery removed its settings and the fetcher's directory (credentials, identity).
  expect(autoConfSettings(readFileSync(join(r1Dir, "postgresql.auto.conf"), "utf8"))).toEqual([]);
  expect(existsSync(join(r1Dir, "lifeboat_restore"))).toBe(false);

  // The new primary streams to the same source; it writes on timeline 2 while the old one goes on.
  const r1Repl = pgUrl(r1.port, REPL.user, REPL.password, "app");
  startSidecar(r1Repl, join(work, "spool-2"));
  await waitFor("the new primary's slot", () => slotActive(pgUrl(r1.port, "postgres", SUPER_PASSWORD, "postgres")), 60_000);
  const newWriter = startWriter(pgUrl(r1.port, "postgres", SUPER_PASSWORD, "app"));
  await sleep(3000);
  const TNEW = new Date().toISOString();
  await sleep(2000);
  const b2 = await basebackup(r1Repl); // timeline 2
  await sleep(1000);
  const b1After = await basebackup(pg.replicationUrl!("app")); // timeline 1, after the fork: the newest base backup
  await sleep(2000);
  await newWriter.stop();
  await oldWriter.stop();
  await pg.query("app", "SELECT pg_switch_wal()");
  await r1.client.query("SELECT pg_switch_wal()");
  await sleep((FLUSH_SECONDS + 3) * 1000);
  await waitFor("timeline 2's history file in the bucket", async () => (await s3.keys(BUCKET, `${PREFIX}/${NAME}/wal/00000002.history`)).length > 0, 30_000);
  void tl1Spool;

  // A later base backup of the restored server carries no recovery setting.
  const tarConf = decodeMember(await s3.get(BUCKET, b2), "postgresql.auto.conf");
  expect(autoConfSettings(tarConf)).toEqual([]);
  expect(tarConf).not.toContain("lifeboat-restore");

  // --at latest: the newest base backup on timeline 2 (not b1After), recovery_target_timeline latest, every row of the new primary.
  const latestDir = join(work, "latest");
  const latest = await restore(latestDir, { at: "latest" });
  expect(latest).toMatchObject({ base: b2, timeline: "latest", walGap: null });
  expect(latest.base).not.toBe(b1After);
  const newRows = await ids(r1.client);
  const l = await startRestored(latestDir);
  try {
    expect(await ids(l.client)).toEqual(newRows);
  } finally {
    await l.client.end();
    restored.stop(latestDir);
  }

  // A time on timeline 2: exactly the new primary's rows committed by then.
  const newDir = join(work, "at-new");
  const atNew = await restore(newDir, { at: TNEW });
  expect(atNew.timeline).toBe("2");
  expect(atNew.base).not.toBe(b1After);
  const wantNew = (await r1.client.query<{ id: string }>(`SELECT id FROM ticks WHERE ${committedBy(TNEW)} ORDER BY id`)).rows.map((r) => Number(r.id));
  const n = await startRestored(newDir);
  try {
    expect(await ids(n.client)).toEqual(wantNew);
    expect(wantNew.length).toBeGreaterThan(newRows.length / 4);
  } finally {
    await n.client.end();
    restored.stop(newDir);
  }

  // A time on timeline 1 after the fork: the old primary's rows then, not timeline 2's.
  const oldDir = join(work, "at-old");
  const atOld = await restore(oldDir, { at: TOLD });
  expect(atOld).toMatchObject({ base: baseKey, timeline: "1" });
  const wantOld = await ids(pg, committedBy(TOLD));
  expect(wantOld.length).toBeGreaterThan((await ids(pg, committedBy(T1))).length + 20); // the old timeline went on after the fork
  const o = await startRestored(oldDir);
  try {
    expect(await ids(o.client)).toEqual(wantOld);
  } finally {
    await o.client.end();
    restored.stop(oldDir);
  }

  // --base: an explicit base backup; an unknown one is refused naming the ones there are.
  const explicit = await restore(join(work, "explicit"), { at: "latest", base: baseKey.split("/").pop()!.replace(/-[0-9a-f]+\.base\.tar\.zst\.age$/, "") , timeline: 1 });
  expect(explicit).toMatchObject({ base: baseKey, timeline: "1" });
  const unknown = await runner(restoreArgs({ name: NAME, base: "20200101T000000.000Z", targetDir: join(work, "unknown"), identity: key.file, ...dest() }), { ...s3.env });
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain("--base 20200101T000000.000Z: no such base backup of app-db; the base backups are:");
  expect(unknown.stderr).toContain(b2);
  expect(existsSync(join(work, "unknown"))).toBe(false);
  await r1.client.end();
  restored.stop(r1Dir);
});

/** One file's text out of a stored (zstd + age) tar. */
function decodeMember(stored: Buffer, member: string): string {
  const r = spawnSync("sh", ["-c", `age --decrypt -i '${key.file}' | zstd -d -q -c - | tar -xO -f - '${member}'`], { input: stored, maxBuffer: 1 << 30, encoding: "buffer" });
  if (r.status !== 0) throw new Error(`decoding ${member} failed: ${r.stderr}`);
  return r.stdout.toString("utf8");
}
