/**
 * Postgres restores you can trust (issue #15): a restore that does not match fails, a corrupt
 * manifest is skipped (and named) on the way to the previous good backup, a target holding any
 * user object is not "empty", and the work directory's free space is checked before decoding.
 * Real PostgreSQL 15 with scram-sha-256, s3rver, the built CLI; the app role (not a superuser)
 * backs up and restores.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, restoreArgs, verifyArgs } from "lifeboat-core";
import { startPostgres, PgServer } from "../support/postgres";
import { startS3, S3Server } from "../support/s3";
import { ageKey, AgeKey, describeRun, REPO, requireBuiltRunner, runner } from "../support/runner";
import { execOk } from "../support/exec";

jest.setTimeout(120_000);

const BUCKET = "lifeboat-restorepg";
const PREFIX = "prod";
const DEST = `s3://${BUCKET}/${PREFIX}`;

let pg: PgServer;
let s3: S3Server;
let key: AgeKey;
let work: string;

const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "us-east-1", workDir: work });

async function createDb(name: string): Promise<void> {
  await pg.query("postgres", `CREATE DATABASE "${name}" OWNER ${pg.app.user}`);
}

/** A backup of the `src` database (or `db`, as `url` reaches it) under `name`; its manifest. */
async function backup(name: string, db = "src", url = pg.appUrl(db)): Promise<any> {
  const r = await runner(
    backupArgs({ source: "postgres", name, url, recipients: [key.recipient], ...dest(), stateFile: join(work, "state.json"), json: true }),
    s3.env,
  );
  expect(describeRun(r)).toMatch(/^exit 0/);
  return JSON.parse(r.stdout).manifest;
}

function restore(spec: { name: string; target: string; key?: string; at?: string; force?: boolean; workDir?: string; tables?: string[]; schemas?: string[]; json?: boolean }) {
  return runner(
    restoreArgs({ name: spec.name, key: spec.key, at: spec.at, force: spec.force, tables: spec.tables, schemas: spec.schemas, json: spec.json, identity: key.file, targetUrl: pg.appUrl(spec.target), ...dest(), ...(spec.workDir ? { workDir: spec.workDir } : {}) }),
    s3.env,
  );
}

/** Rewrites a stored manifest (s3rver ignores If-None-Match: it plays an edited or damaged object). */
async function editManifest(backupKey: string, edit: (m: any) => unknown): Promise<void> {
  const m = JSON.parse((await s3.get(BUCKET, backupKey + ".manifest.json")).toString());
  const out = edit(m) ?? m;
  await s3.put(BUCKET, backupKey + ".manifest.json", Buffer.from(typeof out === "string" ? out : JSON.stringify(out)));
}

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-restorepg-"));
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
  await createDb("src");
  await pg.query(
    "src",
    `SET ROLE ${pg.app.user};
     CREATE TABLE public.customers (id int PRIMARY KEY, name text);
     INSERT INTO public.customers SELECT g, 'c' || g FROM generate_series(1, 500) g;
     CREATE SCHEMA sales;
     CREATE TABLE sales.orders (id int PRIMARY KEY, customer int REFERENCES public.customers, total numeric);
     INSERT INTO sales.orders SELECT g, 1 + g % 500, g * 1.5 FROM generate_series(1, 2000) g;`,
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("a restore that does not match the manifest fails", () => {
  test("row counts differ: exit 1, each table named with expected and restored counts, no 'restore ok'", async () => {
    const m = await backup("mismatch");
    await editManifest(m.key, (x) => {
      for (const t of x.postgres.tables) {
        if (t.table === "public.customers") t.rows = 501;
        if (t.table === "sales.orders") t.rows = 1999;
      }
    });
    await createDb("mismatch_target");
    const r = await restore({ name: "mismatch", key: m.key, target: "mismatch_target" });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).not.toMatch(/restore ok/);
    expect(r.stderr).toMatch(/public\.customers: expected 501 rows, restored 500/);
    expect(r.stderr).toMatch(/sales\.orders: expected 1999 rows, restored 2000/);
  });
});

describe("a corrupt manifest is skipped on the way to the previous good backup, and named", () => {
  test.each([
    ["not JSON", () => "{ truncated"],
    ["JSON that is not a manifest", (m: any) => ({ ...m, sha256: "nope" })],
    ["a manifest describing another object", (m: any) => ({ ...m, key: m.key.replace(/-[0-9a-f]+\./, "-0000.") })],
  ])("%s: --at latest restores the previous backup (exit 0) and names the bad manifest; --key on it fails naming it", async (label, edit) => {
    const name = `fallback-${["not JSON", "JSON that is not a manifest", "a manifest describing another object"].indexOf(label)}`;
    const good = await backup(name);
    const bad = await backup(name);
    await editManifest(bad.key, edit as (m: any) => unknown);
    const target = name.replace(/-/g, "_");
    await createDb(target);
    const r = await restore({ name, target });
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(r.stdout).toContain(`restore ok: ${good.key}`);
    expect(r.stdout).toContain(`${bad.key}.manifest.json`);
    expect(r.stderr).toContain(`${bad.key}.manifest.json`);
    expect((await pg.query<{ n: number }>(target, "SELECT count(*)::int AS n FROM sales.orders"))[0]!.n).toBe(2000);
    const k = await restore({ name, target, key: bad.key, force: true });
    expect(k.code).toBe(1);
    expect(k.stderr).toContain(`${bad.key}.manifest.json`);
  });

  test("every manifest unreadable: fails naming each one", async () => {
    const a = await backup("allbad");
    const b = await backup("allbad");
    for (const m of [a, b]) await editManifest(m.key, () => "garbage");
    await createDb("allbad");
    const r = await restore({ name: "allbad", target: "allbad" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${a.key}.manifest.json`);
    expect(r.stderr).toContain(`${b.key}.manifest.json`);
  });
});

describe("a target holding any user object is not empty", () => {
  let backupKey: string;
  beforeAll(async () => {
    backupKey = (await backup("notempty")).key;
  });

  test.each([
    ["a large object", "SELECT lo_from_bytea(0, 'precious'::bytea)", /1 large object/],
    ["a function", "CREATE FUNCTION public.keep_me() RETURNS int LANGUAGE sql AS 'SELECT 1'", /1 function/],
    ["a type", "CREATE TYPE public.mood AS ENUM ('ok', 'sad')", /1 type/],
    ["a domain", "CREATE DOMAIN public.positive AS int CHECK (VALUE > 0)", /1 type/],
    ["a schema", "CREATE SCHEMA billing", /1 schema/],
    ["an extension", "CREATE EXTENSION pg_trgm", /1 extension/],
    ["a sequence", "CREATE SEQUENCE public.counter", /1 relation/],
  ])("%s and no tables: refused without --force (exit 2, names what it holds), left as it was; --force keeps it aside by rename, losing nothing", async (label, sql, what) => {
    const db = `ne_${label.replace(/\W+/g, "_")}`;
    await createDb(db);
    await pg.query(db, `SET ROLE ${pg.app.user}; ${sql}`);
    const before = await pg.query(db, "SELECT (SELECT count(*) FROM pg_largeobject_metadata) AS lo, (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace) AS rels");
    const r = await restore({ name: "notempty", key: backupKey, target: db });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--target-url .* is not empty/);
    expect(r.stderr).toMatch(what);
    expect(r.stderr).toMatch(/--force/);
    expect(await pg.query(db, "SELECT (SELECT count(*) FROM pg_largeobject_metadata) AS lo, (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace) AS rels")).toEqual(before);
    // --force restores into a new, empty database under the name; the old one is renamed, whole.
    const f = await restore({ name: "notempty", key: backupKey, target: db, force: true, json: true });
    expect(describeRun(f)).toMatch(/^exit 0/);
    const aside = JSON.parse(f.stdout).keptAside as string;
    expect(aside).toMatch(new RegExp(`^${db}_before_restore_\\d{8}t\\d{6}z$`));
    expect(f.stderr).toContain(aside);
    expect(await pg.query(aside, "SELECT (SELECT count(*) FROM pg_largeobject_metadata) AS lo, (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace) AS rels")).toEqual(before);
    expect(await pg.query(db, `SELECT ${plantedObjectsSql} AS extra`)).toEqual([{ extra: false }]);
    expect(await pg.query(db, "SELECT count(*)::int AS n FROM sales.orders")).toEqual([{ n: 2000 }]);
  });
});

/** True when the restored database holds any of the objects the non-empty cases planted (it must not: it is new). */
const plantedObjectsSql = `(EXISTS (SELECT 1 FROM pg_largeobject_metadata) OR to_regprocedure('public.keep_me()') IS NOT NULL OR to_regtype('public.mood') IS NOT NULL
  OR to_regtype('public.positive') IS NOT NULL OR to_regnamespace('billing') IS NOT NULL OR EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') OR to_regclass('public.counter') IS NOT NULL)`;

describe("--force on a database that cannot be kept aside is refused before anything changes", () => {
  test("another session connected to the target: exit 2 naming why, the database as it was", async () => {
    const b = await backup("busy");
    await createDb("busy");
    await pg.query("busy", `SET ROLE ${pg.app.user}; CREATE TABLE public.mine (v int); INSERT INTO public.mine VALUES (7)`);
    const { Client } = await import("pg");
    const other = new Client({ connectionString: pg.appUrl("busy") });
    await other.connect();
    try {
      const r = await restore({ name: "busy", key: b.key, target: "busy", force: true });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--force keeps busy aside by renaming it to busy_before_restore_\w+ .*1 other session\(s\) are connected/);
      expect(r.stderr).not.toMatch(/restore ok/);
    } finally {
      await other.end();
    }
    expect(await pg.query("busy", "SELECT v FROM public.mine")).toEqual([{ v: 7 }]);
    expect(await pg.query("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'busy\\_before%'")).toEqual([]);
  });
});

/** A tmpfs of `size` at a new directory: a small disk to fill (needs root, as the CI machine runs these tests). */
function smallDisk(size: string): { dir: string; unmount(): void } {
  const dir = join(work, `disk-${Math.random().toString(16).slice(2)}`);
  mkdirSync(dir);
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  if (m.status !== 0) throw new Error(`test prerequisite: mounting a ${size} tmpfs at ${dir} failed (run as root): ${m.stderr}`);
  return { dir, unmount: () => void spawnSync("umount", [dir]) };
}

describe("the work directory's free space", () => {
  let big: any;
  let disk: { dir: string; unmount(): void };
  beforeAll(async () => {
    await pg.query(
      "src",
      `SET ROLE ${pg.app.user};
       CREATE TABLE public.notes (id int PRIMARY KEY, body text);
       INSERT INTO public.notes SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 60000) g;`,
    );
    big = await backup("bigdump");
    expect(big.rawBytes).toBeGreaterThan(3 * 1024 * 1024);
    disk = smallDisk("2m");
  });
  afterAll(() => disk?.unmount());

  test("less free space than the decoded dump: refused before anything is downloaded (exit 2), naming the directory, the sizes and --work-dir", async () => {
    await createDb("nospace");
    const r = await restore({ name: "bigdump", key: big.key, target: "nospace", workDir: disk.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(disk.dir);
    expect(r.stderr).toMatch(/--work-dir/);
    expect(r.stderr).toMatch(/free/);
    expect(r.stderr).not.toMatch(/connection reset/);
    expect(await pg.query("nospace", "SELECT 1 FROM pg_class WHERE relnamespace = 'public'::regnamespace")).toEqual([]);
  });

  test("the disk filling up while decoding (the manifest understated the size) is reported as ENOSPC in the work directory, not as age's broken pipe", async () => {
    const name = "bigdump-understated";
    const m = await backup(name);
    await editManifest(m.key, (x) => {
      x.rawBytes = 1000;
    });
    await createDb("fills");
    const r = await restore({ name, key: m.key, target: "fills", workDir: disk.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENOSPC/);
    expect(r.stderr).toMatch(/no space left/i);
    expect(r.stderr).toContain(disk.dir);
    expect(r.stderr).toMatch(/--work-dir/);
    expect(await pg.query("fills", "SELECT 1 FROM pg_class WHERE relnamespace = 'public'::regnamespace")).toEqual([]);
  });
});

describe("restore onto a new server: the roles come with the backup", () => {
  let fresh: PgServer;
  let m: any;
  beforeAll(async () => {
    fresh = await startPostgres();
    // Roles the source database's grants and owners name; the backup identity reads them through pg_read_all_data.
    await pg.query(
      "postgres",
      `CREATE ROLE readers NOLOGIN;
       CREATE ROLE reporter LOGIN PASSWORD 'reporter secret' CONNECTION LIMIT 5;
       GRANT readers TO reporter;
       GRANT pg_read_all_data TO ${pg.app.user};`,
    );
    await createDb("rolesrc");
    await pg.query(
      "rolesrc",
      `CREATE TABLE public.accounts (id int PRIMARY KEY, name text);
       INSERT INTO public.accounts SELECT g, 'a' || g FROM generate_series(1, 300) g;
       ALTER TABLE public.accounts OWNER TO reporter;
       CREATE TABLE public.audit (id int);
       GRANT SELECT ON public.audit TO readers;`,
    );
    m = await backup("roles", "rolesrc");
  });
  afterAll(async () => fresh?.stop());

  test("the manifest records roles and memberships, never a password", async () => {
    const reporter = m.postgres.roles.find((r: any) => r.name === "reporter");
    expect(reporter).toEqual(expect.objectContaining({ login: true, superuser: false, connectionLimit: 5, memberOf: [{ role: "readers", admin: false }] }));
    expect(m.postgres.roles.map((r: any) => r.name)).toEqual(expect.arrayContaining(["readers", "reporter", pg.app.user]));
    expect(m.postgres.roles.some((r: any) => r.name.startsWith("pg_"))).toBe(false);
    expect(JSON.stringify(m)).not.toMatch(/reporter secret|SCRAM-SHA-256|md5[0-9a-f]{32}/);
  });

  const verifyOn = (server: PgServer, backupKey: string) =>
    runner(verifyArgs({ name: "roles", key: backupKey, identity: key.file, scratchUrl: server.url("postgres"), noRecord: true, ...dest() }), s3.env);

  test("verify restores the same way: owners and grants included, so a dump whose grants name an unrecorded role fails on a new server", async () => {
    // A backup from before roles were recorded (no postgres.roles): a restore onto a new server fails, so verify must too.
    const old = await backup("roles", "rolesrc");
    await editManifest(old.key, (x) => {
      delete x.postgres.roles;
    });
    const v = await verifyOn(fresh, old.key);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/role "(readers|reporter)" does not exist/);
  });

  test("verify on a new server creates the recorded roles for the check and drops them again", async () => {
    const v = await verifyOn(fresh, m.key);
    expect(describeRun(v)).toMatch(/^exit 0/);
    expect(v.stdout).toMatch(/rolesCreated: .*reporter/);
    expect(await fresh.query("postgres", "SELECT rolname FROM pg_roles WHERE rolname IN ('readers', 'reporter')")).toEqual([]);
  });

  test("a fresh cluster: missing roles created (no password, and the output says which need one), memberships, owners and grants restored, counts match", async () => {
    await fresh.query("postgres", "CREATE DATABASE restored");
    const r = await runner(
      restoreArgs({ name: "roles", key: m.key, identity: key.file, targetUrl: fresh.url("restored"), ...dest() }),
      s3.env,
    );
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(r.stdout).toMatch(/created role reporter .*without a password.*ALTER ROLE/);
    expect(r.stdout).toMatch(/created role readers/);
    expect(r.stdout).not.toMatch(/created role readers .*password/);
    const [rep] = await fresh.query<any>("postgres", "SELECT rolcanlogin, rolconnlimit, rolpassword IS NULL AS nopw FROM pg_authid WHERE rolname = 'reporter'");
    expect(rep).toEqual({ rolcanlogin: true, rolconnlimit: 5, nopw: true });
    expect(await fresh.query("postgres", "SELECT pg_has_role('reporter', 'readers', 'MEMBER') AS m")).toEqual([{ m: true }]);
    expect(await fresh.query("restored", "SELECT tableowner FROM pg_tables WHERE tablename = 'accounts'")).toEqual([{ tableowner: "reporter" }]);
    expect(await fresh.query("restored", "SELECT has_table_privilege('readers', 'public.audit', 'SELECT') AS g")).toEqual([{ g: true }]);
    expect(await fresh.query("restored", "SELECT count(*)::int AS n FROM public.accounts")).toEqual([{ n: 300 }]);
  });
});

describe("restore --table: one table into any database, whole, never over existing data", () => {
  let m: any;
  beforeAll(async () => {
    await createDb("selsrc");
    await pg.query(
      "selsrc",
      `SET ROLE ${pg.app.user};
       CREATE TABLE public.customers (id int PRIMARY KEY, name text);
       INSERT INTO public.customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
       CREATE SCHEMA crm;
       CREATE TYPE crm.stage AS ENUM ('new', 'won', 'lost');
       CREATE TABLE crm.leads (id serial PRIMARY KEY, email text UNIQUE, stage crm.stage NOT NULL DEFAULT 'new',
                               customer int REFERENCES public.customers, touched int NOT NULL DEFAULT 0);
       CREATE INDEX leads_lower_email ON crm.leads (lower(email));
       CREATE FUNCTION crm.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END';
       CREATE TRIGGER leads_touch BEFORE UPDATE ON crm.leads FOR EACH ROW EXECUTE FUNCTION crm.touch();
       GRANT SELECT ON crm.leads TO PUBLIC;
       INSERT INTO crm.leads (email, stage, customer) SELECT 'l' || g || '@x.io', (ARRAY['new','won','lost'])[1 + g % 3]::crm.stage, 1 + g % 50 FROM generate_series(1, 400) g;
       CREATE TABLE crm.notes (id int, body text);
       INSERT INTO crm.notes VALUES (1, 'n');`,
    );
    m = await backup("sel", "selsrc");
  });

  test("into a fresh staging database: the table with its schema, type, trigger function, sequence value, indexes, trigger and grant; the foreign key to a table not restored is named; counts checked", async () => {
    await createDb("staging_one");
    const r = await restore({ name: "sel", key: m.key, target: "staging_one", tables: ["leads"], schemas: ["crm"], json: true });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const out = JSON.parse(r.stdout);
    expect(out.restoredTables).toEqual([{ table: "crm.leads", rows: 400 }]);
    expect(out.notes.join("\n")).toMatch(/not restored .*FK CONSTRAINT crm\.leads leads_customer_fkey/);
    expect(await pg.query("staging_one", "SELECT relname FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind IN ('r','i','S') ORDER BY 1")).toEqual(
      ["leads", "leads_email_key", "leads_id_seq", "leads_lower_email", "leads_pkey"].map((relname) => ({ relname })),
    );
    expect(await pg.query("staging_one", "SELECT to_regclass('public.customers') IS NULL AS no_customers, to_regclass('crm.notes') IS NULL AS no_notes")).toEqual([{ no_customers: true, no_notes: true }]);
    // The sequence continues where the source's was; the trigger and the grant work.
    expect(await pg.query("staging_one", "INSERT INTO crm.leads (email) VALUES ('new@x.io') RETURNING id")).toEqual([{ id: 401 }]);
    expect(await pg.query("staging_one", "UPDATE crm.leads SET email = 'z@x.io' WHERE id = 1 RETURNING touched")).toEqual([{ touched: 1 }]);
    const won = "SELECT count(*)::int AS won FROM crm.leads WHERE stage = 'won'";
    expect(await pg.query("staging_one", won)).toEqual(await pg.query("selsrc", won));
    expect(await pg.query("staging_one", "SELECT has_table_privilege('public', 'crm.leads', 'SELECT') AS g")).toEqual([{ g: true }]);
  });

  test("the same table existing in the target: refused without --force (exit 2, named), with --force moved to a printed schema with its rows, the backup's table in its place", async () => {
    await createDb("staging_busy");
    await pg.query("staging_busy", `SET ROLE ${pg.app.user}; CREATE SCHEMA crm; CREATE TABLE crm.leads (id serial PRIMARY KEY, email text UNIQUE); INSERT INTO crm.leads (email) VALUES ('today@x.io')`);
    const refused = await restore({ name: "sel", key: m.key, target: "staging_busy", tables: ["leads"] });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already holds crm\.leads; .*--force .*moved to schema lifeboat_before_restore_\w+/);
    expect(await pg.query("staging_busy", "SELECT email FROM crm.leads")).toEqual([{ email: "today@x.io" }]);

    const r = await restore({ name: "sel", key: m.key, target: "staging_busy", tables: ["leads"], force: true, json: true });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const aside = JSON.parse(r.stdout).keptAside as string;
    expect(aside).toMatch(/^lifeboat_before_restore_\d{8}t\d{6}z$/);
    expect(r.stderr).toContain(aside);
    expect(await pg.query("staging_busy", `SELECT email FROM "${aside}".leads`)).toEqual([{ email: "today@x.io" }]);
    expect(await pg.query("staging_busy", `SELECT relname FROM pg_class WHERE relnamespace = '"${aside}"'::regnamespace ORDER BY 1`)).toEqual(
      ["leads", "leads_email_key", "leads_id_seq", "leads_pkey"].map((relname) => ({ relname })),
    );
    expect(await pg.query("staging_busy", "SELECT count(*)::int AS n FROM crm.leads")).toEqual([{ n: 400 }]);
  });

  test("an unknown table: exit 2 naming it and the close matches, before the target is touched", async () => {
    await createDb("staging_typo");
    const r = await restore({ name: "sel", key: m.key, target: "staging_typo", tables: ["lead"] });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--table lead: the dump holds no table lead; close matches: leads, crm\.leads/);
    expect(await pg.query("staging_typo", "SELECT to_regnamespace('crm') IS NULL AS none")).toEqual([{ none: true }]);
  });

  test("restored rows that differ from the manifest fail the restore (exit 1, the table named)", async () => {
    const bad = await backup("sel-mismatch", "selsrc");
    await editManifest(bad.key, (x) => {
      for (const t of x.postgres.tables) if (t.table === "crm.leads") t.rows = 399;
    });
    await createDb("staging_mismatch");
    const r = await restore({ name: "sel-mismatch", key: bad.key, target: "staging_mismatch", tables: ["leads"], schemas: ["crm"] });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/crm\.leads: expected 399 rows, restored 400/);
  });
});

const PAGILA = join(REPO, "../shared/fixtures/pagila");

describe("restore --table on Pagila (../shared/fixtures/pagila, required on CI)", () => {
  test("the partitioned payment table into a staging database: every partition with its rows, the shared sequence and its value; foreign keys to tables not restored named", async () => {
    expect(existsSync(join(PAGILA, "schema.sql")) || process.env.CI !== "true").toBe(true);
    if (!existsSync(join(PAGILA, "schema.sql"))) return;
    await pg.query("postgres", "CREATE DATABASE pagila");
    for (const f of ["schema.sql", "data.sql"]) {
      await execOk("psql", ["-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(pg.port), "-U", "postgres", "-d", "pagila", "-f", join(PAGILA, f)], {
        env: { ...process.env, PGPASSWORD: pg.superPassword },
      });
    }
    const m = await backup("pagila", "pagila", pg.url("pagila"));
    await createDb("pagila_staging");
    const r = await restore({ name: "pagila", key: m.key, target: "pagila_staging", tables: ["payment"], json: true });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const out = JSON.parse(r.stdout);
    const partitions = "SELECT c.relname AS name, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY public.%I', c.relname), false, true, '')))[1]::text::int AS rows FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.payment'::regclass ORDER BY 1";
    const want = await pg.query<{ name: string; rows: number }>("pagila", partitions);
    expect(want.length).toBeGreaterThan(1);
    expect(await pg.query("pagila_staging", partitions)).toEqual(want);
    expect(out.restoredTables).toEqual(want.map((p) => ({ table: `public.${p.name}`, rows: p.rows })));
    expect(out.notes.join("\n")).toMatch(/not restored .*FK CONSTRAINT public\.payment_p2022_01 payment_p2022_01_customer_id_fkey/);
    const seq = "SELECT last_value FROM public.payment_payment_id_seq";
    expect(await pg.query("pagila_staging", seq)).toEqual(await pg.query("pagila", seq));
    expect(await pg.query("pagila_staging", "SELECT to_regclass('public.customer') IS NULL AS alone")).toEqual([{ alone: true }]);
  });
});
