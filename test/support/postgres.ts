import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync, chmodSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { pgBin, requireTool } from "./tools";
import { freePort, waitFor } from "./ports";

export interface PgServer {
  port: number;
  /** The cluster's data directory and the directory holding it (and the Unix socket). */
  dataDir: string;
  dir: string;
  /** With `replication`: a URL for the replication user, password included (pass it through the environment). */
  replicationUrl?(db: string): string;
  /** URL of a database on this server (as the `postgres` superuser, trust auth on loopback). */
  url(db: string): string;
  query<T = Record<string, unknown>>(db: string, sql: string): Promise<T[]>;
  stop(): Promise<void>;
}

/** Starting the cluster ready for streaming replication (wal-stream, basebackup). */
export interface PgOptions {
  /** wal_level=replica, WAL senders and slots, a LOGIN REPLICATION role with this password and its pg_hba lines (scram). */
  replication?: { user: string; password: string };
  /** initdb --wal-segsize (MB): 1 makes segments complete quickly in tests. */
  walSegSizeMB?: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
}

/** uid/gid of the `postgres` OS user when running as root (initdb and postgres refuse root), else {}. */
export function postgresIds(): { uid?: number; gid?: number } {
  return asPostgres();
}

function asPostgres(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (id.status !== 0) throw new Error("test prerequisite missing: OS user 'postgres' (initdb refuses root; install the postgresql package)");
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** A throwaway PostgreSQL cluster in a temp dir on a free loopback port, run as the postgres OS user. */
export async function startPostgres(opts: PgOptions = {}): Promise<PgServer> {
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
  const initArgs = ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"];
  if (opts.walSegSizeMB) initArgs.push(`--wal-segsize=${opts.walSegSizeMB}`);
  const init = spawnSync(initdb, initArgs, {
    ...ids,
    encoding: "utf8",
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error}`);
  const settings: Record<string, string> = { ...(opts.settings ?? {}) };
  if (opts.replication) {
    Object.assign(settings, { wal_level: "replica", max_wal_senders: "10", max_replication_slots: "10", password_encryption: "scram-sha-256" }, opts.settings ?? {});
    // First match wins: the replication user must authenticate with its password, over TCP, from loopback only.
    const hba = join(data, "pg_hba.conf");
    const lines = `host replication ${opts.replication.user} 127.0.0.1/32 scram-sha-256\nhost all ${opts.replication.user} 127.0.0.1/32 scram-sha-256\n`;
    writeFileSync(hba, lines + readFileSync(hba, "utf8"));
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    postgres,
    ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=50", ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])],
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
  const repl = opts.replication;
  if (repl) {
    await query("postgres", `CREATE ROLE ${repl.user} WITH LOGIN REPLICATION PASSWORD '${repl.password.replace(/'/g, "''")}'`);
  }
  return {
    port,
    dataDir: data,
    dir,
    ...(repl ? { replicationUrl: (db: string) => `postgres://${repl.user}:${encodeURIComponent(repl.password)}@127.0.0.1:${port}/${db}` } : {}),
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
