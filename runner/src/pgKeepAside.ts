/**
 * `restore --force` for Postgres loses nothing, as for directories and files: what the target
 * holds is kept aside under a printed name, never dropped or merged into.
 * - A whole-database restore renames the target database to NAME_before_restore_TIME and
 *   restores into a new, empty NAME (same encoding, locale, owner and database grants).
 * - A `--table` restore moves each existing table of a restored name into a new schema
 *   lifeboat_before_restore_TIME (ALTER TABLE ... SET SCHEMA takes its indexes, constraints,
 *   owned sequences and triggers along, and foreign keys pointing at it keep pointing at it).
 * When that cannot be done the restore refuses, before the target is touched.
 */
import { Client } from "pg";
import { keyTimestamp } from "lifeboat-core";
import { PgConn, pgClient, withDatabase } from "./pgconn";
import { quoteIdent } from "./sources/postgres";
import { RunError, UsageError, errorMessage } from "./errors";
import { TocEntry, describeEntry } from "./pgTableSelect";

/** Postgres truncates identifiers to 63 bytes: a longer kept-aside name would silently be another one. */
const MAX_IDENT_BYTES = 63;

/** `NAME_before_restore_20261201t140125z`, the name shortened (never the stamp) to fit 63 bytes. */
export function keptAsideDatabaseName(db: string, now = new Date()): string {
  const suffix = `_before_restore_${keyTimestamp(now).replace(/\.\d+/, "").toLowerCase()}`;
  let base = db;
  while (Buffer.byteLength(base + suffix) > MAX_IDENT_BYTES) base = [...base].slice(0, -1).join("");
  return base + suffix;
}

/** The schema a `--table --force` restore moves existing tables into. */
export function keptAsideSchemaName(now = new Date()): string {
  return `lifeboat_before_restore_${keyTimestamp(now).replace(/\.\d+/, "").toLowerCase()}`;
}

async function connected<T>(conn: PgConn, what: string, f: (c: Client) => Promise<T>): Promise<T> {
  const c = pgClient(conn);
  c.on("error", () => undefined);
  try {
    await c.connect();
  } catch (e) {
    throw new RunError(`cannot connect to ${what} ${conn.display}: ${errorMessage(e)}`);
  }
  try {
    return await f(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

interface DbFacts {
  db: string;
  superuser: boolean;
  createdb: boolean;
  owns: boolean;
  owner: string;
  others: number;
  encoding: string;
  collate: string;
  ctype: string;
  acl: string[] | null;
}

const DB_FACTS_SQL = `
SELECT d.datname AS db, r.rolsuper AS superuser, r.rolcreatedb AS createdb, d.datdba = r.oid AS owns,
       pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
       d.datcollate AS collate, d.datctype AS ctype, d.datacl::text[] AS acl,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend')::int AS others
FROM pg_database d JOIN pg_roles r ON r.rolname = current_user WHERE d.datname = current_database()`;

/**
 * Why the target database cannot be kept aside by rename (undefined when it can): renaming needs
 * its owner (or a superuser) with CREATEDB, and no other session connected to it.
 */
export function whyNoDatabaseAside(f: Pick<DbFacts, "db" | "superuser" | "createdb" | "owns" | "owner" | "others">, user: string): string | undefined {
  const why: string[] = [];
  if (!f.superuser && !f.owns) why.push(`${user} does not own it (${f.owner} does)`);
  if (!f.superuser && !f.createdb) why.push(`${user} lacks CREATEDB`);
  if (f.others > 0) why.push(`${f.others} other session(s) are connected to it (stop the app first)`);
  return why.length ? why.join("; ") : undefined;
}

/** Checks, before anything is downloaded, that `--force` can keep the target database aside. */
export async function checkDatabaseAside(target: PgConn, aside: string): Promise<void> {
  await connected(target, "the restore target", async (c) => {
    const f = (await c.query<DbFacts>(DB_FACTS_SQL)).rows[0]!;
    const why = whyNoDatabaseAside(f, target.params.user ?? "the restoring role");
    if (why) {
      throw new UsageError(
        `--force keeps ${f.db} aside by renaming it to ${aside} and restoring into a new ${f.db}, which cannot be done: ${why}. ` +
          `Restore into a new, empty database instead (--target-url naming it), or fix that and retry`,
      );
    }
  });
}

/**
 * Renames the target database to `aside` and creates an empty one under its name, like it:
 * encoding, locale, owner (when a superuser restores) and database-level grants.
 * Connects to the `postgres` maintenance database (template1 when that is refused).
 */
export async function keepDatabaseAside(target: PgConn, aside: string): Promise<void> {
  const f = await connected(target, "the restore target", async (c) => (await c.query<DbFacts>(DB_FACTS_SQL)).rows[0]!);
  const db = quoteIdent(f.db);
  const admin = async (g: (c: Client) => Promise<void>) => {
    try {
      await connected(withDatabase(target, "postgres"), "the maintenance database", g);
    } catch (e) {
      if (!/cannot connect/.test(errorMessage(e))) throw e;
      await connected(withDatabase(target, "template1"), "the maintenance database", g);
    }
  };
  await admin(async (c) => {
    try {
      await c.query(`ALTER DATABASE ${db} RENAME TO ${quoteIdent(aside)}`);
    } catch (e) {
      throw new RunError(`keeping ${f.db} aside as ${aside} failed, nothing was changed: ${errorMessage(e)}`);
    }
    try {
      await c.query(
        `CREATE DATABASE ${db} TEMPLATE template0 ENCODING ${quoteLiteral(f.encoding)} LC_COLLATE ${quoteLiteral(f.collate)} LC_CTYPE ${quoteLiteral(f.ctype)}` +
          (f.superuser ? ` OWNER ${quoteIdent(f.owner)}` : ""),
      );
      // The database's own grants (CONNECT, TEMP, CREATE) are not in a dump made without --create.
      if (f.acl) {
        await c.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
        await c.query(
          `SELECT format('GRANT %s ON DATABASE %I TO %s', a.privilege_type, $1::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END) AS g
           FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $2`,
          [f.db, aside],
        ).then(async (r) => {
          for (const { g } of r.rows as Array<{ g: string }>) await c.query(g);
        });
      }
    } catch (e) {
      // Put the original back under its name: the target is as it was.
      await c.query(`DROP DATABASE IF EXISTS ${db}`).catch(() => undefined);
      const back = await c.query(`ALTER DATABASE ${quoteIdent(aside)} RENAME TO ${db}`).then(() => true, () => false);
      throw new RunError(`creating the new ${f.db} failed (${errorMessage(e)}); ${back ? `${aside} was renamed back to ${f.db}` : `the previous database is kept as ${aside}`}`);
    }
  });
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * SQL answering "does the target already hold this prerequisite?" (a boolean column `found`),
 * for the kinds a table needs; undefined for other kinds (assumed present: pg_restore names
 * one that is not).
 */
export function prerequisiteCheck(e: TocEntry): { sql: string; params: string[] } | undefined {
  const q = `${quoteIdent(e.schema)}.`;
  switch (e.desc) {
    case "SCHEMA":
      return { sql: "SELECT to_regnamespace($1) IS NOT NULL AS found", params: [quoteIdent(e.name)] };
    case "TYPE":
    case "DOMAIN":
      return { sql: "SELECT to_regtype($1) IS NOT NULL AS found", params: [q + quoteIdent(e.name)] };
    case "FUNCTION":
    case "PROCEDURE":
    case "AGGREGATE": {
      const open = e.name.indexOf("(");
      if (open < 0) return undefined;
      return { sql: "SELECT to_regprocedure($1) IS NOT NULL AS found", params: [q + quoteIdent(e.name.slice(0, open)) + e.name.slice(open)] };
    }
    case "EXTENSION":
      return { sql: "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1) AS found", params: [e.name] };
    case "COLLATION":
      return { sql: "SELECT to_regcollation($1) IS NOT NULL AS found", params: [q + quoteIdent(e.name)] };
    case "SEQUENCE":
      return { sql: "SELECT to_regclass($1) IS NOT NULL AS found", params: [q + quoteIdent(e.name)] };
    default:
      return undefined;
  }
}

/**
 * Existing relations of the restored names: the tables a selective restore would collide with.
 * `tables` are the restored TABLE entries; the answer lists those the target holds.
 */
export async function existingTables(c: Client, tables: Array<{ schema: string; name: string }>): Promise<Array<{ schema: string; name: string }>> {
  const out: Array<{ schema: string; name: string }> = [];
  for (const t of tables) {
    const r = await c.query<{ kind: string | null }>("SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)) AS kind", [`${quoteIdent(t.schema)}.${quoteIdent(t.name)}`]);
    if (r.rows[0]!.kind) out.push(t);
  }
  return out;
}

/**
 * Moves `tables` (may be none) into the new schema `aside` in one transaction, then checks that
 * no relation the restore creates (`creates`: its tables, sequences, indexes and constraint
 * indexes) collides with one still there; on a collision nothing is moved and the restore refuses.
 */
export async function keepTablesAside(c: Client, tables: Array<{ schema: string; name: string }>, creates: TocEntry[], aside: string): Promise<void> {
  await c.query("BEGIN");
  try {
    if (tables.length) await c.query(`CREATE SCHEMA ${quoteIdent(aside)}`);
    for (const t of tables) await c.query(`ALTER TABLE ${quoteIdent(t.schema)}.${quoteIdent(t.name)} SET SCHEMA ${quoteIdent(aside)}`);
    const left: string[] = [];
    for (const e of creates) {
      const rel = e.desc === "CONSTRAINT" ? e.name.split(" ").slice(1).join(" ") : e.name;
      const r = await c.query<{ found: boolean }>("SELECT to_regclass($1) IS NOT NULL AS found", [`${quoteIdent(e.schema)}.${quoteIdent(rel)}`]);
      if (r.rows[0]!.found) left.push(`${describeEntry(e)} (${e.schema}.${rel} exists)`);
    }
    if (left.length) throw new UsageError(`the restored objects would collide with ones the target holds (moving the same-named tables aside does not move these): ${left.join(", ")}; nothing was changed`);
    await c.query("COMMIT");
  } catch (e) {
    await c.query("ROLLBACK").catch(() => undefined);
    throw e instanceof UsageError ? e : new RunError(`moving the existing tables aside into schema ${aside} failed, nothing was changed: ${errorMessage(e)}`);
  }
}
