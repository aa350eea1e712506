// A throwaway PostgreSQL 15 cluster on loopback and databases of realistic mixed content.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, pgBin, requireFromRepo, waitFor } from "./util.mjs";

/**
 * initdb (as the `postgres` OS user when running as root: initdb refuses root) and start a
 * server on a free loopback port, tuned for throwaway data (fsync off), every connection
 * authenticated with scram-sha-256 as production servers do. Returns `url(db)` (password included),
 * `query(db, sql)` (rows of the last statement), `recreate(db)` and `stop()`.
 */
export async function startPostgres() {
  const ids = {};
  if (process.getuid() === 0) {
    ids.uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    ids.gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  }
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-bench-pg-"));
  chmodSync(dir, 0o700);
  if (ids.uid !== undefined) chownSync(dir, ids.uid, ids.gid);
  const data = join(dir, "data");
  const password = "bench:p@ss/w%rd";
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, password + "\n", { mode: 0o600 });
  if (ids.uid !== undefined) chownSync(pwfile, ids.uid, ids.gid);
  const init = spawnSync(pgBin("initdb"), ["-D", data, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pwfile}`, "--no-sync", "-E", "UTF8", "--locale=C"], { ...ids, encoding: "utf8" });
  rmSync(pwfile);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const child = spawn(
    pgBin("postgres"),
    ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
      "-c", "full_page_writes=off", "-c", "max_wal_size=4GB", "-c", "checkpoint_timeout=30min", "-c", "maintenance_work_mem=256MB"],
    { ...ids, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr.on("data", (b) => (log = (log + b).slice(-4000)));
  const url = (db) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
  const { Client } = requireFromRepo("pg");
  const query = async (db, sql) => {
    const c = new Client({ connectionString: url(db) });
    await c.connect();
    try {
      const r = await c.query(sql);
      return (Array.isArray(r) ? r[r.length - 1] : r).rows;
    } finally {
      await c.end();
    }
  };
  await waitFor(`postgres on ${port} (${log})`, async () => (await query("postgres", "SELECT 1"), true));
  return {
    port,
    url,
    query,
    /** Drop (forcibly) and create an empty database. */
    async recreate(db) {
      await query("postgres", `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await query("postgres", `CREATE DATABASE ${db}`);
    },
    async stop() {
      if (child.exitCode === null) {
        const closed = new Promise((r) => child.once("close", r));
        child.kill("SIGINT");
        await closed;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One database of about `targetMB` on disk (pg_database_size, indexes and TOAST included):
 * batches of 16k customers, 64k events and 2.5k attachments (3 KiB random bytes each) until
 * the size is reached; below 100 MB the batches shrink in proportion so that small targets are
 * still met closely. About a third of the bytes are incompressible.
 */
export async function buildDatabase(pg, db, targetMB) {
  const scale = Math.min(1, targetMB / 100);
  const nC = Math.max(64, Math.round(16384 * scale));
  const nE = nC * 4;
  const nA = Math.max(10, Math.round(2560 * scale));
  await pg.query("postgres", `CREATE DATABASE ${db}`);
  await pg.query(db, `
    CREATE EXTENSION pgcrypto;
    CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL, city text, created_at timestamptz NOT NULL,
      balance numeric(14,2) NOT NULL, score double precision, notes text);
    CREATE UNIQUE INDEX customers_email ON customers (email);
    CREATE TABLE events (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, kind text NOT NULL, at timestamptz NOT NULL, amount integer, payload jsonb);
    CREATE INDEX events_customer ON events (customer_id, at);
    CREATE INDEX events_kind ON events (kind);
    CREATE TABLE attachments (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, filename text NOT NULL, content bytea NOT NULL);
    CREATE INDEX attachments_customer ON attachments (customer_id);
    ALTER TABLE attachments ALTER COLUMN content SET STORAGE EXTERNAL;`);
  const batch = async (b) => {
    await pg.query(db, `
      INSERT INTO customers (name, email, city, created_at, balance, score, notes)
      SELECT 'Customer ' || g, 'user' || g || '.' || substr(md5(g::text), 1, 8) || '@example.com',
             (ARRAY['Lisbon','Berlin','Lagos','Lima','Osaka','Austin','Pune','Cork'])[(1 + g % 8)::int],
             now() - (g % 100000) * interval '1 minute', (g % 100000) / 7.0, random() * 100,
             repeat('Customer prefers WhatsApp contact in the afternoon; follow up on the renewal. ', (1 + g % 4)::int)
      FROM generate_series(${b * nC + 1}::bigint, ${(b + 1) * nC}) g;
      INSERT INTO events (customer_id, kind, at, amount, payload)
      SELECT 1 + (g * 7919) % ${(b + 1) * nC}, (ARRAY['message_in','message_out','lead_created','deal_won','note'])[(1 + g % 5)::int],
             now() - (g % 500000) * interval '1 second', (g * 31) % 10000,
             jsonb_build_object('channel', 'whatsapp', 'text', 'Hello, order ' || g || ' is ready for pickup', 'tags', jsonb_build_array('a' || g % 13, 'b' || g % 17), 'n', g)
      FROM generate_series(${b * nE + 1}::bigint, ${(b + 1) * nE}) g;
      INSERT INTO attachments (customer_id, filename, content)
      SELECT 1 + g % ${(b + 1) * nC}, 'upload-' || g || '.bin', gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024)
      FROM generate_series(${b * nA + 1}::bigint, ${(b + 1) * nA}) g;`);
  };
  const size = async () => Number((await pg.query(db, "SELECT pg_database_size(current_database()) AS s"))[0].s);
  const empty = await size();
  let b = 0;
  await batch(b++);
  let now = await size();
  // grow until the next batch would overshoot the target by more than it undershoots now
  while (now + (now - empty) / b / 2 < targetMB * 1e6) {
    await batch(b++);
    now = await size();
  }
  await pg.query(db, "VACUUM ANALYZE");
  return size();
}
