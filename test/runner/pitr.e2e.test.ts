/**
 * Point-in-time recovery end to end: a PostgreSQL 15 cluster with wal_level=replica, 1 MB WAL
 * segments and a scram-authenticated replication user; `wal-stream` as a long-running child
 * process (flush interval 2 s) shipping WAL to s3rver; `basebackup` streamed into the tier
 * layout; a writer committing a row every ~10 ms (commit times from track_commit_timestamp);
 * restores with `pg_ctl start` as the postgres user on other ports.
 *
 * 1. WAL objects and the base backup are age-encrypted; the sidecar's argv/env hold no identity.
 * 2. restore --at T1 holds exactly the rows whose commit time is <= T1 (none from (T1, T2]).
 * 3. kill -9 of the sidecar (its whole process group, as a container kill) in the middle of a
 *    segment and a restart lose nothing: ids stay contiguous across the restart.
 * 4. Host loss (writer stops, sidecar killed with its spool): restore --at latest loses at most
 *    the flush interval of commits (measured and printed).
 * 5. Restart, stop the source, SIGTERM the sidecar: it flushes and exits 0, and restore --at
 *    latest has every committed row.
 * 6. verify on a base backup: sha256, decrypt, unpack into the work dir, pg_verifybackup against
 *    the backup_manifest inside the tar (file checksums, WAL from start to end); --at latest
 *    picks the base backup over a newer pg_dump backup and the WAL objects. A flipped byte in
 *    the stored object and a damaged file inside a re-encrypted (sha256-consistent) backup are
 *    both detected and named, exit 1, with a failed verification record.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { backupArgs, basebackupArgs, listArgs, restoreArgs, statusArgs, verifyArgs, walStreamArgs } from "lifeboat-core";
import { startPostgres, PgServer, postgresIds } from "../support/postgres";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { waitFor } from "../support/ports";
import { pgBin } from "../support/tools";
import { exec } from "../support/exec";
import { stockPitrScript } from "../../components/runbook/stockTools";
import { killGroup, childrenOf } from "../support/procs";
import { RestoredServers, spawnSidecar } from "../support/pitr";

jest.setTimeout(240_000);

const BUCKET = "lifeboat-pitr";
const PREFIX = "prod";
const NAME = "app-db";
const FLUSH_SECONDS = 2;
const HEARTBEAT_SECONDS = 2;
const REPL = { user: "lifeboat_repl", password: "repl-s3cret-9f2" };
const AGE_HEADER = "age-encryption.org/v1\n";

let pg: PgServer;
let s3: S3Server;
let hook: Hook;
let key: AgeKey;
let work: string;
let spool: string;
let sidecar: ChildProcess | undefined;
let sidecarLog = "";
const restored = new RestoredServers(() => work);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stateFile = () => join(work, "state", "runner-state.json");
const dest = () => ({ dest: `s3://${BUCKET}/${PREFIX}`, endpoint: s3.endpoint, region: "us-east-1", workDir: work });

function startSidecar(): ChildProcess {
  const args = walStreamArgs({ name: NAME, recipients: [key.recipient], flushInterval: `${FLUSH_SECONDS}s`, maxLag: "30s", heartbeatInterval: `${HEARTBEAT_SECONDS}s`, spoolDir: spool, statusIntervalSeconds: 1, ...dest() });
  const env = { ...s3.env, LIFEBOAT_SOURCE_URL: pg.replicationUrl!("app"), LIFEBOAT_ALERT_WEBHOOK: hook.url, LIFEBOAT_PING_URL: `${hook.url}/ping`, LIFEBOAT_STATE_FILE: stateFile() };
  sidecar = spawnSidecar(args, env, (text) => (sidecarLog = (sidecarLog + text).slice(-20000)));
  return sidecar;
}

async function slotActive(): Promise<boolean> {
  const r = await pg.query<{ active: boolean }>("postgres", `SELECT active FROM pg_replication_slots WHERE slot_name = 'lifeboat_app_db'`);
  return r[0]?.active === true;
}

/** WAL object keys (not manifests) under wal/. */
async function walKeys(): Promise<string[]> {
  return (await s3.keys(BUCKET, `${PREFIX}/${NAME}/wal/`)).filter((k) => !k.endsWith(".manifest.json") && !k.includes("/wal/heartbeat/"));
}

async function walManifests(): Promise<Array<{ file: string; partial: boolean; capturedAt: string }>> {
  const ks = (await s3.keys(BUCKET, `${PREFIX}/${NAME}/wal/`)).filter((k) => k.endsWith(".manifest.json"));
  return Promise.all(ks.map(async (k) => JSON.parse((await s3.get(BUCKET, k)).toString("utf8"))));
}

// The writer: one row per transaction, as fast as ~10 ms apart.
let writing = false;
let writer: Promise<void> | undefined;
const committed: number[] = [];
function startWriter(): void {
  writing = true;
  writer = (async () => {
    const c = new Client({ connectionString: pg.url("app") });
    await c.connect();
    try {
      while (writing) {
        const r = await c.query<{ id: string }>("INSERT INTO ticks (payload) VALUES (repeat(md5(random()::text), 60)) RETURNING id");
        committed.push(Number(r.rows[0]!.id));
        await sleep(10);
      }
    } finally {
      await c.end();
    }
  })();
}
async function stopWriter(): Promise<number> {
  writing = false;
  await writer;
  return committed[committed.length - 1]!;
}

async function restore(at: string, dir: string) {
  const r = await runner(restoreArgs({ name: NAME, at, targetDir: dir, identity: key.file, json: true, ...dest() }), { ...s3.env });
  expect({ code: r.code, out: describeRun(r) }).toMatchObject({ code: 0 });
  return JSON.parse(r.stdout);
}

/** Starts a restored data directory; its client, once recovery ended and it was promoted. */
async function startRestored(dir: string): Promise<Client> {
  return (await restored.start(dir)).client;
}

async function restoredIds(c: Client): Promise<number[]> {
  return (await c.query<{ id: string }>("SELECT id FROM ticks ORDER BY id")).rows.map((r) => Number(r.id));
}

function expectContiguous(ids: number[]): void {
  expect(ids.length).toBeGreaterThan(0);
  expect(ids[0]).toBe(1);
  expect(ids[ids.length - 1]).toBe(ids.length); // one writer, no rollbacks: any gap is lost WAL
}

beforeAll(async () => {
  requireBuiltRunner();
  s3 = await startS3();
  await s3.createBucket(BUCKET);
  hook = await startWebhook();
  pg = await startPostgres({ replication: REPL, walSegSizeMB: 1, settings: { track_commit_timestamp: "on" } });
  key = ageKey();
  work = mkdtempSync(join(tmpdir(), "lifeboat-pitr-"));
  chmodSync(work, 0o755); // the postgres user runs the restored clusters under it
  spool = join(work, "spool");
  await pg.query("postgres", "CREATE DATABASE app");
  await pg.query("app", "CREATE TABLE ticks (id bigserial PRIMARY KEY, payload text NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp())");
});

afterAll(async () => {
  writing = false;
  await writer?.catch(() => undefined);
  if (sidecar) await killGroup(sidecar);
  restored.stopAll();
  await pg?.stop();
  await s3?.stop();
  await hook?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

let baseKey = "";
let T1: Date;
let T2: Date;
let lastBeforeDisaster = 0;
let markAfterRestart = 0;

test("wal-stream ships encrypted segments and partials; basebackup streams a tar into the tier layout; the sidecar holds no identity", async () => {
  const child = startSidecar();
  await waitFor("the sidecar's replication slot to be active", slotActive, 30_000);
  startWriter();
  const b = await runner(basebackupArgs({ name: NAME, recipients: [key.recipient], fastCheckpoint: true, json: true, ...dest() }), { ...s3.env, LIFEBOAT_SOURCE_URL: pg.replicationUrl!("app") });
  expect({ code: b.code, out: describeRun(b) }).toMatchObject({ code: 0 });
  const m = JSON.parse(b.stdout).manifest;
  baseKey = m.key;
  expect(m.key).toMatch(new RegExp(`^${PREFIX}/${NAME}/(daily|weekly|monthly|yearly)/\\d{8}T\\d{6}\\.\\d{3}Z-[0-9a-f]+\\.base\\.tar\\.zst\\.age$`));
  expect(m).toMatchObject({ kind: "pg-basebackup", basebackup: { timeline: 1, walMethod: "fetch" } });
  expect(m.basebackup.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  expect(b.stdout + b.stderr).not.toContain(REPL.password);

  // Completed segments and partials arrive, each with a manifest.
  await waitFor("two completed WAL segments and a partial in the bucket", async () => {
    const ms = await walManifests();
    return ms.filter((x) => !x.partial).length >= 2 && ms.some((x) => x.partial);
  }, 60_000);
  const keys = await walKeys();
  for (const k of keys) expect(k).toMatch(new RegExp(`^${PREFIX}/${NAME}/wal/([0-9A-F]{24}(\\.partial)?|[0-9A-F]{8}\\.history)\\.\\d{8}T\\d{6}\\.\\d{3}Z-[0-9a-f]+\\.zst\\.age$`));
  for (const k of [...keys, baseKey]) expect((await s3.get(BUCKET, k)).subarray(0, AGE_HEADER.length).toString("latin1")).toBe(AGE_HEADER);

  // The sidecar process and its pg_receivewal: recipients only, no identity anywhere in argv/env.
  const identity = readFileSync(key.file, "utf8").match(/AGE-SECRET-KEY-1[0-9A-Z]+/)![0];
  const procs = [child.pid!, ...childrenOf(child.pid!)];
  expect(procs.length).toBeGreaterThanOrEqual(2);
  for (const pid of procs) {
    const text = readFileSync(`/proc/${pid}/environ`, "utf8") + "\n" + readFileSync(`/proc/${pid}/cmdline`, "utf8");
    expect(text).not.toContain("AGE-SECRET-KEY");
    expect(text).not.toContain(identity);
    expect(text).not.toContain(key.file);
    expect(text).not.toContain("LIFEBOAT_AGE_IDENTITY_FILE");
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.toContain(REPL.password);
  }
  expect(readFileSync(`/proc/${child.pid}/cmdline`, "utf8")).toContain(key.recipient);
});

test("restore --at T1 holds exactly the rows committed by T1", async () => {
  // T1 after the base backup finished, T2 a few seconds later, WAL shipped beyond both.
  await sleep(2500);
  T1 = new Date();
  await sleep(3000);
  T2 = new Date();
  await sleep((FLUSH_SECONDS + 2) * 1000);
  const dir = join(work, "at-t1");
  const res = await restore(T1.toISOString(), dir);
  expect(res).toMatchObject({ ok: true, base: baseKey, recoveryTarget: T1.toISOString().replace("Z", "000Z"), walGap: null, recoveryPoint: "wal", warnings: [] });
  expect(res.walFiles).toBeGreaterThan(0);
  expect(readFileSync(join(dir, "postgresql.auto.conf"), "utf8")).toContain(`recovery_target_time = '${T1.toISOString().replace("T", " ").replace("Z", "000+00:00")}'`);
  expect(existsSync(join(dir, "recovery.signal"))).toBe(true);

  const byT1 = (await pg.query<{ id: string }>("app", `SELECT id FROM ticks WHERE pg_xact_commit_timestamp(xmin) <= '${T1.toISOString()}' ORDER BY id`)).map((r) => Number(r.id));
  const t1t2 = await pg.query<{ n: string }>("app", `SELECT count(*) AS n FROM ticks WHERE pg_xact_commit_timestamp(xmin) > '${T1.toISOString()}' AND pg_xact_commit_timestamp(xmin) <= '${T2.toISOString()}'`);
  expect(Number(t1t2[0]!.n)).toBeGreaterThan(50);
  const c = await startRestored(dir);
  try {
    const ids = await restoredIds(c);
    expect(ids.length).toBeGreaterThan(50);
    expect(ids).toEqual(byT1);
    // No recovery target is left behind to be carried into this server's later base backups.
    const auto = readFileSync(join(dir, "postgresql.auto.conf"), "utf8");
    expect(auto).not.toMatch(/^\s*(recovery_target\w*|restore_command|recovery_end_command)\s*=/m);
  } finally {
    await c.end();
    restored.stop(dir);
  }
});

test("the runbook's stock PITR script, run as printed, restores --at T1 with stock tools alone; a WAL object that fails its sha256 stops it", async () => {
  const script = (targetDir: string) =>
    stockPitrScript({ endpoint: s3.endpoint, region: "us-east-1", bucket: BUCKET, prefix: PREFIX, source: NAME, identity: key.file, at: T1.toISOString(), targetDir });
  const runStock = (targetDir: string) => exec("bash", ["-c", script(targetDir)], { cwd: mkdtempSync(join(work, "stock-")), env: { PATH: process.env.PATH, HOME: process.env.HOME, ...s3.env } });
  // A completed segment the T1 restore needs, bit-rotted in the store: the script refuses it by its manifest's sha256.
  const objs = (await walKeys()).filter((k) => /\/[0-9A-F]{24}\.\d{8}T/.test(k)).sort();
  const victim = objs[objs.length - 1]!;
  const original = await s3.get(BUCKET, victim);
  const flipped = Buffer.from(original);
  flipped[flipped.length - 20] ^= 0x01;
  s3.rot(BUCKET, victim, flipped);
  try {
    const bad = await runStock(join(work, "stock-rot", "data"));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`sha256 mismatch: wal/${victim.split("/").pop()}`);
  } finally {
    s3.rot(BUCKET, victim, original);
  }

  const dir = join(work, "stock-t1", "data"); // parents do not exist yet
  const r = await runStock(dir);
  expect({ code: r.code, out: describeRun(r) }).toMatchObject({ code: 0 });
  expect(r.stderr).toMatch(/\d+ WAL segment\(s\) of timeline 00000001 from [0-9A-F]{24}/);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  const ids = postgresIds();
  if (ids.uid !== undefined) expect(statSync(dir).uid).toBe(ids.uid);
  const byT1 = (await pg.query<{ id: string }>("app", `SELECT id FROM ticks WHERE pg_xact_commit_timestamp(xmin) <= '${T1.toISOString()}' ORDER BY id`)).map((x) => Number(x.id));
  const c = await startRestored(dir);
  try {
    expect(await restoredIds(c)).toEqual(byT1);
    expect(readFileSync(join(dir, "postgresql.auto.conf"), "utf8")).not.toMatch(/^\s*(recovery_target\w*|restore_command|recovery_end_command)\s*=/m);
  } finally {
    await c.end();
    restored.stop(dir);
  }
});

test("restore --at a DDL's exact commit time (microseconds) holds it; a zoneless or a future --at is refused before anything is created", async () => {
  // A DDL whose commit time has microseconds that milliseconds cannot express.
  let exact = "";
  for (let i = 0; !exact; i++) {
    await pg.query("app", `CREATE TABLE exact_ddl_${i} (x int)`);
    const r = await pg.query<{ t: string }>("app", `SELECT to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t FROM pg_class WHERE relname = 'exact_ddl_${i}'`);
    if (!/000Z$/.test(r[0]!.t)) exact = `${r[0]!.t}|exact_ddl_${i}`;
  }
  const [at, table] = exact.split("|") as [string, string];
  await sleep((FLUSH_SECONDS + 2) * 1000); // the writer commits on after it; WAL shipped beyond
  const dir = join(work, "at-exact");
  const res = await restore(at, dir);
  expect(res.recoveryTarget).toBe(at);
  expect(readFileSync(join(dir, "postgresql.auto.conf"), "utf8")).toContain(`recovery_target_time = '${at.replace("T", " ").replace("Z", "+00:00")}'`);
  const c = await startRestored(dir);
  try {
    const r = await c.query("SELECT to_regclass($1) IS NOT NULL AS present", [table]);
    expect(r.rows[0].present).toBe(true);
  } finally {
    await c.end();
    restored.stop(dir);
  }

  let refusedCount = 0;
  const refused = async (atText: string) => {
    const d = join(work, `refused-${refusedCount++}`);
    const r = await runner(restoreArgs({ name: NAME, at: atText, targetDir: d, identity: key.file, ...dest() }), { ...s3.env });
    expect(existsSync(d)).toBe(false);
    return r;
  };
  const zoneless = await refused(at.replace("Z", ""));
  expect(zoneless.code).toBe(2);
  expect(zoneless.stderr).toMatch(/--at "[^"]+" has no time zone: add Z \(UTC\) or an offset/);
  const future = await refused(new Date(Date.now() + 3600_000).toISOString());
  expect(future.code).toBe(2);
  expect(future.stderr).toMatch(/--at \S+ is after the newest WAL of app-db in the bucket on timeline 1 \(captured [^)]+\): PostgreSQL would stop[^\n]*or --allow-partial-target to replay all WAL there is/);
});

test("restore of a base backup with no WAL past it warns loudly (text and --json) that the recovery point is the base backup's end", async () => {
  const other = "nowal-db"; // base backups, but no wal-stream (as on a replica without wal/)
  const b = await runner(basebackupArgs({ name: other, recipients: [key.recipient], fastCheckpoint: true, json: true, ...dest() }), { ...s3.env, LIFEBOAT_SOURCE_URL: pg.replicationUrl!("app") });
  expect({ code: b.code, out: describeRun(b) }).toMatchObject({ code: 0 });
  const finishedAt = JSON.parse(b.stdout).manifest.finishedAt;
  const json = await runner(restoreArgs({ name: other, at: "latest", targetDir: join(work, "nowal-json"), identity: key.file, json: true, ...dest() }), { ...s3.env });
  expect({ code: json.code, out: describeRun(json) }).toMatchObject({ code: 0 });
  const res = JSON.parse(json.stdout);
  expect(res).toMatchObject({ ok: true, walFiles: 0, recoveryPoint: "base-backup-end" });
  expect(res.warnings).toEqual([expect.stringContaining(`no WAL of ${other} past the end of base backup ${res.base}`)]);
  expect(res.warnings[0]).toContain(`the recovery point is the base backup's end (${finishedAt})`);
  const text = await runner(restoreArgs({ name: other, at: "latest", targetDir: join(work, "nowal-text"), identity: key.file, ...dest() }), { ...s3.env });
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/restore ok: nowal-db[^\n]*\n.*\n {2}WARNING: no WAL of nowal-db past the end of base backup/);
  // It still starts: the base backup alone is consistent (its WAL is inside the tar).
  const c = await startRestored(join(work, "nowal-json"));
  try {
    expect((await c.query("SELECT count(*)::int AS n FROM ticks")).rows[0].n).toBeGreaterThan(0);
  } finally {
    await c.end();
    restored.stop(join(work, "nowal-json"));
  }
});

async function verify(sel: { at?: string; key?: string }) {
  const r = await runner(verifyArgs({ name: NAME, ...sel, identity: key.file, json: true, ...dest() }), { ...s3.env });
  let out: any;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    out = undefined;
  }
  return { code: r.code, out, run: r };
}

/** Verification records written for `objectKey`, oldest first. */
async function verificationRecords(objectKey: string): Promise<Array<{ key: string; ok: boolean; problems: string[] }>> {
  const ks = (await s3.keys(BUCKET, `${PREFIX}/_verifications/${NAME}/`)).filter((k) => k.endsWith(".json"));
  const recs = await Promise.all(ks.map(async (k) => JSON.parse((await s3.get(BUCKET, k)).toString("utf8"))));
  return recs.filter((r) => r.key === objectKey);
}

test("verify --at latest picks the base backup (not a newer pg_dump backup, not WAL) and passes pg_verifybackup", async () => {
  // A pg_dump backup of the same source, newer than the base backup; WAL objects keep arriving too.
  const d = await runner(backupArgs({ source: "postgres", name: NAME, recipients: [key.recipient], json: true, ...dest() }), { ...s3.env, LIFEBOAT_SOURCE_URL: pg.url("app") });
  expect({ code: d.code, out: describeRun(d) }).toMatchObject({ code: 0 });
  const dumpKey = JSON.parse(d.stdout).manifest.key;
  expect(dumpKey).toMatch(/\.dump\.zst\.age$/);
  expect((await walKeys()).length).toBeGreaterThan(0);

  const v = await verify({ at: "latest" });
  expect({ code: v.code, out: describeRun(v.run) }).toMatchObject({ code: 0 });
  expect(v.out).toMatchObject({ ok: true, key: baseKey, problems: [], verifiedWith: "pg_verifybackup" });
  expect(v.out.files).toBeGreaterThan(100);
  expect(v.out.fileBytes).toBeGreaterThan(1_000_000);
  expect(v.out.wal).toMatch(/^parsed/);
  expect(v.out.walChain).toMatch(/^[0-9A-F]{24} \.\. [0-9A-F]{24}(\.partial)?: contiguous/);
  const text = await runner(verifyArgs({ name: NAME, at: "latest", identity: key.file, noRecord: true, ...dest() }), { ...s3.env });
  expect(text.stdout).toMatch(/integrity check: pg_verifybackup and the WAL chain, not a restore: no RTO measured/);
  expect(text.stdout).not.toMatch(/RTO drill/);
  expect(await verificationRecords(baseKey)).toEqual([expect.objectContaining({ ok: true, problems: [] })]);
  // The temp directory under the work dir is gone.
  expect(readdirSync(work).filter((f) => f.startsWith("lifeboat-verify-"))).toEqual([]);
});

test("kill -9 of the sidecar in the middle of a segment and a restart lose nothing", async () => {
  const child = sidecar!;
  const partial = () => readdirSync(spool).find((f) => f.endsWith(".partial"));
  await waitFor("a partial segment with data in the spool", () => {
    const p = partial();
    return !!p && readFileSync(join(spool, p)).subarray(0, 8192).some((x) => x !== 0);
  });
  const receivers = childrenOf(child.pid!);
  await killGroup(child);
  for (const pid of receivers) await waitFor(`pg_receivewal ${pid} to exit with the group`, () => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "));
  expect(partial()).toBeDefined(); // killed mid-segment
  await sleep(3000); // the writer keeps committing while the sidecar is down; the slot keeps the WAL
  startSidecar();
  await waitFor("the restarted sidecar's slot to be active", slotActive, 30_000);
  await sleep((FLUSH_SECONDS + 2) * 1000);
  markAfterRestart = committed[committed.length - 1]!;
  expect(sidecarLog).toMatch(/starting log streaming/);
});

/** pg_receivewal processes (not zombies) streaming into the test's spool. */
function receiversOnSpool(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (argv.some((a) => a.endsWith("pg_receivewal")) && argv.includes(spool) && !readFileSync(`/proc/${d}/stat`, "utf8").includes(") Z ")) out.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return out;
}

async function statusLocal() {
  const r = await runner(statusArgs({ name: NAME, local: true, json: true, stateFile: stateFile() }), {});
  return { code: r.code, out: JSON.parse(r.stdout || "{}"), text: describeRun(r) };
}

test("kill -9 of the sidecar process alone: pg_receivewal dies with it; a stale receiver is stopped on restart; heartbeat, status --local and ping", async () => {
  await waitFor("the sidecar's slot to be active", slotActive, 30_000);
  // Streaming: the heartbeat says so, status --local is healthy, the success ping came.
  await waitFor("a healthy status --local", async () => (await statusLocal()).code === 0, 30_000);
  const healthy = await statusLocal();
  expect(healthy.out.sources).toEqual([expect.objectContaining({ source: NAME, healthy: true, problems: [] })]);
  await waitFor("a success ping", () => hook.received.some((h) => h.path === "/ping"), 30_000);
  expect(hook.received.some((h) => h.path === "/ping/start")).toBe(true);

  // SIGKILL to the node process only (not its group): nothing can stop pg_receivewal but the kernel.
  const child = sidecar!;
  expect(receiversOnSpool().length).toBe(1);
  const closed = new Promise<void>((r) => child.once("close", () => r()));
  process.kill(child.pid!, "SIGKILL");
  await closed;
  await waitFor("pg_receivewal to die with its parent", () => receiversOnSpool().length === 0, 2000); // at once (the kernel), not at its next write to a closed pipe
  await waitFor("the slot to be released", async () => !(await slotActive()), 10_000);

  // A receiver left by an older sidecar (no parent-death guard) holds the slot: the restart stops it.
  const orphan = spawn(pgBin("pg_receivewal"), ["--directory", spool, "--slot", "lifeboat_app_db", "--dbname", pg.replicationUrl!("app"), "--no-password"], { detached: true, stdio: "ignore" });
  orphan.unref();
  await waitFor("the orphan receiver to hold the slot", slotActive, 30_000);
  sidecarLog = "";
  startSidecar();
  await waitFor("the restarted sidecar to stream", () => /starting log streaming/.test(sidecarLog), 30_000);
  expect(sidecarLog).toMatch(new RegExp(`stopped a stale pg_receivewal \\(pid ${orphan.pid}\\)`));
  expect(receiversOnSpool().filter((p) => p === orphan.pid)).toEqual([]);
  await waitFor("a healthy status --local after the restart", async () => (await statusLocal()).code === 0, 30_000);
});

/** Remote status (from the bucket only) of the PITR source, with a WAL lag bound short enough for a test. */
async function statusRemote() {
  const r = await runner(statusArgs({ name: NAME, maxWalLag: "3s", alertWebhook: hook.url, ...dest() }), { ...s3.env });
  return { code: r.code, text: r.stdout };
}

test("status (remote) and list show the live sidecar's WAL: newest, lag, streaming, timeline 1, no gap", async () => {
  await waitFor("a WAL line with a heartbeat", async () => /sidecar streaming/.test((await statusRemote()).text), 30_000);
  const st = await statusRemote();
  expect(st.text).toMatch(/WAL: newest [0-9A-F]{24}(\.partial)? captured \S+ \(\d+s ago\), lag \d+s \(max 3s\), sidecar streaming, heartbeat \d+s ago, timeline 1, no gap/);
  expect(st.text).not.toMatch(/wal-stream stopped|WAL gap|WAL lag/);
  const l = await runner(listArgs({ name: NAME, json: true, ...dest() }), { ...s3.env });
  const listed = JSON.parse(l.stdout);
  expect(listed.wal).toEqual([expect.objectContaining({ source: NAME, timeline: 1, baseTimeline: 1, problems: [], sidecar: expect.objectContaining({ streaming: true }) })]);
  expect(listed.wal[0].gap).toBeUndefined();
});

test("host loss: with the writer stopped and the sidecar killed, restore --at latest loses at most the flush interval", async () => {
  await sleep(3000);
  lastBeforeDisaster = await stopWriter();
  await killGroup(sidecar!); // the sidecar dies with the host; what is in the bucket is all there is
  const dir = join(work, "latest-disaster");
  const res = await restore("latest", dir);
  expect(res).toMatchObject({ ok: true, recoveryTarget: "latest", walGap: null });
  expect(res.walFiles).toBeGreaterThan(2);
  const c = await startRestored(dir);
  let maxId = 0;
  try {
    const ids = await restoredIds(c);
    expectContiguous(ids); // across the kill -9 and restart: no gap
    maxId = ids[ids.length - 1]!;
  } finally {
    await c.end();
    restored.stop(dir);
  }
  expect(maxId).toBeGreaterThanOrEqual(markAfterRestart);
  const [loss] = await pg.query<{ s: string; n: string }>(
    "app",
    `SELECT extract(epoch FROM (SELECT pg_xact_commit_timestamp(xmin) FROM ticks WHERE id = ${lastBeforeDisaster}) - (SELECT pg_xact_commit_timestamp(xmin) FROM ticks WHERE id = ${maxId}))::text AS s,
            (SELECT count(*) FROM ticks WHERE id > ${maxId})::text AS n`,
  );
  const lossSeconds = Number(loss!.s);
  // eslint-disable-next-line no-console
  console.log(`PITR measured loss on host loss: ${lossSeconds.toFixed(3)} s of commits (${loss!.n} of ${lastBeforeDisaster} rows), flush interval ${FLUSH_SECONDS} s`);
  writeFileSync(join(tmpdir(), "lifeboat-pitr-rpo.txt"), `${lossSeconds}\n${loss!.n}\n${lastBeforeDisaster}\n`);
  expect(lossSeconds).toBeLessThanOrEqual(FLUSH_SECONDS + 1); // flush interval plus one partial upload
});

test("after the host loss, status (remote) and list name the dead sidecar in words and status alerts", async () => {
  // Heartbeat every 2 s, flush 2 s, --max-wal-lag 3 s: stopped after 7 s without a heartbeat.
  const alertsBefore = hook.received.length;
  // Waited for by its words, not the exit code: this source's newest backup (a small dump, above)
  // already fails status for its size.
  await waitFor("status to see the dead sidecar", async () => /wal-stream stopped/.test((await statusRemote()).text), 30_000);
  const st = await statusRemote();
  expect(st.text).toMatch(new RegExp(`FAIL ${NAME}`));
  expect(st.text).toMatch(/wal-stream stopped: its last heartbeat in the bucket is \d+s old \(one is put every 2s\): the sidecar, its host or its path to the bucket is down/);
  expect(hook.received.slice(alertsBefore).some((h) => /wal-stream stopped/.test(h.body))).toBe(true);
  // list judges by the sidecar's own --max-lag (30s) from its last heartbeat: later, but it comes.
  const listed = async () => (await runner(listArgs({ name: NAME, ...dest() }), { ...s3.env })).stdout;
  await waitFor("list to name the dead sidecar", async () => /PROBLEM: wal-stream stopped/.test(await listed()), 60_000);
  expect(await listed()).toMatch(new RegExp(`${NAME} +WAL: newest .*\\n  PROBLEM: wal-stream stopped: its last heartbeat in the bucket is \\d+s old`));
});

test("restart with the spool, stop the source, SIGTERM: the sidecar flushes and restore --at latest has every row", async () => {
  const child = startSidecar();
  await waitFor("the restarted sidecar's slot to be active", slotActive, 30_000);
  const lastTick = (await pg.query<{ id: string }>("app", "SELECT max(id) AS id FROM ticks"))[0]!.id;
  expect(Number(lastTick)).toBe(lastBeforeDisaster);
  await pg.stop(); // fast shutdown: the walsender sends everything, then the sidecar's pg_receivewal loses the server
  await sleep(1000);
  const exited = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
  process.kill(child.pid!, "SIGTERM");
  const code = await Promise.race([exited, sleep(30_000).then(() => "timeout" as const)]);
  expect({ code, log: code === 0 ? "" : sidecarLog.slice(-4000) }).toEqual({ code: 0, log: "" });
  expect(sidecarLog).toMatch(/spool flushed/);
  expect(readdirSync(spool).filter((f) => /^[0-9A-F]{24}$/.test(f))).toEqual([]); // every completed segment left the spool
  const dir = join(work, "latest-final");
  const res = await restore("latest", dir);
  expect(res).toMatchObject({ ok: true, walGap: null });
  const c = await startRestored(dir);
  try {
    const ids = await restoredIds(c);
    expectContiguous(ids);
    expect(ids.length).toBe(lastBeforeDisaster);
  } finally {
    await c.end();
    restored.stop(dir);
  }
  expect(hook.received.filter((h) => /behind/.test(h.body))).toEqual([]);
  expect(statSync(spool).isDirectory()).toBe(true);
});

test("a WAL segment missing from the bucket: verify names the first gap from the base's start, status shows it in text", async () => {
  const ms = (await s3.keys(BUCKET, `${PREFIX}/${NAME}/wal/`)).filter((k) => /\/[0-9A-F]{24}\.[^/]+\.manifest\.json$/.test(k)).sort();
  const files = [...new Set(ms.map((k) => k.split("/").pop()!.slice(0, 24)))].sort();
  const victim = files[files.length - 2]!; // after the base's start, before the newest WAL
  const removed = ms.filter((k) => k.split("/").pop()!.startsWith(victim + "."));
  const saved = await Promise.all(removed.map(async (k) => [k, await s3.get(BUCKET, k)] as const));
  for (const k of removed) await s3.remove(BUCKET, k); // the object without its manifest does not count
  try {
    const v = await verify({ key: baseKey });
    expect(v.code).toBe(1);
    expect(v.out.problems).toEqual([expect.stringMatching(new RegExp(`WAL chain broken: ${victim} is missing \\(first of 1 missing segment\\(s\\)`))]);
    const st = await statusRemote();
    expect(st.text).toMatch(new RegExp(`GAP at ${victim} \\(1 missing\\)`));
    expect(st.text).toMatch(new RegExp(`WAL gap: ${victim} is missing`));
  } finally {
    for (const [k, body] of saved) await s3.put(BUCKET, k, body);
  }
});

/** The decrypted, decompressed bytes of a stored backup object. */
function decodeObject(stored: Buffer): Buffer {
  const dec = spawnSync("sh", ["-c", `age --decrypt -i '${key.file}' | zstd -d -q -c -`], { input: stored, maxBuffer: 1 << 30 });
  if (dec.status !== 0) throw new Error(`decoding failed: ${dec.stderr}`);
  return dec.stdout;
}

function encodeObject(raw: Buffer): Buffer {
  const enc = spawnSync("sh", ["-c", `zstd -q -c - | age -r '${key.recipient}'`], { input: raw, maxBuffer: 1 << 30 });
  if (enc.status !== 0) throw new Error(`encoding failed: ${enc.stderr}`);
  return enc.stdout;
}

/** The offset of a regular file's content in a tar, found by its header's name field. */
function tarContentOffset(tar: Buffer, name: string): number {
  for (let off = 0; off + 512 <= tar.length; ) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const entry = header.subarray(0, 100).toString("latin1").replace(/\0.*$/s, "");
    const size = parseInt(header.subarray(124, 136).toString("latin1").replace(/\0.*$/s, "").trim() || "0", 8);
    if (entry === name || entry === `./${name}`) return off + 512;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${name} not found in the tar`);
}

test("verify names a base backup whose file inside does not match its backup_manifest (sha256 consistent): exit 1", async () => {
  const manifestKey = `${baseKey}.manifest.json`;
  const original = await s3.get(BUCKET, baseKey);
  const originalManifest = await s3.get(BUCKET, manifestKey);
  try {
    // Damage PG_VERSION ("15\n" -> "14\n", same size) and re-encrypt; the manifest's sha256 follows,
    // so only a check of the files themselves can tell.
    const tar = decodeObject(original);
    const at = tarContentOffset(tar, "PG_VERSION");
    expect(tar.subarray(at, at + 2).toString("latin1")).toMatch(/^\d\d/);
    tar[at + 1] = tar[at + 1] === 0x34 ? 0x35 : 0x34;
    const stored = encodeObject(tar);
    const m = JSON.parse(originalManifest.toString("utf8"));
    m.storedBytes = stored.length;
    m.sha256 = createHash("sha256").update(stored).digest("hex");
    await s3.put(BUCKET, baseKey, stored);
    await s3.put(BUCKET, manifestKey, Buffer.from(JSON.stringify(m, null, 2) + "\n"));

    const v = await verify({ key: baseKey });
    expect({ code: v.code, out: v.out, run: describeRun(v.run) }).toMatchObject({ code: 1, out: { ok: false, key: baseKey } });
    expect(v.out.problems.join("\n")).toMatch(new RegExp(`${baseKey.replace(/[.]/g, "\\.")}: pg_verifybackup: .*PG_VERSION`));
    expect(v.out.problems.join("\n")).not.toMatch(/sha256/);
    const recs = await verificationRecords(baseKey);
    expect(recs[recs.length - 1]).toMatchObject({ ok: false });
  } finally {
    await s3.put(BUCKET, baseKey, original);
    await s3.put(BUCKET, manifestKey, originalManifest);
  }
  expect(readdirSync(work).filter((f) => f.startsWith("lifeboat-verify-"))).toEqual([]);
});

test("verify names a base backup object with a flipped byte (sha256 mismatch): exit 1, human report names it", async () => {
  const original = await s3.get(BUCKET, baseKey);
  try {
    const bad = Buffer.from(original);
    bad[Math.floor(bad.length / 2)]! ^= 0x01;
    s3.rot(BUCKET, baseKey, bad);
    const v = await verify({ at: "latest" });
    expect({ code: v.code, out: v.out, run: describeRun(v.run) }).toMatchObject({ code: 1, out: { ok: false, key: baseKey } });
    expect(v.out.problems.join("\n")).toContain(`${baseKey}: sha256 `);
    expect(v.out.problems.join("\n")).toContain("(corrupted)");
    // Without --json: the report names the object and the problem.
    const h = await runner(verifyArgs({ name: NAME, at: "latest", identity: key.file, noRecord: true, ...dest() }), { ...s3.env });
    // The whole run in the failure message: this once failed under heavy load with exit 1 and no report.
    expect({ code: h.code, run: describeRun(h) }).toMatchObject({ code: 1, run: expect.stringContaining(`verify FAILED: ${baseKey}`) });
    expect(h.stdout).toMatch(/PROBLEM: .*sha256 .*\(corrupted\)/);
  } finally {
    s3.rot(BUCKET, baseKey, original);
  }
  const ok = await verify({ key: baseKey });
  expect({ code: ok.code, out: describeRun(ok.run) }).toMatchObject({ code: 0 });
});

test("every request above passed the strict S3 layer (lock-enabled bucket: checksums present and right; part sizes)", () => {
  expect(s3.violations).toEqual([]);
});
