/**
 * End to end against a real PostgreSQL 15 cluster, s3rver on loopback (behind a recording,
 * fault-injecting proxy) and a local webhook, running the built CLI with the exact argv the
 * Pulumi components use (the builders exported by lifeboat-runner).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { backupArgs, listArgs, restoreArgs, statusArgs, verifyArgs, BackupSpec } from "lifeboat-runner";
import { startPostgres, PgServer } from "../support/postgres";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, REPO, requireBuiltRunner, runner } from "../support/runner";
import { exec, execOk } from "../support/exec";
import { requireTool } from "../support/tools";
import { stockRestoreScript } from "../../components/runbook/stockTools";
import { waitFor, freePort } from "../support/ports";

jest.setTimeout(180_000);

const BUCKET = "lifeboat-e2e";
const PREFIX = "prod";
const DEST = `s3://${BUCKET}/${PREFIX}`;
const PAGILA = resolve(REPO, "../shared/fixtures/pagila");
const MARKER = "lifeboat-plaintext-marker-7c1e";

let pg: PgServer;
let s3: S3Server;
let hook: Hook;
let key: AgeKey;
let other: AgeKey;
let work: string;

const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "us-east-1", stateFile: join(work, "state.json"), workDir: work });
const env = () => ({ ...s3.env });

async function psqlFile(db: string, file: string): Promise<void> {
  await execOk("psql", ["-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url(db), "-f", file]);
}

/** Row count and content checksum of every table and materialized view, plus every sequence's state. */
async function fingerprint(db: string): Promise<Record<string, string>> {
  const rels = await pg.query<{ s: string; n: string; k: string; p: boolean }>(
    db,
    `SELECT n.nspname AS s, c.relname AS n, c.relkind AS k, c.relispopulated AS p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r','m') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2`,
  );
  const out: Record<string, string> = {};
  for (const r of rels) {
    if (!r.p) {
      out[`${r.s}.${r.n}`] = "not populated";
      continue;
    }
    const ident = `"${r.s}"."${r.n}"`;
    const only = r.k === "r" ? "ONLY " : "";
    const [row] = await pg.query<{ c: string; h: string }>(
      db,
      `SELECT count(*)::text AS c, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS h FROM ${only}${ident} t`,
    );
    out[`${r.s}.${r.n}`] = `${row!.c}:${row!.h}`;
  }
  const seqs = await pg.query<{ s: string; n: string; v: string | null; c: boolean }>(
    db,
    `SELECT schemaname AS s, sequencename AS n, last_value::text AS v FROM pg_sequences ORDER BY 1, 2`,
  );
  for (const q of seqs) out[`seq ${q.s}.${q.n}`] = String(q.v);
  return out;
}

async function createDb(name: string): Promise<void> {
  await pg.query("postgres", `CREATE DATABASE "${name}"`);
}

function backup(spec: Partial<BackupSpec> & { name: string }) {
  return runner(
    backupArgs({ source: "postgres", url: pg.url("app"), recipients: [key.recipient], ...dest(), json: true, ...spec }),
    env(),
  );
}

beforeAll(async () => {
  requireBuiltRunner();
  requireTool("rclone", "rclone");
  requireTool("sha256sum", "coreutils");
  work = mkdtempSync(join(tmpdir(), "lifeboat-pg-e2e-"));
  [pg, s3, hook] = await Promise.all([startPostgres(), startS3(), startWebhook()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
  other = ageKey(work);
  await createDb("app");
  await psqlFile("app", join(PAGILA, "schema.sql"));
  await psqlFile("app", join(PAGILA, "data.sql"));
  await pg.query("app", "REFRESH MATERIALIZED VIEW public.rental_by_category");
  // Generated data beside Pagila: a table with an identity column, numerics, json and NULLs.
  await pg.query(
    "app",
    `CREATE SCHEMA crm;
     CREATE TABLE crm.leads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL, score numeric(6,2), meta jsonb, note text);
     INSERT INTO crm.leads (email, score, meta, note)
       SELECT 'lead' || g || '@example.com', (g % 1000) / 10.0, jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 7)),
              CASE WHEN g % 5 = 0 THEN NULL WHEN g = 4242 THEN '${MARKER}' ELSE repeat('x', g % 50) END
       FROM generate_series(1, 20000) g;`,
  );
}, 180_000);

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop(), hook?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("postgres backup -> list -> restore", () => {
  let backupKey: string;
  let manifest: any;

  test("backs up Pagila plus generated data with exact per-table row counts from the dump's snapshot", async () => {
    const r = await backup({ name: "app" });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    manifest = out.manifest;
    backupKey = manifest.key;
    expect(backupKey).toMatch(new RegExp(`^${PREFIX}/app/(daily|weekly|monthly|yearly)/\\d{8}T\\d{6}\\.\\d{3}Z-[0-9a-f]+\\.dump\\.zst\\.age$`));
    const keys = await s3.keys(BUCKET, `${PREFIX}/app/`);
    expect(keys).toEqual([backupKey, backupKey + ".manifest.json"]);
    const stored = await s3.get(BUCKET, backupKey);
    expect(stored.length).toBe(manifest.storedBytes);
    expect(require("node:crypto").createHash("sha256").update(stored).digest("hex")).toBe(manifest.sha256);
    // Counts in the manifest equal the source's, partitions included.
    const counts = Object.fromEntries(manifest.postgres.tables.map((t: any) => [t.table, t.rows]));
    expect(counts["public.payment_p2022_01"]).toBeGreaterThan(0);
    expect(counts["crm.leads"]).toBe(20000);
    expect(counts["public.rental_by_category"]).toBeGreaterThan(0); // materialized view
    expect(counts["public.payment"]).toBeUndefined(); // the partitioned parent holds no rows itself
    const fp = await fingerprint("app");
    for (const [t, n] of Object.entries(counts)) expect(`${t}:${fp[t]!.split(":")[0]}`).toBe(`${t}:${n}`);
    expect(manifest.postgres.serverVersion).toMatch(/^\d+/);
    expect(manifest.tools.pg_dump).toMatch(/pg_dump/);
    expect(manifest.encryption.recipientFingerprints).toHaveLength(1);
    // Requests were conditional puts, never plain overwrites.
    expect(s3.requests.some((q) => q.method === "PUT" && q.url.includes(encodeURI(backupKey.split("/").pop()!)))).toBe(true);
  });

  test("lists the backup", async () => {
    const r = await runner(listArgs({ name: "app", ...dest(), json: true }), env());
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout).backups;
    expect(rows.map((x: any) => x.key)).toEqual([backupKey]);
    expect(rows[0].verified).toBe("no");
  });

  test("restores into an empty database: row counts, checksums, sequences and the materialized view are identical", async () => {
    await createDb("restored");
    const r = await runner(restoreArgs({ name: "app", identity: key.file, targetUrl: pg.url("restored"), jobs: 2, ...dest(), json: true }), env());
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).rowCountMismatches).toEqual([]);
    expect(await fingerprint("restored")).toEqual(await fingerprint("app"));
  });

  test("refuses a non-empty target without --force", async () => {
    const r = await runner(restoreArgs({ name: "app", identity: key.file, targetUrl: pg.url("restored"), ...dest() }), env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty.*--force/);
  });

  test("verify restores into a scratch database, compares row counts and records the result", async () => {
    const r = await runner(verifyArgs({ name: "app", identity: key.file, scratchUrl: pg.url("postgres"), ...dest() }), env());
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(r.stdout).toMatch(/verify ok/);
    const records = await s3.keys(BUCKET, `${PREFIX}/_verifications/app/`);
    expect(records).toHaveLength(1);
    const rec = JSON.parse((await s3.get(BUCKET, records[0]!)).toString());
    expect(rec).toMatchObject({ key: backupKey, ok: true, problems: [] });
    const dbs = await pg.query<{ datname: string }>("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'lifeboat_verify_%'");
    expect(dbs).toEqual([]); // scratch database dropped
    const list = JSON.parse((await runner(listArgs({ name: "app", ...dest(), json: true }), env())).stdout);
    expect(list.backups[0].verified).toBe("ok");
  });

  test("wrong or missing identity: a clear error and the target untouched", async () => {
    await createDb("untouched");
    const wrong = await runner(restoreArgs({ name: "app", identity: other.file, targetUrl: pg.url("untouched"), ...dest() }), env());
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/cannot decrypt/);
    expect(wrong.stderr).toContain(other.file);
    const missing = await runner(restoreArgs({ name: "app", targetUrl: pg.url("untouched"), ...dest() }), env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--identity KEYFILE .*is required/);
    const notKey = await runner(restoreArgs({ name: "app", identity: join(PAGILA, "README.md"), targetUrl: pg.url("untouched"), ...dest() }), env());
    expect(notKey.code).toBe(2);
    expect(notKey.stderr).toMatch(/holds no age private key/);
    const tables = await pg.query("untouched", "SELECT 1 FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')");
    expect(tables).toEqual([]);
  });

  test("a runner holding only the recipient cannot read its own backups", async () => {
    const stored = await s3.get(BUCKET, backupKey);
    expect(stored.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    expect(stored.includes(Buffer.from(MARKER))).toBe(false);
    expect(stored.includes(Buffer.from("PGDMP"))).toBe(false);
    // The backup command never takes an identity; restore without one is refused, and age with
    // any key but the recipient's fails.
    const r = await runner(restoreArgs({ name: "app", targetDir: join(work, "nope"), ...dest() }), env());
    expect(r.code).toBe(2);
    const f = join(work, "stolen.age");
    require("node:fs").writeFileSync(f, stored);
    const dec = await exec("age", ["-d", "-i", other.file, f]);
    expect(dec.code).not.toBe(0);
    expect(dec.stderr).toMatch(/no identity matched/);
  });

  test("restores with stock tools alone (rclone, sha256sum, age -d, zstd -d, pg_restore) using the runbook's exact commands", async () => {
    // The script the generated runbook prints (components/runbook/stockTools.ts), with this
    // test's values; docs/runbook.md's stock-restore block is its body (test/components/runbook.test.ts).
    // KEY is left empty: the script finds the newest backup with a manifest itself.
    const script = stockRestoreScript({
      kind: "postgres", endpoint: s3.endpoint, region: "us-east-1", bucket: BUCKET, prefix: PREFIX, source: "app",
      identity: key.file, target: pg.url("stock"),
    });
    const doc = readFileSync(join(REPO, "docs/runbook.md"), "utf8");
    const m = /<!-- stock-restore:begin -->\s*```bash\n([\s\S]*?)```\s*<!-- stock-restore:end -->/.exec(doc);
    expect(m).not.toBeNull();
    expect(script.endsWith(m![1]!)).toBe(true);
    await createDb("stock");
    const dir = mkdtempSync(join(work, "stock-"));
    const r = await exec("bash", ["-euo", "pipefail", "-c", script], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...s3.env },
    });
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(r.stderr).toContain(`restoring ${backupKey}`);
    expect(await fingerprint("stock")).toEqual(await fingerprint("app"));
  });
});

describe("corruption", () => {
  test("verify detects and names a corrupted object and a truncated object (exit 1)", async () => {
    const a = JSON.parse((await backup({ name: "app-corrupt" })).stdout).manifest.key as string;
    const b = JSON.parse((await backup({ name: "app-corrupt" })).stdout).manifest.key as string;
    const good = await s3.get(BUCKET, a);
    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.length / 2)] ^= 0xff;
    await s3.put(BUCKET, a, flipped); // s3rver ignores If-None-Match: plays bit rot
    const good2 = await s3.get(BUCKET, b);
    await s3.put(BUCKET, b, good2.subarray(0, Math.floor(good2.length / 2)));

    const rc = await runner(verifyArgs({ name: "app-corrupt", key: a, identity: key.file, scratchUrl: pg.url("postgres"), ...dest() }), env());
    expect(rc.code).toBe(1);
    expect(rc.stdout).toContain(a);
    expect(rc.stdout).toMatch(/corrupted/);
    const rt = await runner(verifyArgs({ name: "app-corrupt", key: b, identity: key.file, scratchUrl: pg.url("postgres"), ...dest() }), env());
    expect(rt.code).toBe(1);
    expect(rt.stdout).toContain(b);
    expect(rt.stdout).toMatch(/truncated/);
    // A restore of the corrupted object fails without touching the target.
    await createDb("from-corrupt");
    const rr = await runner(restoreArgs({ name: "app-corrupt", key: a, identity: key.file, targetUrl: pg.url("from-corrupt"), ...dest() }), env());
    expect(rr.code).toBe(1);
    expect(rr.stderr).toContain(a);
    expect(await pg.query("from-corrupt", "SELECT 1 FROM pg_tables WHERE schemaname = 'public'")).toEqual([]);
    // status reports the failed verification of the newest backup.
    const st = await runner(statusArgs({ name: "app-corrupt", maxAge: "1h", ...dest(), json: true }), env());
    expect(st.code).toBe(1);
    expect(JSON.parse(st.stdout).sources[0].problems.join(" ")).toMatch(/verification failed/);
  });
});

describe("failures leave no backup behind", () => {
  beforeAll(async () => {
    // ~48 MB of hex text (zstd halves it): many 5 MiB parts, so the dump is still streaming when we kill it.
    await createDb("big");
    await pg.query(
      "big",
      `CREATE TABLE noise (id int PRIMARY KEY, blob text);
       INSERT INTO noise SELECT g, (SELECT string_agg(md5(random()::text || g || s), '') FROM generate_series(1, 50) s) FROM generate_series(1, 30000) g;`,
    );
  });

  const bigSpec = (extra: Partial<BackupSpec> = {}) =>
    backupArgs({
      source: "postgres",
      name: "big",
      url: pg.url("big"),
      recipients: [key.recipient],
      ...dest(),
      partSizeMiB: 5,
      concurrency: 1,
      alertWebhook: hook.url + "/slack",
      pingUrl: hook.url + "/ping",
      ...extra,
    });

  test("pg_dump dying mid-stream: upload aborted, no manifest, exit 1, alert sent, previous backups untouched", async () => {
    const before = await s3.keys(BUCKET);
    const beforeBodies = await Promise.all(before.map((k) => s3.get(BUCKET, k)));
    hook.received.length = 0;
    const seen = s3.requests.length;
    s3.setFault({ kind: "slow-parts", ms: 400 });
    const run = runner(bigSpec(), env());
    try {
      await waitFor("the first uploaded part", () => s3.requests.slice(seen).some((q) => q.method === "PUT" && q.url.includes("partNumber=")), 60_000);
      const killed = await pg.query<{ t: boolean }>("postgres", "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = 'pg_dump'");
      expect(killed.length).toBeGreaterThan(0);
    } finally {
      s3.setFault({ kind: "none" });
    }
    const r = await run;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pg_dump/);
    const reqs = s3.requests.slice(seen);
    expect(reqs.some((q) => q.method === "POST" && q.url.includes("uploads"))).toBe(true); // multipart started
    expect(reqs.some((q) => q.method === "DELETE" && q.url.includes("uploadId="))).toBe(true); // and aborted
    expect(reqs.some((q) => q.method === "POST" && q.url.includes("uploadId="))).toBe(false); // never completed
    const after = await s3.keys(BUCKET);
    expect(after).toEqual(before);
    expect(await Promise.all(after.map((k) => s3.get(BUCKET, k)))).toEqual(beforeBodies);
    await waitFor("alert", () => hook.received.some((x) => x.path === "/slack"));
    const slack = hook.received.find((x) => x.path === "/slack")!;
    expect(JSON.parse(slack.body).text).toMatch(/backup of big .*FAILED.*pg_dump/);
    expect(hook.received.map((x) => x.path)).toEqual(expect.arrayContaining(["/ping/start", "/ping/fail"]));
    const st = await runner(statusArgs({ name: "big", local: true, stateFile: join(work, "state.json"), json: true }), {});
    expect(st.code).toBe(1);
    expect(JSON.parse(st.stdout).sources[0].problems.join(" ")).toMatch(/failed/);
  });

  test("S3 endpoint down: bounded retries, then a clean failure and no object", async () => {
    const port = await freePort(); // nothing listens here
    const t0 = Date.now();
    const r = await runner(bigSpec({ name: "down", endpoint: `http://127.0.0.1:${port}`, maxAttempts: 3 }), env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expect(r.stderr).toMatch(/after 3 attempt/);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(await s3.keys(BUCKET, `${PREFIX}/down/`)).toEqual([]);
  });

  test("S3 endpoint dropping connections mid-upload: retries each part a bounded number of times, aborts, no manifest", async () => {
    const seen = s3.requests.length;
    s3.setFault({ kind: "drop-after-parts", parts: 1 });
    let r;
    try {
      r = await runner(bigSpec({ name: "dropped", maxAttempts: 3 }), env());
    } finally {
      s3.setFault({ kind: "none" });
    }
    expect(r.code).toBe(1);
    const reqs = s3.requests.slice(seen);
    const part2 = reqs.filter((q) => q.method === "PUT" && /partNumber=2(&|$)/.test(q.url));
    expect(part2.length).toBe(3); // maxAttempts, then give up
    expect(reqs.some((q) => q.method === "POST" && q.url.includes("uploadId="))).toBe(false);
    expect(reqs.some((q) => q.method === "DELETE" && q.url.includes("uploadId="))).toBe(true);
    expect(await s3.keys(BUCKET, `${PREFIX}/dropped/`)).toEqual([]);
    expect(r.stderr).toMatch(/upload to s3:\/\/lifeboat-e2e\/prod\/dropped\//);
  });
});

test("every request above passed the strict S3 layer (lock-enabled bucket: checksums present and right; part sizes)", () => {
  expect(s3.violations).toEqual([]);
});
