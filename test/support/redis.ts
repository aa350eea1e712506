import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTool } from "./tools";
import { freePort, waitFor } from "./ports";
import { exec } from "./exec";

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** A redis-server on a free loopback port with its own data dir; `dbfilename` lets tests load a restored RDB. */
export async function startRedis(opts: { dir?: string; dbfilename?: string; password?: string } = {}): Promise<RedisServer> {
  requireTool("redis-server", "redis-server");
  requireTool("redis-cli", "redis-tools");
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "lifeboat-redis-"));
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--dbfilename", opts.dbfilename ?? "dump.rdb"];
  if (opts.password) args.push("--requirepass", opts.password);
  const child: ChildProcess = spawn("redis-server", args, { stdio: "ignore" });
  const auth = opts.password ? { REDISCLI_AUTH: opts.password } : {};
  const cli = async (...a: string[]) => {
    const r = await exec("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...a], { env: { ...process.env, ...auth } });
    if (r.code !== 0) throw new Error(`redis-cli ${a.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await waitFor(`redis on ${port}`, async () => (await cli("PING")) === "PONG");
  return {
    port,
    dir,
    url: opts.password ? `redis://:${encodeURIComponent(opts.password)}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`,
    cli,
    async stop() {
      if (child.exitCode === null) {
        const closed = new Promise((r) => child.once("close", r));
        child.kill("SIGTERM");
        await closed;
      }
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
