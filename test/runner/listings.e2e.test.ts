/**
 * What `status`, `report` and `list` list against the bucket (every LIST is a paid Class A request
 * and, on a large bucket, time), counted at the strict S3 layer with three sources: a pg_dump
 * source, a point-in-time source (wal-stream + basebackup) and a bucket source whose `objects/`
 * holds more stored copies than one listing page. Each command finds the sources by one delimiter
 * listing, lists each folder it reads once, never a bucket source's `objects/` and never a `wal/`
 * that does not exist, and `report` plots the backups `status`'s evaluation listed and read.
 */
import { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, basebackupArgs, keyTimestamp, listArgs, reportArgs, statusArgs, walStreamArgs } from "lifeboat-core";
import { startPostgres, PgServer } from "../support/postgres";
import { startS3, S3Server } from "../support/s3";
import { isListRequest } from "../support/s3List";
import { putObject } from "../support/bucket";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { waitFor } from "../support/ports";
import { killGroup } from "../support/procs";
import { spawnSidecar } from "../support/pitr";

jest.setTimeout(240_000);

const BACKUPS = "lifeboat-listings";
const APP = "listings-app";
const PREFIX = "prod";
const REPL = { user: "lifeboat_repl", password: "repl-s3cret-7c1" };
/** Stored copies under the bucket source's objects/: more than one listing page (1000 keys). */
const STORED_COPIES = 2100;

let pg: PgServer;
let s3: S3Server;
let key: AgeKey;
let work: string;
let sidecar: ChildProcess | undefined;

const dest = () => ({ dest: `s3://${BACKUPS}/${PREFIX}`, endpoint: s3.endpoint, region: "us-east-1", workDir: work });
const bucketEnv = () => ({ ...s3.env, LIFEBOAT_BUCKET_ACCESS_KEY_ID: "S3RVER", LIFEBOAT_BUCKET_SECRET_ACCESS_KEY: "S3RVER" });

async function ok(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runner(args, env);
  expect(describeRun(r)).toMatch(/^exit 0/);
  return r.stdout;
}

/** The LIST requests a run made: prefix, delimiter, and whether it continued an earlier page. */
async function listingsOf(run: () => Promise<unknown>): Promise<Array<{ prefix: string; delimiter: string; page: boolean }>> {
  const from = s3.requests.length;
  await run();
  return s3.requests
    .slice(from)
    .filter(isListRequest)
    .map((r) => {
      const q = new URL(r.url, "http://x").searchParams;
      return { prefix: q.get("prefix") ?? "", delimiter: q.get("delimiter") ?? "", page: q.has("continuation-token") };
    });
}

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-listings-"));
  chmodSync(work, 0o755);
  key = ageKey(work);
  [s3, pg] = await Promise.all([startS3(), startPostgres({ replication: REPL, walSegSizeMB: 1 })]);
  await s3.createBucket(BACKUPS);
  await s3.createBucket(APP, { objectLock: false });
  await pg.query("postgres", "CREATE DATABASE crm OWNER app");
  await pg.query("crm", "SET ROLE app; CREATE TABLE leads (id serial PRIMARY KEY, name text); INSERT INTO leads (name) SELECT 'lead ' || g FROM generate_series(1, 500) g");
  await pg.query("postgres", "CREATE DATABASE app");
  await pg.query("app", "CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");

  // A pg_dump source with two backups.
  for (let i = 0; i < 2; i++) await ok(backupArgs({ source: "postgres", name: "crm", recipients: [key.recipient], ...dest() }), { ...s3.env, LIFEBOAT_SOURCE_URL: pg.appUrl("crm") });

  // A point-in-time source: wal-stream ships WAL and heartbeats while a base backup is taken.
  const spool = join(work, "spool");
  sidecar = spawnSidecar(
    walStreamArgs({ name: "app-db", recipients: [key.recipient], flushInterval: "1s", maxLag: "30s", heartbeatInterval: "1s", spoolDir: spool, statusIntervalSeconds: 1, ...dest() }),
    { ...s3.env, LIFEBOAT_SOURCE_URL: pg.replicationUrl!("app") },
  );
  await ok(basebackupArgs({ name: "app-db", recipients: [key.recipient], fastCheckpoint: true, ...dest() }), { ...s3.env, LIFEBOAT_SOURCE_URL: pg.replicationUrl!("app") });
  await pg.query("app", "INSERT INTO ticks SELECT FROM generate_series(1, 1000); SELECT pg_switch_wal()");
  await waitFor("WAL and a heartbeat in the bucket", async () => {
    const keys = await s3.keys(BACKUPS, `${PREFIX}/app-db/wal/`);
    return keys.some((k) => k.includes("/heartbeat/")) && keys.some((k) => /\/wal\/[0-9A-F]{24}\./.test(k));
  }, 60_000);
  await killGroup(sidecar);
  sidecar = undefined;

  // A bucket source: one snapshot, and more stored copies under objects/ than a listing page holds
  // (planted: what a large app bucket leaves there; copying 2,100 objects through age would only slow the test).
  for (let i = 0; i < 3; i++) await putObject(s3.client, APP, `media/img-${i}.png`, Buffer.alloc(100 + i, i), "image/png");
  await ok(backupArgs({ source: "bucket", name: "media", bucketUrl: `s3://${APP}/media`, bucketEndpoint: s3.endpoint, recipients: [key.recipient], ...dest() }), bucketEnv());
  const t = keyTimestamp(new Date());
  for (let i = 0; i < STORED_COPIES; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => s3.put(BACKUPS, `${PREFIX}/media/objects/${t}-${(i + j).toString(16).padStart(12, "0")}.age`, Buffer.from("copy"))));
  }
  expect((await s3.keys(BACKUPS, `${PREFIX}/app-db/`)).length).toBeLessThan(1000);
});

afterAll(async () => {
  if (sidecar) await killGroup(sidecar);
  await pg?.stop();
  await s3?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * The listings each command needs, one request each: the sources (one delimiter listing of the
 * prefix); per source its folders (one delimiter listing), then the dump source and the PITR
 * source whole (tiers and wal/ in one listing: nothing else is under them), the bucket source's
 * snapshots/ only; and each source's verification records (one level: not the status pages).
 */
const NEEDED = [
  { prefix: `${PREFIX}/`, delimiter: "/" },
  { prefix: `${PREFIX}/app-db/`, delimiter: "/" },
  { prefix: `${PREFIX}/app-db/`, delimiter: "" },
  { prefix: `${PREFIX}/_verifications/app-db/`, delimiter: "/" },
  { prefix: `${PREFIX}/crm/`, delimiter: "/" },
  { prefix: `${PREFIX}/crm/`, delimiter: "" },
  { prefix: `${PREFIX}/_verifications/crm/`, delimiter: "/" },
  { prefix: `${PREFIX}/media/`, delimiter: "/" },
  { prefix: `${PREFIX}/media/snapshots/`, delimiter: "" },
  { prefix: `${PREFIX}/_verifications/media/`, delimiter: "/" },
];
const sorted = (l: Array<{ prefix: string; delimiter: string }>) => l.map((x) => `${x.prefix} ${x.delimiter}`).sort();

test("status lists each folder it reads once: sources by delimiter, never a bucket source's objects/ nor a wal/ that is not there", async () => {
  let out = "";
  const lists = await listingsOf(async () => {
    const r = await runner(statusArgs({ maxAge: "1h", ...dest(), json: true }), s3.env);
    out = r.stdout;
  });
  expect(JSON.parse(out).sources.map((s: { source: string }) => s.source)).toEqual(["app-db", "crm", "media"]);
  expect(lists.filter((l) => l.page)).toEqual([]);
  expect(sorted(lists)).toEqual(sorted(NEEDED));
});

test("report plots the backups status's evaluation listed and read: no listing of its own, no manifest read twice", async () => {
  const html = join(work, "status.html");
  const from = s3.requests.length;
  const lists = await listingsOf(() => ok(reportArgs({ html, ...dest() }), s3.env));
  expect(sorted(lists)).toEqual(sorted(NEEDED));
  const manifests = s3.requests.slice(from).filter((r) => r.method === "GET" && r.url.includes(".manifest.json")).map((r) => r.url);
  expect(manifests.length).toBeGreaterThan(0);
  expect(manifests.filter((u, i) => manifests.indexOf(u) !== i)).toEqual([]);
  // The trend charts still have the dump source's two backups and the PITR source's base backup.
  const report = JSON.parse(await ok(reportArgs({ html, ...dest(), json: true }), s3.env));
  expect(Object.fromEntries(report.sources.map((s: { source: string; trend: unknown[] }) => [s.source, s.trend.length]))).toEqual({ "app-db": 1, crm: 2, media: 0 });
});

test("list lists what status does, and a source's verification records once", async () => {
  let out = "";
  const lists = await listingsOf(async () => {
    out = await ok(listArgs({ ...dest(), json: true }), s3.env);
  });
  const rows = JSON.parse(out).backups as Array<{ source: string; tier: string }>;
  expect(rows.map((r) => `${r.source} ${r.tier === "snapshot" ? "snapshot" : "backup"}`)).toEqual(["app-db backup", "crm backup", "crm backup", "media snapshot"]);
  expect(sorted(lists)).toEqual(sorted(NEEDED));
});
