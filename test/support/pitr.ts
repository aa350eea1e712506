/**
 * What the point-in-time recovery suites (pitr, pitrLoad, pitrRestore) share: the `wal-stream`
 * sidecar as a detached child process, and restored data directories started with pg_ctl as the
 * postgres user, each on a free loopback port, scram-sha-256 as the source cluster had it.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { exec } from "./exec";
import { freePort, waitFor } from "./ports";
import { pgUrl, postgresIds, SUPER_PASSWORD } from "./postgres";
import { RUNNER_BIN } from "./runner";
import { pgBin } from "./tools";

/**
 * `lifeboat-runner wal-stream ARGS` with a clean environment plus `env`, in its own process group
 * (killing the group is what a container kill does); each chunk of its output goes to `onOutput`.
 */
export function spawnSidecar(args: string[], env: NodeJS.ProcessEnv, onOutput: (text: string) => void = () => undefined): ChildProcess {
  const child = spawn(process.execPath, [RUNNER_BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8", ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (b) => onOutput(b.toString()));
  child.stderr!.on("data", (b) => onOutput(b.toString()));
  return child;
}

export interface Restored {
  /** Connected to the `app` database as the superuser. */
  client: Client;
  port: number;
  /** The server's log file. */
  log: string;
}

/** The restored servers one suite starts; stopAll() in its afterAll stops those still running. */
export class RestoredServers {
  private readonly dirs = new Set<string>();

  /** `logDir` gives the directory for the servers' logs (the suite's work dir, made in beforeAll). */
  constructor(private readonly logDir: () => string) {}

  /** pg_ctl start as the postgres user, with extra `-c` settings; resolves once recovery ended and the server was promoted. */
  async start(dir: string, settings: Record<string, string> = {}): Promise<Restored> {
    const ids = postgresIds();
    if (ids.uid !== undefined) spawnSync("chown", ["-R", `${ids.uid}:${ids.gid}`, dir]);
    const port = await freePort();
    this.dirs.add(dir);
    const log = join(this.logDir(), `${port}.log`);
    writeFileSync(log, "");
    if (ids.uid !== undefined) spawnSync("chown", [`${ids.uid}:${ids.gid}`, log]);
    const opts = [`-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(" ");
    // Not spawnSync: restore_command fetches WAL through the strict S3 layer, which runs in this
    // process; blocking it would stall recovery (and a sidecar's uploads) until pg_ctl gives up.
    const r = await exec(pgBin("pg_ctl"), ["-D", dir, "-l", log, "-w", "-t", "120", "-o", opts, "start"], ids);
    if (r.code !== 0) throw new Error(`pg_ctl start failed: ${r.stdout}${r.stderr}\n${readFileSync(log, "utf8")}`);
    const client = new Client({ connectionString: pgUrl(port, "postgres", SUPER_PASSWORD, "app") });
    await client.connect();
    await waitFor(`promotion of ${dir}`, async () => !(await client.query("SELECT pg_is_in_recovery() AS r")).rows[0].r, 90_000);
    return { client, port, log };
  }

  /** pg_ctl stop -m immediate, when the server still runs. */
  stop(dir: string): void {
    if (!existsSync(join(dir, "postmaster.pid"))) return;
    spawnSync(pgBin("pg_ctl"), ["-D", dir, "-m", "immediate", "-w", "stop"], { ...postgresIds(), encoding: "utf8" });
  }

  stopAll(): void {
    for (const d of this.dirs) this.stop(d);
  }
}
