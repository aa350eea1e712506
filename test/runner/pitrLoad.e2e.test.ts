/**
 * Point-in-time recovery under load, end to end (PostgreSQL 15 with 1 MB WAL segments, scram
 * replication user, wal-stream as a child process, the strict S3 layer in front of s3rver):
 *
 * 1. Restore to a time from an R2-style replica: `replicate` to a second store in R2 mode, then
 *    `restore --at T` from the replica holds exactly the rows committed by T.
 * 2. Slow upload: the strict layer holds every WAL PUT for far longer than --max-lag; the lag
 *    alert reaches the webhook before the data at risk (alert time minus the recovery point the
 *    sidecar's heartbeat object reports) exceeds --max-lag; "caught up" follows.
 * 3. Heavy writes and host loss: pgbench (4 clients) plus a row-per-commit writer switch 1 MB
 *    segments many times a second; the server and the sidecar are killed with SIGKILL at once.
 *    restore --at latest has no gap (replay reaches the newest segment in the bucket), its rows
 *    are exactly the source's first N commits, and the loss (measured, printed) passes --max-lag
 *    only if the lag alert went out before the host died.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { basebackupArgs, replicateArgs, restoreArgs, walStreamArgs } from "lifeboat-core";
import { startPostgres, PgServer, SUPER_PASSWORD } from "../support/postgres";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { waitFor } from "../support/ports";
import { pgBin } from "../support/tools";
import { killGroup, childrenOf } from "../support/procs";
import { RestoredServers, spawnSidecar } from "../support/pitr";

jest.setTimeout(300_000);

const BUCKET = "lifeboat-pitr-load";
const REPLICA = "lifeboat-pitr-replica";
const PREFIX = "prod";
const NAME = "load-db";
const FLUSH_SECONDS = 2;
const MAX_LAG_SECONDS = 12;
const REPL = { user: "lifeboat_repl", password: "repl-l0ad-7c1" };

let pg: PgServer;
let s3: S3Server;
let r2: S3Server;
let hook: Hook;
let key: AgeKey;
let work: string;
let sidecar: ChildProcess | undefined;
let sidecarLog = "";
const restored = new RestoredServers(() => work);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dest = () => ({ dest: `s3://${BUCKET}/${PREFIX}`, endpoint: s3.endpoint, region: "us-east-1", workDir: work });

function startSidecar(): ChildProcess {
  const args = walStreamArgs({ name: NAME, recipients: [key.recipient], flushInterval: `${FLUSH_SECONDS}s`, maxLag: `${MAX_LAG_SECONDS}s`, heartbeatInterval: "1s", spoolDir: join(work, "spool"), statusIntervalSeconds: 1, ...dest() });
  const env = { ...s3.env, LIFEBOAT_SOURCE_URL: pg.replicationUrl!("app"), LIFEBOAT_ALERT_WEBHOOK: hook.url + "/slack", LIFEBOAT_STATE_FILE: join(work, "state", "runner-state.json") };
  sidecar = spawnSidecar(args, env, (text) => (sidecarLog = (sidecarLog + text).slice(-20000)));
  return sidecar;
}

// One row per commit, ~5 ms apart: ids contiguous unless WAL is lost.
let writing = false;
let writer: Promise<void> | undefined;
const committed: number[] = [];
function startWriter(): void {
  writing = true;
  writer = (async () => {
    const c = new Client({ connectionString: pg.url("app") });
    await c.connect();
    c.on("error", () => undefined);
    try {
      while (writing) {
        const r = await c.query<{ id: string }>("INSERT INTO ticks (payload) VALUES (repeat(md5(random()::text), 20)) RETURNING id");
        committed.push(Number(r.rows[0]!.id));
        await sleep(5);
      }
    } catch {
      /* the server was killed */
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
}

async function restore(at: string, dir: string, on: { dest: string; endpoint: string; region: string }, env: NodeJS.ProcessEnv) {
  const r = await runner(restoreArgs({ name: NAME, at, targetDir: dir, identity: key.file, json: true, workDir: work, ...on }), env);
  expect({ code: r.code, out: describeRun(r) }).toMatchObject({ code: 0 });
  return JSON.parse(r.stdout);
}

async function ids(c: Client): Promise<number[]> {
  return (await c.query<{ id: string }>("SELECT id FROM ticks ORDER BY id")).rows.map((r) => Number(r.id));
}

beforeAll(async () => {
  requireBuiltRunner();
  [s3, r2] = await Promise.all([startS3(), startS3({ r2: true })]);
  await s3.createBucket(BUCKET);
  await r2.createBucket(REPLICA, { objectLock: false });
  hook = await startWebhook();
  pg = await startPostgres({ replication: REPL, walSegSizeMB: 1, settings: { track_commit_timestamp: "on", max_wal_size: "64MB" } });
  key = ageKey();
  work = mkdtempSync(join(tmpdir(), "lifeboat-pitr-load-"));
  chmodSync(work, 0o755);
  await pg.query("postgres", "CREATE DATABASE app");
  await pg.query("app", "CREATE TABLE ticks (id bigserial PRIMARY KEY, payload text NOT NULL)");
  startSidecar();
  await waitFor("the sidecar to stream", () => /starting log streaming/.test(sidecarLog), 30_000);
  startWriter();
  const b = await runner(basebackupArgs({ name: NAME, recipients: [key.recipient], fastCheckpoint: true, json: true, ...dest() }), { ...s3.env, LIFEBOAT_SOURCE_URL: pg.replicationUrl!("app") });
  expect({ code: b.code, out: describeRun(b) }).toMatchObject({ code: 0 });
});

afterAll(async () => {
  writing = false;
  await writer?.catch(() => undefined);
  if (sidecar) await killGroup(sidecar);
  restored.stopAll();
  await pg?.stop().catch(() => undefined);
  await Promise.all([s3?.stop(), r2?.stop(), hook?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("restore to a time from an R2-style replica: replicate copies base backup and WAL, restore --at T from the replica holds exactly the rows committed by T", async () => {
  await sleep(4000);
  const T = new Date();
  await sleep((FLUSH_SECONDS + 3) * 1000); // WAL past T is in the bucket
  const rep = await runner(
    replicateArgs({ name: NAME, to: `s3://${REPLICA}/dr`, toEndpoint: r2.endpoint, toRegion: "auto", json: true, ...dest() }),
    { ...s3.env, LIFEBOAT_REPLICA_ACCESS_KEY_ID: "S3RVER", LIFEBOAT_REPLICA_SECRET_ACCESS_KEY: "S3RVER" },
  );
  expect({ code: rep.code, out: describeRun(rep) }).toMatchObject({ code: 0 });
  expect((await r2.keys(REPLICA, `dr/${NAME}/wal/`)).filter((k) => /\/[0-9A-F]{24}\.\d{8}T/.test(k)).length).toBeGreaterThan(2);
  const dir = join(work, "from-replica");
  const res = await restore(T.toISOString(), dir, { dest: `s3://${REPLICA}/dr`, endpoint: r2.endpoint, region: "auto" }, { ...r2.env });
  expect(res).toMatchObject({ ok: true, walGap: null, recoveryPoint: "wal", warnings: [] });
  const byT = (await pg.query<{ id: string }>("app", `SELECT id FROM ticks WHERE pg_xact_commit_timestamp(xmin) <= '${T.toISOString()}' ORDER BY id`)).map((r) => Number(r.id));
  expect(byT.length).toBeGreaterThan(100);
  const { client: c } = await restored.start(dir);
  try {
    expect(await ids(c)).toEqual(byT);
  } finally {
    await c.end();
    restored.stop(dir);
  }
  expect(r2.violations).toEqual([]);
});

test("slow uploads: the --max-lag alert reaches the webhook before the data at risk exceeds --max-lag, then caught up", async () => {
  const before = hook.received.length;
  // Every WAL object PUT (not the heartbeat objects) waits far longer than --max-lag.
  s3.setFault({ kind: "slow-puts", ms: 3 * MAX_LAG_SECONDS * 1000, path: /\/wal\/[0-9A-F]{24}/ });
  const slowFrom = Date.now();
  try {
    await waitFor("the lag alert", () => hook.received.slice(before).some((h) => /behind/.test(h.body)), 60_000);
    const alert = hook.received.slice(before).find((h) => /behind/.test(h.body))!;
    // The recovery point at that moment, as the sidecar's newest heartbeat object reports it.
    const beats = (await s3.keys(BUCKET, `${PREFIX}/${NAME}/wal/heartbeat/`)).sort();
    const hb = JSON.parse((await s3.get(BUCKET, beats[beats.length - 1]!)).toString("utf8"));
    const atRiskMs = alert.at - Date.parse(hb.coveredUntil);
    // eslint-disable-next-line no-console
    console.log(`slow upload: alert ${((alert.at - slowFrom) / 1000).toFixed(1)} s after uploads stalled, data at risk then ${(atRiskMs / 1000).toFixed(2)} s (--max-lag ${MAX_LAG_SECONDS} s)`);
    expect(atRiskMs).toBeGreaterThan(0);
    expect(atRiskMs).toBeLessThanOrEqual(MAX_LAG_SECONDS * 1000);
    expect(JSON.parse(alert.body).text).toMatch(new RegExp(`WAL of ${NAME} is \\d+s behind .*\\(--max-lag ${MAX_LAG_SECONDS}s\\): uploads are behind`));
  } finally {
    s3.setFault({ kind: "none" });
  }
  await waitFor("caught up", () => hook.received.slice(before).some((h) => /caught up/.test(h.body)), 120_000);
});

test("heavy writes, then the server and the sidecar die together (kill -9): restore --at latest has no gap (replay reaches the newest segment in the bucket) and holds exactly the source's first N commits", async () => {
  expect(spawnSync(pgBin("pgbench"), ["--version"]).status).toBe(0);
  const pgEnv = { ...process.env, PGPASSWORD: SUPER_PASSWORD, PGHOST: "127.0.0.1", PGPORT: String(pg.port), PGUSER: "postgres" };
  const init = spawnSync(pgBin("pgbench"), ["-i", "-s", "2", "-q", "app"], { env: pgEnv, encoding: "utf8" });
  expect({ status: init.status, err: init.stderr.slice(-2000) }).toMatchObject({ status: 0 });
  const bench = spawn(pgBin("pgbench"), ["-c", "4", "-j", "2", "-T", "60", "-n", "app"], { env: pgEnv, stdio: "ignore" });
  bench.on("error", () => undefined);
  await sleep(12_000); // many 1 MB segments complete while partials are flushed
  // The host dies: the server (postmaster and every backend) and the sidecar at once.
  const pid = Number(readFileSync(join(pg.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  for (const p of [pid, ...childrenOf(pid)]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      /* exited meanwhile */
    }
  }
  const killedAt = Date.now();
  await killGroup(sidecar!);
  bench.kill("SIGKILL");
  writing = false;
  await writer;

  // The newest WAL the bucket holds, and when it was captured.
  const manifests = await Promise.all(
    (await s3.keys(BUCKET, `${PREFIX}/${NAME}/wal/`)).filter((k) => k.endsWith(".manifest.json")).map(async (k) => JSON.parse((await s3.get(BUCKET, k)).toString("utf8"))),
  );
  const segs = manifests.filter((m) => m.kind === "wal" && /^[0-9A-F]{24}$/.test(m.file));
  expect(segs.filter((m) => !m.partial).length).toBeGreaterThan(20);
  // 1 MB segments: 4096 per log id. The newest completed segment in the bucket (a partial after
  // it may hold no whole record yet).
  const segno = (f: string) => parseInt(f.slice(8, 16), 16) * 4096 + parseInt(f.slice(16, 24), 16);
  const newestSeg = Math.max(...segs.filter((m) => !m.partial).map((m) => segno(m.file)));

  const dir = join(work, "host-loss");
  const res = await restore("latest", dir, dest(), { ...s3.env });
  expect(res).toMatchObject({ ok: true, walGap: null, recoveryPoint: "wal" });
  const { client: c, log } = await restored.start(dir);
  let restoredIds: number[];
  try {
    restoredIds = await ids(c);
  } finally {
    await c.end();
    restored.stop(dir);
  }
  expect(restoredIds.length).toBeGreaterThan(100);
  expect(restoredIds[restoredIds.length - 1]).toBe(restoredIds.length); // contiguous: no WAL lost in between
  // Replay reached the newest completed segment the bucket holds (a gap would stop it earlier).
  const redo = /redo done at ([0-9A-F]+)\/([0-9A-F]+)/.exec(readFileSync(log, "utf8"));
  expect(redo).not.toBeNull();
  const redoSeg = Number(((BigInt("0x" + redo![1]) << 32n) | BigInt("0x" + redo![2])) >> 20n);
  expect(redoSeg).toBeGreaterThanOrEqual(newestSeg);

  // The dead source's own commit times (crash recovery of the killed cluster, read-only use).
  const crashed = join(work, "crashed");
  spawnSync("cp", ["-a", pg.dataDir, crashed]);
  rmSync(join(crashed, "postmaster.pid"), { force: true });
  const { client: orig } = await restored.start(crashed, { track_commit_timestamp: "on" }); // as the source ran
  try {
    const times = (await orig.query<{ id: string; t: Date }>("SELECT id, pg_xact_commit_timestamp(xmin) AS t FROM ticks ORDER BY id")).rows.map((r) => ({ id: Number(r.id), t: r.t.getTime() }));
    // Every row the restored database holds is one the source committed, in order, none missing.
    expect(restoredIds).toEqual(times.slice(0, restoredIds.length).map((r) => r.id));
    const lastRestored = times.find((r) => r.id === restoredIds[restoredIds.length - 1])!;
    const lossSeconds = (times[times.length - 1]!.t - lastRestored.t) / 1000;
    // eslint-disable-next-line no-console
    console.log(`heavy-write host loss: ${(times.length - restoredIds.length)} of ${times.length} rows lost, ${lossSeconds.toFixed(3)} s of commits, flush interval ${FLUSH_SECONDS} s, max lag ${MAX_LAG_SECONDS} s`);
    // Under writes faster than the uploads the loss can pass the flush interval; never --max-lag
    // without the lag alert having gone out.
    if (lossSeconds > MAX_LAG_SECONDS) expect(hook.received.some((h) => /behind/.test(h.body) && h.at < killedAt)).toBe(true);
  } finally {
    await orig.end();
    restored.stop(crashed);
  }
});
