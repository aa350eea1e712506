/**
 * A one-shot run stopped by a signal (the scheduler's backstop and shutdown, `docker stop`, an ECS
 * task stop: SIGTERM; Ctrl-C: SIGINT) stops cleanly, as pgBackRest does: within seconds it exits
 * 128 + the signal, leaves none of its processes, FIFOs, partial files or multipart uploads, and
 * records and alerts the failure ("stopped by SIGTERM"). A stopped restore leaves the target as
 * any failed restore does. Real processes throughout: PostgreSQL with scram-sha-256, the built
 * CLI, s3rver behind the strict layer (which keeps multipart uploads as S3 does), a webhook.
 *
 * A run is caught mid-way by holding it where it really waits: pg_dump blocked on a table another
 * session holds locked (every stage of the pipeline is up by then), part uploads slowed by the
 * endpoint, a download whose body never comes.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { backupArgs, restoreArgs, scheduleArgs, statusArgs, verifyArgs, BackupSpec } from "lifeboat-core";
import { startPostgres, PgServer } from "../support/postgres";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, RUNNER_BIN, REPO, requireBuiltRunner, runner } from "../support/runner";
import { childrenOf } from "../support/procs";
import { waitFor } from "../support/ports";

jest.setTimeout(180_000);

const BUCKET = "lifeboat-stop";
const DEST = `s3://${BUCKET}/prod`;

let pg: PgServer;
let s3: S3Server;
let hook: Hook;
let key: AgeKey;
let work: string;
/** The runs' own temp directory: only their FIFO directories show in it. */
let runTmp: string;
const stateFile = () => join(work, "state.json");
const localDir = () => join(work, "local");

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-stop-"));
  runTmp = join(work, "tmp");
  mkdirSync(runTmp);
  key = ageKey(work);
  [pg, s3, hook] = await Promise.all([startPostgres(), startS3(), startWebhook()]);
  await s3.createBucket(BUCKET);
  await pg.query("postgres", "CREATE DATABASE app");
  await pg.query("app", "CREATE TABLE held (id int PRIMARY KEY, note text); INSERT INTO held SELECT g, md5(g::text) FROM generate_series(1, 1000) g");
  // ~48 MB of hex text (zstd halves it): several 5 MiB parts, still uploading when the signal comes.
  await pg.query("postgres", "CREATE DATABASE big");
  await pg.query(
    "big",
    `CREATE TABLE noise (id int PRIMARY KEY, blob text);
     INSERT INTO noise SELECT g, (SELECT string_agg(md5(random()::text || g || s), '') FROM generate_series(1, 50) s) FROM generate_series(1, 30000) g;`,
  );
});

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop(), hook?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  /** Resolves when the runner exited: its code or signal, its output, and when it exited. */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; at: number }>;
}

/** The built CLI as a container runs it (a clean environment), in its own TMPDIR. */
function start(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [RUNNER_BIN, ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8", TMPDIR: runTmp, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (b) => (stdout += b));
  child.stderr!.on("data", (b) => (stderr += b));
  const ended = new Promise<Awaited<Run["ended"]>>((r) => child.on("close", (code, signal) => r({ code, signal, stdout, stderr, at: Date.now() })));
  return { child, ended };
}

/** Every process below `pid`, with its command name, from /proc. */
function descendants(pid: number): Array<{ pid: number; comm: string }> {
  const out: Array<{ pid: number; comm: string }> = [];
  for (const c of childrenOf(pid)) {
    try {
      out.push({ pid: c, comm: readFileSync(`/proc/${c}/comm`, "utf8").trim() });
    } catch {
      continue; // exited meanwhile
    }
    out.push(...descendants(c));
  }
  return out;
}

/** True while `pid` is a live process (not gone, not a zombie waiting to be reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

const pipeDirs = () => readdirSync(runTmp).filter((f) => f.startsWith("lifeboat-pipe-"));

/**
 * Sends `sig` to a run caught mid-way and waits for it: it exits 128 + the signal (not killed by
 * it) within 5 s, and every process it had when the signal came is gone.
 */
async function stop(run: Run, sig: "SIGTERM" | "SIGINT"): Promise<Awaited<Run["ended"]>> {
  const procs = descendants(run.child.pid!);
  const sent = Date.now();
  run.child.kill(sig);
  const r = await run.ended;
  expect({ code: r.code, signal: r.signal }).toEqual({ code: sig === "SIGTERM" ? 143 : 130, signal: null });
  expect(r.at - sent).toBeLessThan(5000);
  expect(procs.filter((p) => alive(p.pid))).toEqual([]);
  return r;
}

const s3Dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "us-east-1" });

/** Every file under `dir` (recursively), as paths, sorted. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** A session holding `held` locked: pg_dump then waits for it with every stage of the backup running. */
async function holdTable(): Promise<Client> {
  const c = new Client({ connectionString: pg.url("app") });
  await c.connect();
  await c.query("BEGIN");
  await c.query("LOCK TABLE held IN ACCESS EXCLUSIVE MODE");
  return c;
}

const pgDumpWaiting = async () =>
  (await pg.query("postgres", "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'")).length > 0;

const localBackup = (name: string) =>
  backupArgs({
    source: "postgres",
    name,
    url: pg.url("app"),
    recipients: [key.recipient],
    noUpload: true,
    localDir: localDir(),
    stateFile: stateFile(),
    alertWebhook: hook.url + "/slack",
    pingUrl: hook.url + "/ping",
  });

const lastRun = (name: string) => JSON.parse(readFileSync(stateFile(), "utf8")).sources[name]?.lastRun;
const alerts = (name: string) => hook.received.filter((x) => x.path === "/slack").map((x) => JSON.parse(x.body).text as string).filter((t) => t.includes(`of ${name} `));
const comms = (pid: number) => descendants(pid).map((p) => p.comm);

/**
 * Starts a local backup of the app database with pg_dump held on the locked table, and waits until
 * every stage runs: pg_dump waiting, the FIFO directory and the partial file there.
 */
async function heldLocalBackup(name: string): Promise<{ run: Run; release: () => Promise<void> }> {
  const holder = await holdTable();
  const release = async () => {
    await holder.query("ROLLBACK").catch(() => undefined);
    await holder.end().catch(() => undefined);
  };
  const run = start(localBackup(name));
  try {
    // The run's own processes: the dump, the kernel tee, zstd and age.
    await waitFor("pg_dump waiting on the locked table, every stage running, the FIFOs and the partial file", async () =>
      (await pgDumpWaiting()) &&
      ["pg_dump", "perl", "zstd", "age"].every((c) => comms(run.child.pid!).includes(c)) &&
      pipeDirs().length > 0 &&
      files(join(localDir(), name)).some((f) => /\.partial-/.test(f)),
    );
    return { run, release };
  } catch (e) {
    run.child.kill("SIGKILL");
    await release();
    throw e;
  }
}

test("the --help of each command that stops this way says what a signal does", async () => {
  for (const cmd of ["backup", "restore", "verify", "basebackup"]) {
    const r = await runner([cmd, "--help"]);
    expect(r.stdout).toMatch(/SIGTERM or SIGINT .* stops the run within seconds.*exit 143 \/ 130/s);
  }
});

describe("a local backup stopped while pg_dump runs", () => {
  test("SIGTERM: exit 143 within seconds; no process, FIFO directory, partial file or manifest left; the state file, the alert and status say it was stopped", async () => {
    const { run, release } = await heldLocalBackup("stopped");
    try {
      const r = await stop(run, "SIGTERM");
      expect(r.stderr).toMatch(/stopped by SIGTERM/);
      expect(pipeDirs()).toEqual([]);
      expect(files(join(localDir(), "stopped"))).toEqual([]); // no .partial-*, no object, no manifest
      const last = lastRun("stopped");
      expect(last).toMatchObject({ ok: false, error: expect.stringMatching(/^stopped by SIGTERM/) });
      expect(alerts("stopped")).toEqual([expect.stringMatching(/backup of stopped \(postgres\) to .* FAILED: stopped by SIGTERM/)]);
      expect(hook.received.map((x) => x.path)).toContain("/ping/fail");
      const st = await runner(statusArgs({ name: "stopped", local: true, stateFile: stateFile(), json: true }), {});
      expect(st.code).toBe(1);
      expect(JSON.parse(st.stdout).sources[0].problems.join(" ")).toMatch(/failed: stopped by SIGTERM/);
    } finally {
      run.child.kill("SIGKILL");
      await release();
    }
  });

  test("SIGINT (Ctrl-C): exit 130, cleaned up the same way, recorded as stopped by SIGINT", async () => {
    const { run, release } = await heldLocalBackup("interrupted");
    try {
      await stop(run, "SIGINT");
      expect(pipeDirs()).toEqual([]);
      expect(files(join(localDir(), "interrupted"))).toEqual([]);
      expect(lastRun("interrupted")).toMatchObject({ ok: false, error: expect.stringMatching(/^stopped by SIGINT/) });
      expect(alerts("interrupted")).toEqual([expect.stringMatching(/FAILED: stopped by SIGINT/)]);
    } finally {
      run.child.kill("SIGKILL");
      await release();
    }
  });
});

describe("a backup to S3 stopped mid-upload", () => {
  test("SIGTERM: exit 143 within seconds, the multipart upload aborted (ListMultipartUploads is empty), no object or manifest, no process left, recorded and alerted", async () => {
    const seen = s3.requests.length;
    s3.setFault({ kind: "slow-parts", ms: 1500 });
    const spec: BackupSpec = {
      source: "postgres",
      name: "big-stopped",
      url: pg.url("big"),
      recipients: [key.recipient],
      ...s3Dest(),
      partSizeMiB: 5,
      concurrency: 1,
      stateFile: stateFile(),
      alertWebhook: hook.url + "/slack",
    };
    const run = start(backupArgs(spec), s3.env);
    try {
      await waitFor("the first part on its way", () => s3.requests.slice(seen).some((q) => q.method === "PUT" && q.url.includes("partNumber=")), 60_000);
      expect(await s3.openUploads(BUCKET)).toHaveLength(1); // the upload the signal interrupts
      expect(comms(run.child.pid!)).toEqual(expect.arrayContaining(["pg_dump", "zstd", "age"]));
      await stop(run, "SIGTERM");
      expect(pipeDirs()).toEqual([]);
      const reqs = s3.requests.slice(seen);
      expect(reqs.some((q) => q.method === "DELETE" && q.url.includes("uploadId="))).toBe(true);
      expect(reqs.some((q) => q.method === "POST" && q.url.includes("uploadId="))).toBe(false); // never completed
      // Parts held by the slow endpoint arrive after the abort and find the upload gone.
      await new Promise((res) => setTimeout(res, 1600));
      expect(await s3.openUploads(BUCKET)).toEqual([]);
      expect(await s3.keys(BUCKET, "prod/big-stopped/")).toEqual([]);
      expect(lastRun("big-stopped")).toMatchObject({ ok: false, error: expect.stringMatching(/stopped by SIGTERM/) });
      expect(alerts("big-stopped")).toEqual([expect.stringMatching(/backup of big-stopped \(postgres\) to s3:\/\/lifeboat-stop\/prod FAILED: .*stopped by SIGTERM/)]);
    } finally {
      s3.setFault({ kind: "none" });
      run.child.kill("SIGKILL");
    }
  });
});

describe("a stop that cannot finish its failure path", () => {
  /**
   * A backup to S3 caught mid-upload, then the endpoint stalls every multipart request: the abort
   * the failure path sends after the signal never gets an answer (it is bounded by 30 s).
   */
  async function wedgedUpload(name: string): Promise<Run> {
    const seen = s3.requests.length;
    s3.setFault({ kind: "slow-parts", ms: 1500 });
    const run = start(backupArgs({ source: "postgres", name, url: pg.url("big"), recipients: [key.recipient], ...s3Dest(), partSizeMiB: 5, concurrency: 1, stateFile: stateFile() }), s3.env);
    await waitFor("the first part on its way", () => s3.requests.slice(seen).some((q) => q.method === "PUT" && q.url.includes("partNumber=")), 60_000);
    s3.setFault({ kind: "stall", path: /uploadId=/ });
    return run;
  }

  test("the run exits 143 at the 8 s bound, inside the 10 s before the scheduler's or docker's SIGKILL, saying why", async () => {
    const run = await wedgedUpload("wedged-stop");
    try {
      const sent = Date.now();
      run.child.kill("SIGTERM");
      const r = await run.ended;
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 143, signal: null });
      expect(r.at - sent).toBeGreaterThanOrEqual(7500);
      expect(r.at - sent).toBeLessThan(9500);
      expect(r.stderr).toMatch(/the run did not stop within 8 s of SIGTERM: exiting now/);
    } finally {
      s3.setFault({ kind: "none" });
      run.child.kill("SIGKILL");
    }
  });

  test("a second signal exits at once", async () => {
    const run = await wedgedUpload("wedged-twice");
    try {
      run.child.kill("SIGTERM");
      await new Promise((res) => setTimeout(res, 1000));
      const sent = Date.now();
      run.child.kill("SIGINT");
      const r = await run.ended;
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 130, signal: null });
      expect(r.at - sent).toBeLessThan(1000);
      expect(r.stderr).toMatch(/second signal \(SIGINT\): exiting now/);
    } finally {
      s3.setFault({ kind: "none" });
      run.child.kill("SIGKILL");
    }
  });
});

describe("a restore stopped mid-way", () => {
  test("--force into a non-empty directory, stopped while downloading: exit 143 within seconds, the target exactly as it was, no staging or kept-aside directory, alerted", async () => {
    const src = join(work, "files");
    mkdirSync(join(src, "sub"), { recursive: true });
    writeFileSync(join(src, "a.txt"), "from the backup\n");
    writeFileSync(join(src, "sub/b.bin"), Buffer.alloc(100_000, 7));
    const b = await runner(backupArgs({ source: "directory", name: "files", path: src, recipients: [key.recipient], ...s3Dest(), stateFile: stateFile() }), s3.env);
    expect(b.code).toBe(0);
    const parent = join(work, "restore-target");
    const target = join(parent, "data");
    mkdirSync(target, { recursive: true });
    writeFileSync(join(target, "live.txt"), "what the app has now\n");
    const before = files(parent).map((f) => [f, readFileSync(f, "utf8")]);
    // The object's answer comes with its headers and never a byte of its body.
    s3.setFault({ kind: "stall-body", path: /\.tar\.zst\.age(\?|$)/ });
    const run = start(restoreArgs({ name: "files", identity: key.file, targetDir: target, force: true, ...s3Dest(), alertWebhook: hook.url + "/slack" }), s3.env);
    try {
      await waitFor("the staging directory and the stalled download into age, zstd and tar", () =>
        readdirSync(parent).some((e) => e.includes("lifeboat-restore-")) && ["age", "zstd", "tar"].every((c) => comms(run.child.pid!).includes(c)),
      );
      const r = await stop(run, "SIGTERM");
      expect(r.stderr).toMatch(/stopped by SIGTERM/);
      // As after any failed restore: nothing moved aside, nothing staged left, the target untouched.
      expect(readdirSync(parent)).toEqual(["data"]);
      expect(files(parent).map((f) => [f, readFileSync(f, "utf8")])).toEqual(before);
      expect(alerts("files")).toEqual([expect.stringMatching(/restore of files from .* FAILED: .*stopped by SIGTERM/)]);
    } finally {
      s3.setFault({ kind: "none" });
      run.child.kill("SIGKILL");
    }
  });
});

describe("a Postgres restore or verify stopped while pg_restore runs", () => {
  beforeAll(async () => {
    const b = await runner(backupArgs({ source: "postgres", name: "bigfull", url: pg.url("big"), recipients: [key.recipient], ...s3Dest(), stateFile: stateFile() }), s3.env);
    expect(b.code).toBe(0);
  });

  test("restore --force, stopped after the target was kept aside: exit 143 within seconds, the previous database kept under the name the error and the alert give, nothing of the run left", async () => {
    await pg.query("postgres", "CREATE DATABASE live");
    await pg.query("live", "CREATE TABLE mine (id int); INSERT INTO mine VALUES (1), (2), (3)");
    const restoreWork = join(work, "restore-work");
    mkdirSync(restoreWork);
    const run = start(restoreArgs({ name: "bigfull", identity: key.file, targetUrl: pg.url("live"), force: true, workDir: restoreWork, ...s3Dest(), alertWebhook: hook.url + "/slack" }), s3.env);
    try {
      const aside = async () => (await pg.query<{ datname: string }>("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'live\\_before\\_restore\\_%'")).map((d) => d.datname);
      await waitFor("the target kept aside and pg_restore running", async () => (await aside()).length === 1 && comms(run.child.pid!).includes("pg_restore"), 60_000);
      const r = await stop(run, "SIGTERM");
      const [kept] = await aside();
      expect(r.stderr).toContain(`stopped by SIGTERM (the previous database is kept as ${kept})`);
      expect(await pg.query(kept!, "SELECT id FROM mine ORDER BY id")).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
      expect(alerts("bigfull")).toEqual([expect.stringContaining(`FAILED: stopped by SIGTERM (the previous database is kept as ${kept})`)]);
      expect(readdirSync(restoreWork)).toEqual([]); // the decoded dump is gone
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  test("verify, stopped while restoring into the scratch database: exit 143 within seconds, the scratch database dropped, no verification record (a stopped drill found nothing about the backup), alerted", async () => {
    const records = () => s3.keys(BUCKET, "prod/_verifications/bigfull/");
    const scratch = async () => (await pg.query("postgres", "SELECT 1 FROM pg_database WHERE datname LIKE 'lifeboat\\_verify\\_%'")).length;
    const before = hook.received.length;
    const run = start(verifyArgs({ name: "bigfull", identity: key.file, scratchUrl: pg.url("postgres"), ...s3Dest(), alertWebhook: hook.url + "/slack" }), s3.env);
    try {
      await waitFor("pg_restore into the scratch database", async () => (await scratch()) === 1 && comms(run.child.pid!).includes("pg_restore"), 60_000);
      await stop(run, "SIGTERM");
      expect(await scratch()).toBe(0);
      expect(await records()).toEqual([]);
      const sentAlerts = hook.received.slice(before).filter((x) => x.path === "/slack").map((x) => JSON.parse(x.body).text);
      expect(sentAlerts).toEqual([expect.stringMatching(/verification of bigfull backup \S+ FAILED: .*stopped by SIGTERM/)]);
    } finally {
      run.child.kill("SIGKILL");
    }
  });
});

describe("the scheduler stopping with a run in progress", () => {
  test("SIGTERM to the scheduler stops its run, which exits 143: the job's state reads `exit 143 (stopped by SIGTERM)`", async () => {
    const holder = await holdTable();
    const schedState = join(work, "schedule-state.json");
    const sched = start(scheduleArgs("0 0 1 1 *", localBackup("scheduled"), { runAtStart: true, stateFile: schedState }));
    try {
      await waitFor("the scheduled run's pg_dump waiting on the locked table", async () => comms(sched.child.pid!).includes("pg_dump") && (await pgDumpWaiting()));
      sched.child.kill("SIGTERM");
      const r = await sched.ended;
      expect(r.code).toBe(0);
      const job = JSON.parse(readFileSync(schedState, "utf8")).jobs.backup;
      expect(job).toMatchObject({ phase: "idle", lastOk: false, lastResult: "exit 143 (stopped by SIGTERM)" });
      expect(pipeDirs()).toEqual([]);
      expect(files(join(localDir(), "scheduled"))).toEqual([]);
    } finally {
      sched.child.kill("SIGKILL");
      await holder.query("ROLLBACK").catch(() => undefined);
      await holder.end().catch(() => undefined);
    }
  });
});
