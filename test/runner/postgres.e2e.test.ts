/**
 * End to end against a real PostgreSQL 15 cluster that authenticates every connection with
 * scram-sha-256, s3rver on loopback (behind a recording, fault-injecting proxy) and a local
 * webhook, running the built CLI with the exact argv the Pulumi components use (the builders
 * exported by lifeboat-runner). The backup identity is the app's own role (not a superuser).
 * The data is the project's fixture (test/fixtures/pgapp), plus Pagila when
 * ../shared/fixtures/pagila exists (required with CI=true).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { backupArgs, listArgs, restoreArgs, statusArgs, verifyArgs, BackupSpec } from "lifeboat-core";
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
const HAS_PAGILA = existsSync(join(PAGILA, "schema.sql"));
const FIXTURE = join(REPO, "test/fixtures/pgapp");
const MARKER = "lifeboat-plaintext-marker-7c1e";

let pg: PgServer;
let s3: S3Server;
let hook: Hook;
let key: AgeKey;
let other: AgeKey;
let work: string;

const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "us-east-1", stateFile: join(work, "state.json"), workDir: work });
const env = () => ({ ...s3.env });

/** psql -f FILE as the superuser or the app role, the password through the environment, not argv. */
async function psqlFile(db: string, file: string, as: "postgres" | "app" = "postgres"): Promise<void> {
  const password = as === "app" ? pg.app.password : pg.superPassword;
  await execOk("psql", ["-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(pg.port), "-U", as, "-d", db, "-f", file], {
    env: { ...process.env, PGPASSWORD: password },
  });
}

/**
 * Row count and content checksum of every table and materialized view, every sequence's state
 * (value and is_called), every large object's content and the grants on the fixture's tables.
 */
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
  const seqs = await pg.query<{ s: string; n: string }>(db, `SELECT schemaname AS s, sequencename AS n FROM pg_sequences ORDER BY 1, 2`);
  for (const q of seqs) {
    const [v] = await pg.query<{ v: string; c: boolean }>(db, `SELECT last_value::text AS v, is_called AS c FROM "${q.s}"."${q.n}"`);
    out[`seq ${q.s}.${q.n}`] = `${v!.v} called=${v!.c}`;
  }
  const los = await pg.query<{ o: string; h: string }>(db, "SELECT oid::text AS o, md5(lo_get(oid)) AS h FROM pg_largeobject_metadata ORDER BY oid");
  out["large objects"] = los.map((l) => `${l.o}:${l.h}`).join(",");
  const acl = await pg.query<{ n: string; a: string }>(db, "SELECT relname AS n, relacl::text AS a FROM pg_class WHERE relnamespace = 'shop'::regnamespace AND relacl IS NOT NULL ORDER BY 1");
  out["grants shop"] = acl.map((r) => `${r.n}=${r.a}`).join(" ");
  return out;
}

/** A database owned by the app role: the backup, restore and verify identity of these tests. */
async function createDb(name: string): Promise<void> {
  await pg.query("postgres", `CREATE DATABASE "${name}" OWNER ${pg.app.user}`);
}

function backup(spec: Partial<BackupSpec> & { name: string }) {
  return runner(
    backupArgs({ source: "postgres", url: pg.appUrl("app"), recipients: [key.recipient], ...dest(), json: true, ...spec }),
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
  await psqlFile("postgres", join(FIXTURE, "roles.sql"));
  await psqlFile("app", join(FIXTURE, "schema.sql"), "app");
  if (HAS_PAGILA) {
    await psqlFile("app", join(PAGILA, "schema.sql"));
    await psqlFile("app", join(PAGILA, "data.sql"));
    await pg.query("app", "REFRESH MATERIALIZED VIEW public.rental_by_category");
  }
  // The backup role reads what it does not own (Pagila, crm) the way a production backup user
  // does: through pg_read_all_data, not superuser.
  await pg.query("postgres", `GRANT pg_read_all_data TO ${pg.app.user}`);
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

  test("backs up the fixture plus generated data with exact per-table row counts from the dump's snapshot", async () => {
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
    expect(counts["shop.orders_2025"]! + counts["shop.orders_2026"]! + counts["shop.orders_other"]!).toBe(6000);
    expect(counts["shop.orders_other"]).toBeGreaterThan(0); // the DEFAULT partition
    expect(counts["crm.leads"]).toBe(20000);
    expect(counts["shop.revenue_by_status"]).toBe(4); // materialized view
    expect(counts["shop.orders"]).toBeUndefined(); // the partitioned parent holds no rows itself
    if (HAS_PAGILA) {
      expect(counts["public.payment_p2022_01"]).toBeGreaterThan(0);
      expect(counts["public.rental_by_category"]).toBeGreaterThan(0);
    }
    const fp = await fingerprint("app");
    for (const [t, n] of Object.entries(counts)) expect(`${t}:${fp[t]!.split(":")[0]}`).toBe(`${t}:${n}`);
    expect(manifest.postgres.serverVersion).toMatch(/^\d+/);
    // Read from the archive's header, not from a `pg_dump --version` run: the same line.
    expect(manifest.tools.pg_dump).toBe(execFileSync("pg_dump", ["--version"], { encoding: "utf8" }).trim());
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
    const r = await runner(restoreArgs({ name: "app", identity: key.file, targetUrl: pg.appUrl("restored"), jobs: 2, ...dest(), json: true }), env());
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(JSON.parse(r.stdout).rowCountMismatches).toEqual([]);
    const restored = await fingerprint("restored");
    expect(restored).toEqual(await fingerprint("app"));
    // The fixture's awkward sequences, spelled out: near bigint max, counting down, never called.
    expect(restored["seq shop.order_ids"]).toBe(`${9223372036854700000n + 5999n} called=true`);
    expect(restored["seq shop.countdown"]).toBe("82 called=true");
    expect(restored["seq shop.fresh"]).toBe("42 called=false");
    expect(restored["large objects"]!.split(",")).toHaveLength(25);
    expect(restored["grants shop"]).toMatch(/lb_reader=r\/app/);
  });

  test("parallel restores never fire the fixture's triggers for restored rows (the trigger pass comes after all data)", async () => {
    // Measured before the two-pass restore: 2 of 12 `pg_restore -j 4` runs of this fixture came
    // back with extra shop.order_log rows (an audit trigger on the partitioned parent created while
    // partitions were loading) and exit 0. Each run here would catch it in the row-count check.
    for (let i = 0; i < 3; i++) {
      await createDb(`parallel${i}`);
      const r = await runner(restoreArgs({ name: "app", identity: key.file, targetUrl: pg.appUrl(`parallel${i}`), jobs: 4, ...dest(), json: true }), env());
      expect(describeRun(r)).toMatch(/^exit 0/);
      expect(JSON.parse(r.stdout).rowCountMismatches).toEqual([]);
      const [log] = await pg.query<{ n: string }>(`parallel${i}`, "SELECT count(*)::text AS n FROM shop.order_log");
      expect(log!.n).toBe("6500");
    }
  });

  if (HAS_PAGILA || process.env.CI === "true") {
    test("Pagila (../shared/fixtures/pagila, required on CI) is in the backup and comes back identical", async () => {
      expect(HAS_PAGILA).toBe(true);
      const counts = Object.fromEntries(manifest.postgres.tables.map((t: any) => [t.table, t.rows]));
      expect(counts["public.payment_p2022_01"]).toBeGreaterThan(0);
      expect(counts["public.rental_by_category"]).toBeGreaterThan(0);
      const [src, dst] = [await fingerprint("app"), await fingerprint("restored")];
      for (const t of ["public.payment_p2022_01", "public.rental_by_category", "public.film", "seq public.payment_payment_id_seq"]) {
        expect(src[t]).toBeDefined();
        expect([t, dst[t]]).toEqual([t, src[t]]);
      }
    });
  }

  test("refuses a non-empty target without --force", async () => {
    const r = await runner(restoreArgs({ name: "app", identity: key.file, targetUrl: pg.url("restored"), ...dest() }), env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty.*--force/);
  });

  test("verify restores into a scratch database, compares row counts and records the result", async () => {
    const r = await runner(verifyArgs({ name: "app", identity: key.file, scratchUrl: pg.appUrl("postgres"), ...dest() }), env());
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
    const notKey = await runner(restoreArgs({ name: "app", identity: join(FIXTURE, "schema.sql"), targetUrl: pg.url("untouched"), ...dest() }), env());
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
      identity: key.file, target: `postgres://${pg.app.user}@127.0.0.1:${pg.port}/stock`,
    });
    const doc = readFileSync(join(REPO, "docs/runbook.md"), "utf8");
    const m = /<!-- stock-restore:begin -->\s*```bash\n([\s\S]*?)```\s*<!-- stock-restore:end -->/.exec(doc);
    expect(m).not.toBeNull();
    expect(script.endsWith(m![1]!)).toBe(true);
    await createDb("stock");
    const dir = mkdtempSync(join(work, "stock-"));
    const r = await exec("bash", ["-euo", "pipefail", "-c", script], {
      cwd: dir,
      // The password through the environment, not the script's pg_restore argv.
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...s3.env, PGPASSWORD: pg.app.password },
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

  test("no process ever holds a password in its argv: /proc/*/cmdline sampled all through slowed backups (and pg_dump seen)", async () => {
    // The forms that carry the password in the string; the big table and slow part uploads keep
    // pg_dump streaming (blocked on its pipe) for seconds.
    for (const f of urlForms().slice(0, 4)) {
      let running = true;
      let sweeps = 0;
      const pgDumps = new Set<string>();
      const leaks: string[] = [];
      s3.setFault({ kind: "slow-parts", ms: 300 });
      const run = runner(bigSpec({ name: "argv", url: undefined, alertWebhook: undefined, pingUrl: undefined }), { ...env(), LIFEBOAT_SOURCE_URL: f.url("big") }).finally(
        () => (running = false),
      );
      try {
        while (running) {
          for (const pid of ownDescendants()) {
            let argv: string;
            try {
              argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
            } catch {
              continue; // exited between readdir and read
            }
            if (/(^|\/)pg_dump /.test(argv) && argv.includes(`port='${pg.port}'`)) pgDumps.add(`${pid} ${argv}`);
            for (const p of passwordSpellings()) if (argv.includes(p)) leaks.push(`${pid}: ${argv}`);
          }
          sweeps++;
          await new Promise((r) => setTimeout(r, 10));
        }
      } finally {
        s3.setFault({ kind: "none" });
      }
      const r = await run;
      expect([f.form, describeRun(r)]).toEqual([f.form, expect.stringMatching(/^exit 0/)]);
      expect([f.form, leaks]).toEqual([f.form, []]);
      expect(sweeps).toBeGreaterThan(20);
      // The check looked at the right process: pg_dump of this database as the app role.
      expect([f.form, pgDumps.size > 0]).toEqual([f.form, true]);
      for (const p of pgDumps) expect(p).toMatch(/--dbname=.*user='app'.*dbname='big'/);
    }
  });
});

/**
 * The processes this jest worker started, at any depth (the runner, and pg_dump, zstd and age under
 * it). Other workers' suites and other checkouts' runs on the machine pass their own clusters' URLs
 * in argv on purpose (a test's --target-url); they are not this backup's children.
 */
function ownDescendants(): string[] {
  const parent = new Map<string, string>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      // /proc/PID/stat: "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parent.set(pid, stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]!);
    } catch {
      // exited between readdir and read
    }
  }
  const me = String(process.pid);
  const isMine = (pid: string): boolean => {
    for (let p: string | undefined = parent.get(pid), hops = 0; p && p !== "0" && hops < 64; p = parent.get(p), hops++) if (p === me) return true;
    return false;
  };
  return [...parent.keys()].filter(isMine);
}

/** The app role's connection to `db` in every form a user may give; the passfile form needs PGPASSFILE. */
function urlForms(): Array<{ form: string; url: (db: string) => string; env?: NodeJS.ProcessEnv }> {
  const pw = pg.app.password;
  const enc = encodeURIComponent(pw);
  const hostPort = `127.0.0.1:${pg.port}`;
  const passfile = join(work, "pgpass");
  // .pgpass escapes ":" and "\"; libpq ignores the file unless it is 0600.
  writeFileSync(passfile, `127.0.0.1:${pg.port}:*:${pg.app.user}:${pw.replace(/[\\:]/g, "\\$&")}\n`, { mode: 0o600 });
  return [
    { form: "URI with percent-encoded password", url: (db) => `postgres://${pg.app.user}:${enc}@${hostPort}/${db}` },
    { form: "URI with ?password=", url: (db) => `postgres://${pg.app.user}@${hostPort}/${db}?password=${enc}` },
    { form: "postgresql:// URI with sslmode=disable", url: (db) => `postgresql://${pg.app.user}:${enc}@${hostPort}/${db}?sslmode=disable` },
    {
      form: "libpq key=value DSN",
      url: (db) => `host=127.0.0.1 port=${pg.port} user=${pg.app.user} password='${pw.replace(/[\\']/g, "\\$&")}' dbname=${db}`,
    },
    { form: "URI without password + PGPASSFILE", url: (db) => `postgres://${pg.app.user}@${hostPort}/${db}`, env: { PGPASSFILE: passfile } },
  ];
}

/** Every spelling of both cluster passwords that would give them away. */
function passwordSpellings(): string[] {
  return [pg.app.password, encodeURIComponent(pg.app.password), pg.superPassword, encodeURIComponent(pg.superPassword), "p@ss", "p%40ss"];
}

function expectNoPassword(where: string, text: string): void {
  for (const p of passwordSpellings()) expect({ where, leaks: text.includes(p) ? p : null }).toEqual({ where, leaks: null });
}

describe("every URL form, against the scram-sha-256 server: connects, and the password never shows", () => {
  test("the server asks every connection for a password (scram-sha-256, not trust), over TCP and the Unix socket", async () => {
    for (const host of ["127.0.0.1", pg.dir]) {
      const r = await exec("psql", ["-h", host, "-p", String(pg.port), "-U", "postgres", "-d", "postgres", "-w", "-c", "SELECT 1"], {
        env: { PATH: process.env.PATH, HOME: work },
      });
      expect([host, r.code, r.stderr]).toEqual([host, 2, expect.stringMatching(/no password supplied/)]);
    }
    const [method] = await pg.query<{ m: string }>("postgres", "SELECT string_agg(DISTINCT auth_method, ',') AS m FROM pg_hba_file_rules");
    expect(method!.m).toBe("scram-sha-256");
  });

  test.each([0, 1, 2, 3, 4])("form %i: backup, restore, verify and a failing backup", async (i) => {
    const f = urlForms()[i]!;
    const name = `form${i}`;
    const stateFile = join(work, `${name}-state.json`);
    // The URLs go through the environment, as the deployed containers pass them.
    const e = (vars: NodeJS.ProcessEnv) => ({ ...env(), ...f.env, ...vars });
    const common = { ...dest(), stateFile, json: true, alertWebhook: `${hook.url}/${name}`, pingUrl: `${hook.url}/ping-${name}` };
    const seen: Array<[string, string]> = [];
    const b = await runner(backupArgs({ source: "postgres", name, recipients: [key.recipient], ...common }), e({ LIFEBOAT_SOURCE_URL: f.url("app") }));
    seen.push([`${f.form}: backup output`, b.stdout + b.stderr]);
    expect([f.form, describeRun(b)]).toEqual([f.form, expect.stringMatching(/^exit 0/)]);
    const manifest = JSON.parse(b.stdout).manifest;
    expect(manifest.postgres.tables.find((t: any) => t.table === "shop.orders_other").rows).toBeGreaterThan(0);
    seen.push([`${f.form}: manifest`, (await s3.get(BUCKET, manifest.key + ".manifest.json")).toString()]);

    await createDb(`${name}_restored`);
    const r = await runner(restoreArgs({ name, identity: key.file, ...common }), e({ LIFEBOAT_TARGET_URL: f.url(`${name}_restored`) }));
    seen.push([`${f.form}: restore output`, r.stdout + r.stderr]);
    expect([f.form, describeRun(r)]).toEqual([f.form, expect.stringMatching(/^exit 0/)]);
    expect(JSON.parse(r.stdout).rowCountMismatches).toEqual([]);

    const v = await runner(verifyArgs({ name, identity: key.file, ...common }), e({ LIFEBOAT_SCRATCH_URL: f.url("postgres") }));
    seen.push([`${f.form}: verify output`, v.stdout + v.stderr]);
    expect([f.form, describeRun(v)]).toEqual([f.form, expect.stringMatching(/^exit 0/)]);

    // A failing run (the database does not exist) reports the connection error: to stderr, the
    // state file, the alert webhook and the fail ping.
    const bad = await runner(backupArgs({ source: "postgres", name, recipients: [key.recipient], ...common }), e({ LIFEBOAT_SOURCE_URL: f.url("nosuchdb") }));
    seen.push([`${f.form}: failing backup output`, bad.stdout + bad.stderr]);
    expect([f.form, bad.code]).toEqual([f.form, 1]);
    expect(bad.stderr).toMatch(/nosuchdb/);
    await waitFor("the failure alert", () => hook.received.some((x) => x.path === `/${name}`));
    for (const h of hook.received.filter((x) => x.path === `/${name}` || x.path.startsWith(`/ping-${name}`))) seen.push([`${f.form}: webhook ${h.path}`, h.body]);
    expect(seen.some(([w, t]) => w.includes("webhook") && /nosuchdb/.test(t))).toBe(true);
    seen.push([`${f.form}: state file`, readFileSync(stateFile, "utf8")]);
    expect(readFileSync(stateFile, "utf8")).toMatch(/nosuchdb/);
    for (const [where, text] of seen) expectNoPassword(where, text);
  });
});

test("every request above passed the strict S3 layer (lock-enabled bucket: checksums present and right; part sizes)", () => {
  expect(s3.violations).toEqual([]);
});
