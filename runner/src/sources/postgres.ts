import { Client } from "pg";
import { startProc, requireTools } from "../proc";
import { RunError, UsageError, errorMessage } from "../errors";
import { redactUrl, scrub } from "../redact";
import { OpenSource, SourceOptions } from "./types";

export interface PgTarget {
  /** URL without the password, safe for argv. */
  url: string;
  password?: string;
  display: string;
}

/** Splits a postgres URL into an argv-safe URL and a password for PGPASSWORD. */
export function pgTarget(url: string | undefined, flag = "--url"): PgTarget {
  if (!url) throw new UsageError(`${flag} postgres://USER@HOST:PORT/DB (or LIFEBOAT_SOURCE_URL) is required for a postgres source`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${flag}: not a URL: ${JSON.stringify(redactUrl(url))}`);
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new UsageError(`${flag}: must start with postgres:// or postgresql://, got ${u.protocol}//`);
  }
  if (!u.pathname || u.pathname === "/") throw new UsageError(`${flag}: names no database (postgres://HOST/DBNAME)`);
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  u.password = "";
  return { url: u.toString(), password, display: redactUrl(url) };
}

export function pgEnv(t: PgTarget): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (t.password !== undefined) env.PGPASSWORD = t.password;
  return env;
}

export function pgClient(t: PgTarget, appName = "lifeboat-runner"): Client {
  return new Client({ connectionString: t.url, password: t.password, application_name: appName });
}

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
  const tables = await client.query<{ schema: string; name: string; kind: string }>(TABLES_SQL);
  const out: Array<{ table: string; rows: number }> = [];
  for (const t of tables.rows) {
    const ident = `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.kind === "r" ? "ONLY " : ""}${ident}`);
    out.push({ table: `${t.schema}.${t.name}`, rows: Number(r.rows[0]!.n) });
  }
  return out;
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * `pg_dump -Fc -Z0` of a snapshot exported from a REPEATABLE READ transaction; the exact row
 * count of every table is taken in that same transaction while the dump runs, so the counts
 * describe exactly the data in the dump.
 */
export async function openPostgres(o: SourceOptions): Promise<OpenSource> {
  const target = pgTarget(o.url);
  const tools = requireTools([{ cmd: "pg_dump", why: "dumps the postgres source" }]);
  const scrubber = (s: string) => scrub(s, [target.password]);
  const client = pgClient(target);
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw new RunError(`cannot connect to ${target.display}: ${scrubber(errorMessage(e))}`);
  }
  let snapshot: string, serverVersion: string, database: string;
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
  const dump = startProc(
    "pg_dump",
    "pg_dump",
    ["--format=custom", "--compress=0", `--snapshot=${snapshot}`, "--no-password", `--dbname=${target.url}`],
    { env: pgEnv(target), scrubber, stdinIgnore: true },
  );
  const counts = countRows(client);
  counts.catch(() => undefined);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
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
      return { postgres: { serverVersion, database, tables } };
    },
    cleanup: close,
  };
}
