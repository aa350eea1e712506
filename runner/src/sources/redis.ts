import { startProc, requireTools } from "../proc";
import { UsageError } from "../errors";
import { redactUrl, scrub } from "../redact";
import { OpenSource, SourceOptions } from "./types";

/** redis-cli arguments and environment for a redis:// or rediss:// URL; the password goes in REDISCLI_AUTH. */
export function redisCliArgs(url: string | undefined, flag = "--url"): { args: string[]; env: NodeJS.ProcessEnv; password?: string } {
  if (!url) throw new UsageError(`${flag} redis://[USER:PASSWORD@]HOST:PORT (or LIFEBOAT_SOURCE_URL) is required for a redis source`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${flag}: not a URL: ${JSON.stringify(redactUrl(url))}`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new UsageError(`${flag}: must start with redis:// or rediss://`);
  const args = ["-h", u.hostname.replace(/^\[|\]$/g, ""), "-p", u.port || "6379"];
  if (u.protocol === "rediss:") args.push("--tls");
  if (u.username && u.password) args.push("--user", decodeURIComponent(u.username));
  const env = { ...process.env };
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  if (password) env.REDISCLI_AUTH = password;
  return { args, env, password };
}

/** `redis-cli --rdb -`: the server's RDB snapshot streamed to us. */
export async function openRedis(o: SourceOptions): Promise<OpenSource> {
  const { args, env, password } = redisCliArgs(o.url);
  const tools = requireTools([{ cmd: "redis-cli", why: "reads the redis RDB snapshot" }]);
  const p = startProc("redis-cli", "redis-cli", [...args, "--rdb", "-"], {
    env,
    stdinIgnore: true,
    scrubber: (s) => scrub(s, [password]),
  });
  return {
    stream: p.child.stdout!,
    procs: [p],
    tools: () => tools,
    async finish() {
      return { file: { name: "dump.rdb" } };
    },
    async cleanup() {},
  };
}
