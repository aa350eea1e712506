/**
 * Every stock-tools script the runbook prints runs as printed on a clean machine: a fresh
 * working directory and a target whose directories do not exist yet (the runbook's default
 * targets, e.g. /srv/restore/NAME/dump.rdb, are such paths), a fresh PostgreSQL cluster that
 * lacks the app's roles (scram passwords, through PGPASSWORD), and the "get back one table /
 * one file" scripts. test/runner/postgres.e2e.test.ts also runs the Postgres script.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, BackupSpec } from "lifeboat-core";
import { stockRestoreScript } from "../../components/runbook/stockTools";
import { startS3, S3Server } from "../support/s3";
import { startRedis, RedisServer } from "../support/redis";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { exec, execOk } from "../support/exec";
import { requireTool } from "../support/tools";
import { startPostgres, PgServer } from "../support/postgres";

jest.setTimeout(120_000);

const BUCKET = "lifeboat-stock";
const PREFIX = "stock";

let s3: S3Server;
let redis: RedisServer;
let src: PgServer;
let fresh: PgServer;
let key: AgeKey;
let work: string;

beforeAll(async () => {
  requireBuiltRunner();
  for (const t of ["rclone", "sqlite3", "redis-server"]) requireTool(t, t === "redis-server" ? "redis-server" : t);
  work = mkdtempSync(join(tmpdir(), "lifeboat-stock-e2e-"));
  [s3, redis, src, fresh] = await Promise.all([startS3(), startRedis(), startPostgres(), startPostgres()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), redis?.stop(), src?.stop(), fresh?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

async function backup(spec: Pick<BackupSpec, "source" | "name"> & Partial<BackupSpec>): Promise<void> {
  const r = await runner(
    backupArgs({ recipients: [key.recipient], dest: `s3://${BUCKET}/${PREFIX}`, endpoint: s3.endpoint, region: "us-east-1", stateFile: join(work, "state.json"), workDir: work, ...spec }),
    { ...s3.env },
  );
  expect(describeRun(r)).toMatch(/^exit 0/);
}

/** Runs the printed script with bash in a fresh, empty working directory (`env`: e.g. PGPASSWORD). */
async function runStock(
  kind: "postgres" | "volume" | "directory" | "redis" | "sqlite",
  source: string,
  target: string,
  only: { table?: { schema: string; name: string }; member?: string } = {},
  env: Record<string, string> = {},
) {
  const script = stockRestoreScript({ kind, endpoint: s3.endpoint, region: "us-east-1", bucket: BUCKET, prefix: PREFIX, source, identity: key.file, target, ...only });
  const cwd = mkdtempSync(join(work, "clean-"));
  return exec("bash", ["-c", script], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...s3.env, ...env } });
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

test("one file (and a directory) of a directory archive comes back alone, into a new directory; a file already there is not overwritten", async () => {
  const src = join(work, "one-src");
  mkdirSync(join(src, "uploads/2026"), { recursive: true });
  writeFileSync(join(src, "a.txt"), "not wanted\n");
  writeFileSync(join(src, "uploads/2026/contract.pdf"), "pdf\n");
  writeFileSync(join(src, "uploads/2026/photo.jpg"), "jpg\n");
  await backup({ source: "directory", name: "one-files", path: src });
  const target = join(work, "one-missing", "restored");
  const r = await runStock("directory", "one-files", target, { member: "uploads/2026/contract.pdf" });
  expect(describeRun(r)).toMatch(/^exit 0/);
  expect(readFileSync(join(target, "uploads/2026/contract.pdf"), "utf8")).toBe("pdf\n");
  expect(readdirSync(target)).toEqual(["uploads"]);
  expect(readdirSync(join(target, "uploads/2026"))).toEqual(["contract.pdf"]);
  // The same file again, after it was edited: refused, the edit kept.
  writeFileSync(join(target, "uploads/2026/contract.pdf"), "edited\n");
  const again = await runStock("directory", "one-files", target, { member: "/uploads/2026/contract.pdf" });
  expect(again.code).not.toBe(0);
  expect(again.stderr).toMatch(/File exists/);
  expect(readFileSync(join(target, "uploads/2026/contract.pdf"), "utf8")).toBe("edited\n");
  // A directory member beside it: everything under it that is not there yet.
  rmSync(join(target, "uploads/2026/contract.pdf"));
  const dir = await runStock("volume", "one-files", target, { member: "uploads" });
  expect(describeRun(dir)).toMatch(/^exit 0/);
  expect(readdirSync(join(target, "uploads/2026")).sort()).toEqual(["contract.pdf", "photo.jpg"]);
});

describe("postgres scripts on a fresh cluster that lacks the app's roles", () => {
  const target = (db: string) => `postgres://postgres@127.0.0.1:${fresh.port}/${db}`;
  const asSuper = { PGPASSWORD: "" };
  beforeAll(async () => {
    asSuper.PGPASSWORD = fresh.superPassword;
    await src.query(
      "postgres",
      `CREATE ROLE readers NOLOGIN; CREATE ROLE reporter LOGIN PASSWORD 'reporter secret'; GRANT readers TO reporter;`,
    );
    await src.query("postgres", "CREATE DATABASE crm OWNER reporter");
    await src.query(
      "crm",
      `SET ROLE reporter;
       CREATE SCHEMA sales;
       CREATE TABLE sales.leads (id int PRIMARY KEY, email text);
       INSERT INTO sales.leads SELECT g, 'l' || g || '@x.io' FROM generate_series(1, 300) g;
       CREATE TABLE public.audit (id serial PRIMARY KEY, what text);
       INSERT INTO public.audit (what) SELECT 'a' || g FROM generate_series(1, 40) g;
       GRANT SELECT ON sales.leads TO readers;`,
    );
    // The backup identity: superuser here, so it can read every table and the roles.
    await backup({ source: "postgres", name: "crm", url: src.url("crm") });
  });

  test("the whole-database script creates the roles first (no password), then restores owners, grants and rows", async () => {
    await fresh.query("postgres", "CREATE DATABASE crm_restored");
    const r = await runStock("postgres", "crm", target("crm_restored"), {}, asSuper);
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(await fresh.query("postgres", "SELECT rolname, rolcanlogin, rolpassword IS NULL AS nopw FROM pg_authid WHERE rolname IN ('readers', 'reporter') ORDER BY 1")).toEqual([
      { rolname: "readers", rolcanlogin: false, nopw: true },
      { rolname: "reporter", rolcanlogin: true, nopw: true },
    ]);
    expect(await fresh.query("postgres", "SELECT pg_has_role('reporter', 'readers', 'MEMBER') AS m")).toEqual([{ m: true }]);
    expect(await fresh.query("crm_restored", "SELECT tableowner, (SELECT count(*)::int FROM sales.leads) AS n, has_table_privilege('readers', 'sales.leads', 'SELECT') AS g FROM pg_tables WHERE tablename = 'leads'")).toEqual([
      { tableowner: "reporter", n: 300, g: true },
    ]);
    // Into a database that is no longer empty: refused, nothing dropped.
    const again = await runStock("postgres", "crm", target("crm_restored"), {}, asSuper);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/is not empty/);
    expect(await fresh.query("crm_restored", "SELECT count(*)::int AS n FROM sales.leads")).toEqual([{ n: 300 }]);
  });

  test("the one-table script restores that table and its rows (count checked against the manifest) into a staging database, and refuses one that holds it", async () => {
    await fresh.query("postgres", "CREATE DATABASE staging");
    await fresh.query("staging", "CREATE TABLE public.other (v int); INSERT INTO public.other VALUES (1)");
    const r = await runStock("postgres", "crm", target("staging"), { table: { schema: "sales", name: "leads" } }, asSuper);
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(r.stderr).toMatch(/restored sales\.leads: 300 rows/);
    expect(await fresh.query("staging", "SELECT count(*)::int AS n FROM sales.leads")).toEqual([{ n: 300 }]);
    expect(await fresh.query("staging", "SELECT to_regclass('public.audit') IS NULL AS only_that, (SELECT count(*)::int FROM public.other) AS kept")).toEqual([{ only_that: true, kept: 1 }]);
    await fresh.query("staging", "DELETE FROM sales.leads WHERE id > 1");
    const again = await runStock("postgres", "crm", target("staging"), { table: { schema: "sales", name: "leads" } }, asSuper);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already holds sales\.leads/);
    expect(await fresh.query("staging", "SELECT count(*)::int AS n FROM sales.leads")).toEqual([{ n: 1 }]);
    // A restore that does not match the manifest's count fails, naming both counts.
    const backupKey = /restoring (\S+)/.exec(r.stderr)![1]!;
    const m = JSON.parse((await s3.get(BUCKET, `${backupKey}.manifest.json`)).toString());
    for (const t of m.postgres.tables) if (t.table === "sales.leads") t.rows = 299;
    await s3.put(BUCKET, `${backupKey}.manifest.json`, Buffer.from(JSON.stringify(m)));
    await fresh.query("postgres", "CREATE DATABASE staging_mismatch");
    const off = await runStock("postgres", "crm", target("staging_mismatch"), { table: { schema: "sales", name: "leads" } }, asSuper);
    expect(off.code).not.toBe(0);
    expect(off.stderr).toMatch(/sales\.leads: restored 300 rows, the manifest says 299/);
  });
});
