import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { pgBin, requireTool } from "./tools";
import { freePort, waitFor } from "./ports";

export interface PgServer {
  port: number;
  /** URL of a database on this server (as the `postgres` superuser, trust auth on loopback). */
  url(db: string): string;
  query<T = Record<string, unknown>>(db: string, sql: string): Promise<T[]>;
  stop(): Promise<void>;
}

function asPostgres(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (id.status !== 0) throw new Error("test prerequisite missing: OS user 'postgres' (initdb refuses root; install the postgresql package)");
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** A throwaway PostgreSQL cluster in a temp dir on a free loopback port, run as the postgres OS user. */
export async function startPostgres(): Promise<PgServer> {
  requireTool("pg_dump", "postgresql-client");
  requireTool("pg_restore", "postgresql-client");
  requireTool("psql", "postgresql-client");
  const initdb = pgBin("initdb");
  const postgres = pgBin("postgres");
  const ids = asPostgres();
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-pg-"));
  chmodSync(dir, 0o700);
  if (ids.uid !== undefined) chownSync(dir, ids.uid, ids.gid!);
  const data = join(dir, "data");
  const init = spawnSync(initdb, ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"], {
    ...ids,
    encoding: "utf8",
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error}`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    postgres,
    ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=50"],
    { ...ids, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (b) => (log = (log + b.toString()).slice(-4000)));
  const url = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const query = async <T>(db: string, sql: string): Promise<T[]> => {
    const c = new Client({ connectionString: url(db) });
    await c.connect();
    try {
      const r = await c.query(sql);
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      return last.rows as T[];
    } finally {
      await c.end();
    }
  };
  await waitFor(`postgres on port ${port} (${log})`, async () => {
    await query("postgres", "SELECT 1");
    return true;
  });
  return {
    port,
    url,
    query,
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
