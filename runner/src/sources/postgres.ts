import { availableParallelism } from "node:os";
import { Client } from "pg";
import { startProc, requireTools } from "../proc";
import { RunError, errorMessage } from "../errors";
import { scrub } from "../redact";
import { parsePgConn, pgClient, pgEnv } from "../pgconn";
import { OpenSource, SourceOptions } from "./types";
import { PgRole, readRoles } from "../pgroles";

// Connection parsing lives in ../pgconn; these names stay for the commands that import them from here.
export { parsePgConn as pgTarget, pgEnv, pgClient } from "../pgconn";
export type { PgConn as PgTarget } from "../pgconn";

/** Leaf tables (partitions included, partitioned parents excluded) and populated materialized views, minus extension members. */
export const TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND (c.relkind <> 'm' OR c.relispopulated)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2`;

/** Exact row count of every table, in whatever transaction `client` is in. */
export async function countRows(client: Client): Promise<Array<{ table: string; rows: number }>> {
  return countRowsOn([client]);
}

/**
 * Exact row count of every table, the tables shared out over `clients` (largest first, each
 * client counting one table at a time). The table list comes from the first client; every client
 * must see the same data (one database nobody writes to, or one imported snapshot). Results are
 * in TABLES_SQL order, as `countRows` returns them.
 */
export async function countRowsOn(clients: Client[]): Promise<Array<{ table: string; rows: number }>> {
  const tables = await clients[0]!.query<{ schema: string; name: string; kind: string }>(TABLES_SQL);
  const out: Array<{ table: string; rows: number }> = tables.rows.map((t) => ({ table: `${t.schema}.${t.name}`, rows: 0 }));
  let queue = tables.rows.map((_, i) => i);
  if (clients.length > 1 && tables.rows.length > 1) {
    const sizes = await clients[0]!.query<{ b: string }>(
      `SELECT pg_relation_size(format('%I.%I', s, n)::regclass)::text AS b FROM unnest($1::text[], $2::text[]) AS t(s, n)`,
      [tables.rows.map((t) => t.schema), tables.rows.map((t) => t.name)],
    );
    const size = sizes.rows.map((r) => Number(r.b));
    queue = queue.sort((a, b) => size[b]! - size[a]! || a - b);
  }
  const worker = async (c: Client) => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const t = tables.rows[i]!;
      const ident = `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
      const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.kind === "r" ? "ONLY " : ""}${ident}`);
      out[i]!.rows = Number(r.rows[0]!.n);
    }
  };
  await Promise.all(clients.map(worker));
  return out;
}

/** How many connections count rows in parallel: one per core, at most 4. */
export function countParallelism(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * `pg_dump -Fc -Z0` of a snapshot exported from a REPEATABLE READ transaction; the exact row
 * count of every table is taken in that same snapshot, so the counts describe exactly the data
 * in the dump. The counting starts once pg_dump has exited (not beside it, where a second
 * backend scanning every table competes with pg_dump, zstd and age for the same cores) and is
 * shared out over that transaction and a few more that import its snapshot; the exporting
 * transaction stays open until the counts are done, which keeps the snapshot importable.
 */
export async function openPostgres(o: SourceOptions): Promise<OpenSource> {
  const target = parsePgConn(o.url);
  const tools = requireTools([{ cmd: "pg_dump", why: "dumps the postgres source" }]);
  const scrubber = (s: string) => scrub(s, [target.password]);
  const client = pgClient(target);
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw new RunError(`cannot connect to ${target.display}: ${scrubber(errorMessage(e))}`);
  }
  let snapshot: string, serverVersion: string, database: string, roles: PgRole[];
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const r = await client.query<{ s: string; v: string; d: string }>(
      "SELECT pg_export_snapshot() AS s, current_setting('server_version') AS v, current_database() AS d",
    );
    snapshot = r.rows[0]!.s;
    serverVersion = r.rows[0]!.v;
    database = r.rows[0]!.d;
  } catch (e) {
    await client.end().catch(() => undefined);
    throw new RunError(`cannot export a snapshot from ${target.display} (a transaction-mode pooler cannot; use a direct or session-mode URL): ${scrubber(errorMessage(e))}`);
  }
  // Roles are cluster-wide and not in the dump; recorded so a restore onto a new server can create them.
  try {
    roles = await readRoles(client);
  } catch (e) {
    await client.end().catch(() => undefined);
    throw new RunError(`cannot read the roles of ${target.display} (pg_roles, pg_auth_members): ${scrubber(errorMessage(e))}`);
  }
  const dump = startProc(
    "pg_dump",
    "pg_dump",
    ["--format=custom", "--compress=0", `--snapshot=${snapshot}`, "--no-password", `--dbname=${target.url}`],
    { env: pgEnv(target), scrubber, stdinIgnore: true },
  );
  const extra: Client[] = [];
  const helpers: Client[] = [];
  const counts = dump.done.then(async () => {
    // Helpers that cannot join the snapshot (connection limit, pooler) are left out: the
    // exporting transaction alone can count everything.
    for (let i = 1; i < countParallelism() && !closed; i++) {
      const c = pgClient(target, "lifeboat-runner-count");
      c.on("error", () => undefined);
      helpers.push(c);
      try {
        await c.connect();
        await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        await c.query(`SET TRANSACTION SNAPSHOT '${snapshot.replace(/'/g, "''")}'`);
        extra.push(c);
      } catch {
        await c.end().catch(() => undefined);
        break;
      }
    }
    return countRowsOn([client, ...extra]);
  });
  counts.catch(() => undefined);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const c of helpers) await c.end().catch(() => undefined);
    await client.query("ROLLBACK").catch(() => undefined);
    await client.end().catch(() => undefined);
  };
  return {
    stream: dump.child.stdout!,
    procs: [dump],
    tools,
    async finish() {
      let tables;
      try {
        tables = await counts;
      } catch (e) {
        throw new RunError(`counting rows in the dump's snapshot failed: ${scrubber(errorMessage(e))}`);
      }
      await close();
      return { postgres: { serverVersion, database, tables, roles } };
    },
    cleanup: close,
  };
}
