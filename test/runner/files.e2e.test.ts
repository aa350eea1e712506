/**
 * End to end for volumes/directories (with a live SQLite database inside), Redis and SQLite,
 * local mode, status, the scheduler and usage errors, against s3rver and a real redis-server.
 */
import { spawn, ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { backupArgs, listArgs, restoreArgs, scheduleArgs, statusArgs, verifyArgs, BackupSpec } from "lifeboat-core";
import { startS3, S3Server } from "../support/s3";
import { startRedis, RedisServer } from "../support/redis";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner, RUNNER_BIN } from "../support/runner";
import { execOk } from "../support/exec";
import { requireTool } from "../support/tools";
import { waitFor } from "../support/ports";

jest.setTimeout(120_000);

const BUCKET = "lifeboat-files";
const DEST = `s3://${BUCKET}/staging`;

let s3: S3Server;
let redis: RedisServer;
let hook: Hook;
let key: AgeKey;
let work: string;

const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "auto", stateFile: join(work, "state.json"), workDir: work });
const env = () => ({ ...s3.env });

/** rel path → type, mode and sha256 (files), target (links): byte-identical trees compare equal. */
function tree(root: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(root, p);
      if (skip(rel)) continue;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${mode}`;
        walk(p);
      } else out[rel] = `file ${mode} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`;
    }
  };
  walk(root);
  return out;
}

function makeTree(root: string): void {
  mkdirSync(join(root, "uploads/2026/11"), { recursive: true });
  mkdirSync(join(root, "sessions/wa"), { recursive: true });
  mkdirSync(join(root, "empty-dir"));
  writeFileSync(join(root, "uploads/2026/11/contract one.pdf"), Buffer.alloc(300_000, 7));
  for (let i = 0; i < 50; i++) writeFileSync(join(root, `sessions/wa/creds-${i}.json`), JSON.stringify({ i, k: createHash("sha1").update(String(i)).digest("hex") }));
  writeFileSync(join(root, "uploads/ünïcødé ✓.txt"), "names survive\n");
  writeFileSync(join(root, "empty.txt"), "");
  const rnd = Buffer.alloc(2_000_000);
  for (let i = 0; i < rnd.length; i++) rnd[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(root, "uploads/blob.bin"), rnd);
  const longName = "a".repeat(120) + "/" + "b".repeat(120);
  mkdirSync(join(root, "a".repeat(120)));
  writeFileSync(join(root, longName), "long path\n");
  writeFileSync(join(root, "secret.key"), "mode 600\n");
  chmodSync(join(root, "secret.key"), 0o600);
  symlinkSync("uploads/blob.bin", join(root, "latest-blob"));
}

function backup(spec: Partial<BackupSpec> & Pick<BackupSpec, "source" | "name">) {
  return runner(backupArgs({ recipients: [key.recipient], ...dest(), json: true, ...spec }), env());
}

beforeAll(async () => {
  requireBuiltRunner();
  requireTool("sqlite3", "sqlite3");
  work = mkdtempSync(join(tmpdir(), "lifeboat-files-e2e-"));
  [s3, redis, hook] = await Promise.all([startS3(), startRedis({ password: "s3cr3t-redis-pw" }), startWebhook()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), redis?.stop(), hook?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("volume with a live SQLite database", () => {
  let writer: ChildProcess | undefined;
  let vol: string;

  afterAll(() => writer?.kill("SIGKILL"));

  test("backup -> list -> restore gives a byte-identical tree and a consistent SQLite database while it is being written", async () => {
    vol = join(work, "n8n-data");
    mkdirSync(vol);
    makeTree(vol);
    const db = join(vol, "database.sqlite");
    await execOk("sqlite3", [db, "PRAGMA journal_mode=WAL; CREATE TABLE execs (id INTEGER PRIMARY KEY, payload TEXT); INSERT INTO execs (payload) VALUES ('seed');"]);
    // A writer inserting rows continuously, like n8n logging executions.
    writer = spawn("sh", ["-c", `while true; do sqlite3 "${db}" "PRAGMA busy_timeout=5000; BEGIN; INSERT INTO execs (payload) SELECT hex(randomblob(200)) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3); COMMIT;" || true; done`], { stdio: "ignore" });
    await waitFor("the writer", async () => Number(await execOk("sqlite3", [db, "SELECT count(*) FROM execs"])) > 20);

    const r = await backup({ source: "volume", name: "n8n-data", path: vol });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const m = JSON.parse(r.stdout).manifest;
    expect(m.kind).toBe("volume");
    expect(m.archive.sqliteSnapshots).toEqual(["database.sqlite"]);
    expect(m.archive.files).toBeGreaterThan(50);

    const list = JSON.parse((await runner(listArgs({ name: "n8n-data", ...dest(), json: true }), env())).stdout);
    expect(list.backups.map((b: any) => b.key)).toEqual([m.key]);

    const target = join(work, "restored-n8n");
    const rr = await runner(restoreArgs({ name: "n8n-data", identity: key.file, targetDir: target, ...dest() }), env());
    expect(describeRun(rr)).toMatch(/^exit 0/);
    const isDb = (rel: string) => /^database\.sqlite/.test(rel);
    expect(tree(target, isDb)).toEqual(tree(vol, isDb));
    expect(readdirSync(target).filter(isDb)).toEqual(["database.sqlite"]); // no -wal/-shm copied
    expect((await execOk("sqlite3", [join(target, "database.sqlite"), "PRAGMA integrity_check"])).trim()).toBe("ok");
    const rows = Number(await execOk("sqlite3", [join(target, "database.sqlite"), "SELECT count(*) FROM execs"]));
    expect(rows).toBeGreaterThan(20);
    expect(rows % 3).toBe(1); // whole transactions only: seed row + groups of 3
  });

  test("verify passes on a good archive and names a truncated one (exit 1)", async () => {
    const ok = await runner(verifyArgs({ name: "n8n-data", identity: key.file, ...dest() }), env());
    expect(describeRun(ok)).toMatch(/^exit 0/);
    expect(ok.stdout).toMatch(/files: \d+/);
    writer?.kill("SIGKILL");
    writer = undefined;
    const second = JSON.parse((await backup({ source: "volume", name: "n8n-data", path: vol })).stdout).manifest.key as string;
    const body = await s3.get(BUCKET, second);
    s3.rot(BUCKET, second, body.subarray(0, body.length - 1000));
    const bad = await runner(verifyArgs({ name: "n8n-data", identity: key.file, ...dest() }), env());
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(second);
    expect(bad.stdout).toMatch(/truncated/);
  });

  test("restore refuses a non-empty directory without --force and leaves it alone", async () => {
    const target = join(work, "occupied");
    mkdirSync(target);
    writeFileSync(join(target, "keep.txt"), "mine");
    const r = await runner(restoreArgs({ name: "n8n-data", at: new Date().toISOString(), identity: key.file, targetDir: target, ...dest() }), env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty/);
    expect(readdirSync(target)).toEqual(["keep.txt"]);
  });
});

describe("redis", () => {
  test("backup -> restore -> a redis-server loading the restored RDB has the same data; the password never appears in output", async () => {
    await redis.cli("SET", "greeting", "hello");
    await redis.cli("HSET", "lead:1", "name", "Ada", "stage", "won");
    await redis.cli("RPUSH", "queue", "a", "b", "c");
    await redis.cli("EVAL", "for i=1,2000 do redis.call('SET', 'k'..i, string.rep('v', i % 100)) end", "0");
    const r = await backup({ source: "redis", name: "cache", url: redis.url });
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(r.stdout + r.stderr).not.toContain("s3cr3t-redis-pw");
    const m = JSON.parse(r.stdout).manifest;
    expect(JSON.stringify(m)).not.toContain("s3cr3t-redis-pw");
    expect(m.key).toMatch(/\.rdb\.zst\.age$/);

    const dir = join(work, "redis-restored");
    const rr = await runner(restoreArgs({ name: "cache", identity: key.file, targetDir: dir, ...dest() }), env());
    expect(describeRun(rr)).toMatch(/^exit 0/);
    expect(existsSync(join(dir, "dump.rdb"))).toBe(true);
    const copy = await startRedis({ dir, dbfilename: "dump.rdb" });
    try {
      expect(await copy.cli("DBSIZE")).toBe(await redis.cli("DBSIZE"));
      expect(await copy.cli("GET", "greeting")).toBe("hello");
      expect(await copy.cli("HGET", "lead:1", "stage")).toBe("won");
      expect(await copy.cli("LRANGE", "queue", "0", "-1")).toBe("a\nb\nc");
      expect(await copy.cli("GET", "k1999")).toBe("v".repeat(99));
    } finally {
      await copy.stop();
    }
    const v = await runner(verifyArgs({ name: "cache", identity: key.file, ...dest() }), env());
    expect(describeRun(v)).toMatch(/^exit 0/);
  });
});

describe("sqlite", () => {
  test("backup via the online backup API -> restore to a file with the same content", async () => {
    const db = join(work, "app.sqlite");
    await execOk("sqlite3", [db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5000) INSERT INTO t (v) SELECT hex(randomblob(16)) FROM c;"]);
    const r = await backup({ source: "sqlite", name: "app-sqlite", path: db });
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(readdirSync(work).filter((f) => f.startsWith("lifeboat-sqlite-"))).toEqual([]); // snapshot removed
    const out = join(work, "restored.sqlite");
    const rr = await runner(restoreArgs({ name: "app-sqlite", identity: key.file, targetFile: out, ...dest() }), env());
    expect(describeRun(rr)).toMatch(/^exit 0/);
    expect(await execOk("sqlite3", [out, ".dump"])).toBe(await execOk("sqlite3", [db, ".dump"]));
    const again = await runner(restoreArgs({ name: "app-sqlite", identity: key.file, targetFile: out, ...dest() }), env());
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists.*--force/);
    const v = await runner(verifyArgs({ name: "app-sqlite", identity: key.file, ...dest() }), env());
    expect(describeRun(v)).toMatch(/^exit 0/);
  });
});

describe("restore --at latest-verified", () => {
  test("restores the newest backup a verification passed, not a newer unverified one", async () => {
    const src = join(work, "verified-src");
    mkdirSync(src);
    const restoreTo = (dir: string, at?: string) =>
      runner(restoreArgs({ name: "dr-files", identity: key.file, targetDir: dir, ...(at ? { at } : {}), ...dest() }), env());

    writeFileSync(join(src, "state.txt"), "checked");
    expect(describeRun(await backup({ source: "directory", name: "dr-files", path: src }))).toMatch(/^exit 0/);
    const none = await restoreTo(join(work, "verified-none"), "latest-verified");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no backup of dr-files has passed verification/);

    expect(describeRun(await runner(verifyArgs({ name: "dr-files", identity: key.file, ...dest() }), env()))).toMatch(/^exit 0/);
    writeFileSync(join(src, "state.txt"), "not yet checked");
    expect(describeRun(await backup({ source: "directory", name: "dr-files", path: src }))).toMatch(/^exit 0/);

    const verifiedDir = join(work, "verified-restore");
    expect(describeRun(await restoreTo(verifiedDir, "latest-verified"))).toMatch(/^exit 0/);
    expect(readFileSync(join(verifiedDir, "state.txt"), "utf8")).toBe("checked");
    const latestDir = join(work, "latest-restore");
    expect(describeRun(await restoreTo(latestDir))).toMatch(/^exit 0/);
    expect(readFileSync(join(latestDir, "state.txt"), "utf8")).toBe("not yet checked");
  });
});

describe("local mode", () => {
  test("--no-upload --local-dir DIR --keep-local 2 keeps the newest two and restores from them", async () => {
    const src = join(work, "local-src");
    mkdirSync(src);
    writeFileSync(join(src, "a.txt"), "one");
    const local = join(work, "local-backups");
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(src, "a.txt"), `version ${i}`);
      const r = await runner(
        backupArgs({ source: "directory", name: "dev-files", path: src, recipients: [key.recipient], noUpload: true, localDir: local, keepLocal: 2, stateFile: join(work, "local-state.json"), json: true }),
        {},
      );
      expect(describeRun(r)).toMatch(/^exit 0/);
      keys.push(JSON.parse(r.stdout).manifest.key);
    }
    const list = JSON.parse((await runner(listArgs({ name: "dev-files", localDir: local, json: true }), {})).stdout);
    expect(list.backups.map((b: any) => b.key)).toEqual(keys.slice(1));
    const target = join(work, "local-restored");
    const rr = await runner(restoreArgs({ name: "dev-files", localDir: local, identity: key.file, targetDir: target }), {});
    expect(describeRun(rr)).toMatch(/^exit 0/);
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe("version 2");
    const st = await runner(statusArgs({ name: "dev-files", local: true, stateFile: join(work, "local-state.json"), maxAge: "1h" }), {});
    expect(describeRun(st)).toMatch(/^exit 0/);
  });
});

describe("status", () => {
  test("healthy, overdue and shrunk sources; alerts on unhealthy", async () => {
    const src = join(work, "shrinky");
    mkdirSync(src);
    const big = Buffer.alloc(3_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    writeFileSync(join(src, "data.bin"), big);
    expect((await backup({ source: "directory", name: "shrinky", path: src })).code).toBe(0);
    const healthy = await runner(statusArgs({ name: "shrinky", maxAge: "1h", ...dest(), json: true }), env());
    expect(describeRun(healthy)).toMatch(/^exit 0/);
    expect(JSON.parse(healthy.stdout).healthy).toBe(true);

    writeFileSync(join(src, "data.bin"), big.subarray(0, 100_000));
    expect((await backup({ source: "directory", name: "shrinky", path: src })).code).toBe(0);
    hook.received.length = 0;
    const shrunk = await runner(statusArgs({ name: "shrinky", maxAge: "1h", ...dest(), alertWebhook: hook.url, json: true }), env());
    expect(shrunk.code).toBe(1);
    expect(JSON.parse(shrunk.stdout).sources[0].problems.join(" ")).toMatch(/shrank/);
    expect(JSON.parse(hook.received[0]!.body).text).toMatch(/unhealthy.*shrinky.*shrank/);

    await new Promise((r) => setTimeout(r, 1100));
    const overdue = await runner(statusArgs({ name: "shrinky", maxAge: "1s", maxShrink: 0.99, ...dest() }), env());
    expect(overdue.code).toBe(1);
    expect(overdue.stdout).toMatch(/overdue/);

    const all = await runner(statusArgs({ maxAge: "1h", maxShrink: 0.99, ...dest(), json: true }), env());
    const names = JSON.parse(all.stdout).sources.map((s: any) => s.source);
    expect(names).toEqual(expect.arrayContaining(["cache", "n8n-data", "shrinky", "app-sqlite"]));
  });
});

describe("usage errors are named before anything is uploaded", () => {
  const cases: Array<[string, Partial<BackupSpec> & Pick<BackupSpec, "source" | "name">, RegExp, NodeJS.ProcessEnv?]> = [
    ["no recipient", { source: "directory", name: "x", path: "/tmp", recipients: [] }, /--recipient/],
    ["a private key as recipient", { source: "directory", name: "x", path: "/tmp", recipients: ["AGE-SECRET-KEY-1QQQ"] }, /private key/],
    ["a malformed recipient", { source: "directory", name: "x", path: "/tmp", recipients: ["age1nope"] }, /not an age public key/],
    ["a bad name", { source: "directory", name: "Bad_Name", path: "/tmp" }, /--name/],
    ["a missing path", { source: "directory", name: "x", path: "/nonexistent/dir" }, /--path: .*does not exist/],
    ["a postgres source without --url", { source: "postgres", name: "x" }, /--url/],
    ["a mysql url", { source: "postgres", name: "x", url: "mysql://a@b/c" }, /--url: must be a postgres:\/\/ or postgresql:\/\/ URL or a libpq key=value connection string/],
    ["a bad dest", { source: "directory", name: "x", path: "/tmp", dest: "https://bucket/x" }, /--dest: must look like s3:\/\//],
    ["region auto without endpoint", { source: "directory", name: "x", path: "/tmp", endpoint: undefined }, /--region auto .*--endpoint/],
    ["a tiny part size", { source: "directory", name: "x", path: "/tmp", partSizeMiB: 1 }, /--part-size/],
  ];
  test.each(cases)("%s", async (_label, spec, re) => {
    const before = s3.requests.length;
    const r = await runner(backupArgs({ recipients: [key.recipient], ...dest(), ...spec } as BackupSpec), env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
    expect(s3.requests.length).toBe(before);
  });

  test("every command has --help", async () => {
    for (const cmd of ["backup", "list", "restore", "verify", "status", "schedule"]) {
      const r = await runner([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Usage: lifeboat-runner ${cmd}`));
    }
  });

  test("flags have environment equivalents", async () => {
    const src = join(work, "env-src");
    mkdirSync(src);
    writeFileSync(join(src, "f"), "x");
    const r = await runner(["backup", "--source", "directory", "--name", "via-env", "--json"], {
      ...env(),
      LIFEBOAT_DEST: DEST,
      LIFEBOAT_S3_ENDPOINT: s3.endpoint,
      AWS_REGION: "auto",
      LIFEBOAT_AGE_RECIPIENTS: `${key.recipient},${ageKey(work).recipient}`,
      LIFEBOAT_SOURCE_PATH: src,
      LIFEBOAT_STATE_FILE: join(work, "env-state.json"),
    });
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(JSON.parse(r.stdout).manifest.encryption.recipientFingerprints).toHaveLength(2);
    const rr = await runner(["restore", "--name", "via-env", "--target-dir", join(work, "env-restored")], {
      ...env(),
      LIFEBOAT_DEST: DEST,
      LIFEBOAT_S3_ENDPOINT: s3.endpoint,
      AWS_REGION: "auto",
      LIFEBOAT_AGE_IDENTITY_FILE: key.file,
    });
    expect(describeRun(rr)).toMatch(/^exit 0/);
  });
});

describe("schedule", () => {
  test("runs the command (here at start), logs JSON lines, and stops cleanly on SIGTERM", async () => {
    const src = join(work, "sched-src");
    mkdirSync(src);
    writeFileSync(join(src, "f"), "x");
    const local = join(work, "sched-backups");
    const args = scheduleArgs("0 3 * * *", backupArgs({ source: "directory", name: "sched", path: src, recipients: [key.recipient], noUpload: true, localDir: local, stateFile: join(work, "sched-state.json") }), { runAtStart: true, stateFile: join(work, "sched-state.json") });
    const child = spawn(process.execPath, [RUNNER_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    let err = "";
    child.stderr!.on("data", (b) => (err += b));
    child.stdout!.on("data", () => undefined);
    const closed = new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    try {
      await waitFor("the scheduled run", () => /"msg":"run finished: backup"/.test(err), 30_000);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await closed).toBe(0);
    const lines = err.trim().split("\n").filter((l) => l.startsWith("{"));
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(err).toMatch(/"msg":"scheduled backup at \\"0 3 \* \* \*\\" \(UTC\)"/);
    const list = JSON.parse((await runner(listArgs({ name: "sched", localDir: local, json: true }), {})).stdout);
    expect(list.backups).toHaveLength(1);
    const st = await runner(statusArgs({ name: "sched", local: true, maxAge: "1h", stateFile: join(work, "sched-state.json"), json: true }), {});
    expect(describeRun(st)).toMatch(/^exit 0/);
    expect(JSON.parse(st.stdout).sources[0].newest.key).toBe(list.backups[0].key);
  });

  test("status --local: a scheduler that just started is healthy until max-age passes without a run", async () => {
    const stateFile = join(work, "fresh-state.json");
    const child = spawn(process.execPath, [RUNNER_BIN, ...scheduleArgs("0 3 * * *", ["status"], { stateFile })], { stdio: "ignore", env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    const closed = new Promise((r) => child.on("close", r));
    try {
      await waitFor("the scheduler's state file", () => existsSync(stateFile), 10_000);
    } finally {
      child.kill("SIGTERM");
      await closed;
    }
    const fresh = await runner(statusArgs({ name: "db", local: true, maxAge: "1h", stateFile }), {});
    expect(describeRun(fresh)).toMatch(/^exit 0/);
    await new Promise((r) => setTimeout(r, 1100));
    const late = await runner(statusArgs({ name: "db", local: true, maxAge: "1s", stateFile }), {});
    expect(late.code).toBe(1);
    expect(late.stdout).toMatch(/no run recorded/);
  });

  test("rejects a bad cron expression", async () => {
    const r = await runner(scheduleArgs("every day", ["status"]));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--cron: .*5-field/);
  });
});

test("every request above passed the strict S3 layer (lock-enabled bucket: checksums present and right; part sizes)", () => {
  expect(s3.violations).toEqual([]);
});
