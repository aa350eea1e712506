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
  /**
   * URL of a database on this server as the `postgres` superuser, password included: the cluster
   * authenticates every connection (TCP and Unix socket) with scram-sha-256, as production does.
   */
  url(db: string): string;
  /** The superuser's password (it holds URL-reserved characters, percent-encoded in `url`). */
  superPassword: string;
  /** A LOGIN role that is not a superuser (CREATEDB only), with a password: the app's own identity. */
  app: { user: string; password: string };
  /** URL of a database as the `app` role, password percent-encoded. */
  appUrl(db: string): string;
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

/** Passwords with characters that URLs, DSNs and SQL must escape, so every test exercises the escaping. */
export const SUPER_PASSWORD = "Su:p@ss/w%rd";
export const APP_ROLE = { user: "app", password: "App p@ss/w:rd%'?" };

/** `postgres://user:password@127.0.0.1:port/db`, user and password percent-encoded. */
export function pgUrl(port: number, user: string, password: string, db: string): string {
  return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
}

/** A throwaway PostgreSQL cluster in a temp dir on a free loopback port, run as the postgres OS user, scram-sha-256 for every connection. */
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
  // initdb reads the superuser's password from a file the postgres OS user can read; removed once used.
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, SUPER_PASSWORD + "\n", { mode: 0o600 });
  if (ids.uid !== undefined) chownSync(pwfile, ids.uid, ids.gid!);
  const initArgs = ["-D", data, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pwfile}`, "--no-sync", "-E", "UTF8", "--locale=C"];
  if (opts.walSegSizeMB) initArgs.push(`--wal-segsize=${opts.walSegSizeMB}`);
  const init = spawnSync(initdb, initArgs, {
    ...ids,
    encoding: "utf8",
  });
  rmSync(pwfile);
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
  const url = (db: string) => pgUrl(port, "postgres", SUPER_PASSWORD, db);
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
  const sqlString = (v: string) => `'${v.replace(/'/g, "''")}'`;
  await query("postgres", `CREATE ROLE ${APP_ROLE.user} WITH LOGIN CREATEDB PASSWORD ${sqlString(APP_ROLE.password)}`);
  const repl = opts.replication;
  if (repl) {
    await query("postgres", `CREATE ROLE ${repl.user} WITH LOGIN REPLICATION PASSWORD ${sqlString(repl.password)}`);
  }
  return {
    port,
    dataDir: data,
    dir,
    ...(repl ? { replicationUrl: (db: string) => pgUrl(port, repl.user, repl.password, db) } : {}),
    url,
    superPassword: SUPER_PASSWORD,
    app: APP_ROLE,
    appUrl: (db: string) => pgUrl(port, APP_ROLE.user, APP_ROLE.password, db),
    query,
    async stop() {
      // A server killed by a signal has exitCode null and signalCode set: it is gone already.
      if (child.exitCode === null && child.signalCode === null) {
        const closed = new Promise((r) => child.once("close", r));
        child.kill("SIGINT");
        await closed;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
