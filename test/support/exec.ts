import { spawn, SpawnOptions } from "node:child_process";

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command asynchronously (so in-process test servers keep serving) and collects output. */
export function exec(cmd: string, args: string[], opts: SpawnOptions & { input?: string | Buffer } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (b) => out.push(b));
    child.stderr!.on("data", (b) => err.push(b));
    child.on("error", reject);
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(opts.input ?? "");
    child.on("close", (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
    );
  });
}

/** Like exec but throws with stderr when the exit code is not 0. */
export async function execOk(cmd: string, args: string[], opts: SpawnOptions & { input?: string | Buffer } = {}): Promise<string> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
