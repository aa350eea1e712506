import { Client } from "pg";

import { requireTools } from "../version";
import { RunError, errorMessage } from "../errors";
import { scrub } from "../redact";
import { parsePgConn, pgClient, pgEnv } from "../pgconn";
import { OpenSource, SourceOptions } from "./types";
import { startDump } from "./pgDumpStream";
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
 * in TABLES_SQL order, as `countRows` returns them. Plain tables found in `known` (counts already
 * taken in the same snapshot, keyed by `tableKey`) are not scanned again.
 */
export async function countRowsOn(clients: Client[], known?: Map<string, number>): Promise<Array<{ table: string; rows: number }>> {
  const tables = await clients[0]!.query<{ schema: string; name: string; kind: string }>(TABLES_SQL);
  const out: Array<{ table: string; rows: number }> = tables.rows.map((t) => ({ table: `${t.schema}.${t.name}`, rows: 0 }));
  let queue = tables.rows.map((_, i) => i).filter((i) => {
    const t = tables.rows[i]!;
    const rows = t.kind === "r" ? known?.get(tableKey(t.schema, t.name)) : undefined;
    if (rows !== undefined) out[i]!.rows = rows;
    return rows === undefined;
  });
  if (clients.length > 1 && queue.length > 1) {
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

/** A table's identity as a map key: unlike `schema.name`, "a.b"."c" and "a"."b.c" differ. */
export function tableKey(schema: string, name: string): string {
  return JSON.stringify([schema, name]);
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * `pg_dump -Fc -Z0` of a snapshot exported from a REPEATABLE READ transaction. The exact row count
 * of every table is read from the archive itself as it streams to zstd (pgArchiveCounter: the
 * newlines of each table's COPY data), so the database is read once. What the archive carries no
 * COPY data for (materialized views: pg_dump stores only their REFRESH) is counted with count(*)
 * in that same snapshot once pg_dump has exited; the exporting transaction stays open until then.
 */
export async function openPostgres(o: SourceOptions): Promise<OpenSource> {
  const target = parsePgConn(o.url);
  requireTools([{ cmd: "pg_dump", why: "dumps the postgres source" }]);
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
  const dump = startDump(["--format=custom", "--compress=0", `--snapshot=${snapshot}`, "--no-password", `--dbname=${target.url}`], { env: pgEnv(target), scrubber });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    dump.dispose();
    await client.query("ROLLBACK").catch(() => undefined);
    await client.end().catch(() => undefined);
  };
  // Roles are cluster-wide and not in the dump; recorded so a restore onto a new server can create
  // them. Read in the snapshot's transaction while pg_dump starts, not before it.
  try {
    roles = await readRoles(client);
  } catch (e) {
    dump.procs.forEach((p) => p.kill());
    await Promise.allSettled(dump.procs.map((p) => p.done));
    await close();
    throw new RunError(`cannot read the roles of ${target.display} (pg_roles, pg_auth_members): ${scrubber(errorMessage(e))}`);
  }
  return {
    stream: dump.raw,
    procs: dump.procs,
    // pg_dump's version is in the archive's header: no `pg_dump --version` (Debian's perl
    // wrapper: 95 ms from its start to the real pg_dump's in one strace here) competes with the dump's start.
    tools: () => ({ pg_dump: dump.toolVersion() }),
    async finish() {
      let tables;
      try {
        const fromArchive = new Map(dump.tables().map((t) => [tableKey(t.schema, t.name), t.rows]));
        tables = await countRowsOn([client], fromArchive);
      } catch (e) {
        throw new RunError(`counting rows in the dump's snapshot failed: ${scrubber(errorMessage(e))}`);
      }
      await close();
      return { postgres: { serverVersion, database, tables, roles } };
    },
    cleanup: close,
  };
}
