/**
 * Every stock-tools script the runbook prints for a non-Postgres kind runs as printed on a
 * clean machine: a fresh working directory and a target whose directories do not exist yet
 * (the runbook's default targets, e.g. /srv/restore/NAME/dump.rdb, are such paths). The
 * Postgres script is run by test/runner/postgres.e2e.test.ts.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, BackupSpec } from "lifeboat-core";
import { stockRestoreScript } from "../../components/runbook/stockTools";
import { startS3, S3Server } from "../support/s3";
import { startRedis, RedisServer } from "../support/redis";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { exec, execOk } from "../support/exec";
import { requireTool } from "../support/tools";

jest.setTimeout(120_000);

const BUCKET = "lifeboat-stock";
const PREFIX = "stock";

let s3: S3Server;
let redis: RedisServer;
let key: AgeKey;
let work: string;

beforeAll(async () => {
  requireBuiltRunner();
  for (const t of ["rclone", "sqlite3", "redis-server"]) requireTool(t, t === "redis-server" ? "redis-server" : t);
  work = mkdtempSync(join(tmpdir(), "lifeboat-stock-e2e-"));
  [s3, redis] = await Promise.all([startS3(), startRedis()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), redis?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

async function backup(spec: Pick<BackupSpec, "source" | "name"> & Partial<BackupSpec>): Promise<void> {
  const r = await runner(
    backupArgs({ recipients: [key.recipient], dest: `s3://${BUCKET}/${PREFIX}`, endpoint: s3.endpoint, region: "us-east-1", stateFile: join(work, "state.json"), workDir: work, ...spec }),
    { ...s3.env },
  );
  expect(describeRun(r)).toMatch(/^exit 0/);
}

/** Runs the printed script with bash in a fresh, empty working directory. */
async function runStock(kind: "volume" | "directory" | "redis" | "sqlite", source: string, target: string) {
  const script = stockRestoreScript({ kind, endpoint: s3.endpoint, region: "us-east-1", bucket: BUCKET, prefix: PREFIX, source, identity: key.file, target });
  const cwd = mkdtempSync(join(work, "clean-"));
  return exec("bash", ["-c", script], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...s3.env } });
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

test("volume and directory scripts restore into a directory whose parents do not exist, and refuse a non-empty one", async () => {
  const src = join(work, "files");
  mkdirSync(join(src, "sub"), { recursive: true });
  writeFileSync(join(src, "a.txt"), "stock\n");
  writeFileSync(join(src, "sub/b.bin"), Buffer.alloc(70_000, 5));
  await backup({ source: "directory", name: "files", path: src });
  for (const kind of ["directory", "volume"] as const) {
    const target = join(work, `missing-${kind}`, "deeper", "_data");
    const r = await runStock(kind, "files", target);
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(readFileSync(join(target, "a.txt"), "utf8")).toBe("stock\n");
    expect(sha(join(target, "sub/b.bin"))).toBe(sha(join(src, "sub/b.bin")));
    const again = await runStock(kind, "files", target);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`${target} is not empty`);
  }
});

test("redis and sqlite scripts write their file into a directory that does not exist yet", async () => {
  await redis.cli("SET", "greeting", "hello");
  await backup({ source: "redis", name: "cache", url: redis.url });
  const rdb = join(work, "srv/restore/cache/dump.rdb");
  const r = await runStock("redis", "cache", rdb);
  expect(describeRun(r)).toMatch(/^exit 0/);
  expect(readFileSync(rdb).subarray(0, 5).toString()).toBe("REDIS");

  const db = join(work, "app.sqlite");
  await execOk("sqlite3", [db, "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x'), ('y');"]);
  await backup({ source: "sqlite", name: "app-sqlite", path: db });
  const out = join(work, "srv/sqlite-restored/app.sqlite");
  const s = await runStock("sqlite", "app-sqlite", out);
  expect(describeRun(s)).toMatch(/^exit 0/);
  expect(s.stdout.trim()).toBe("ok");
  expect(await execOk("sqlite3", [out, "SELECT count(*) FROM t"])).toBe("2\n");
});
