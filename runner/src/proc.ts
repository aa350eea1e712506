import { spawn, spawnSync, ChildProcess, SpawnOptions } from "node:child_process";
import { Readable } from "node:stream";
import { RunError, UsageError } from "./errors";
import { versionLine } from "./version";
import { runStopped, whenStopped } from "./stop";

/** Keeps the last `limit` bytes of a process's stderr for error messages. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = 4096) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks).toString("utf8");
    return all.length > this.limit ? all.slice(-this.limit) : all;
  }
}

export interface Proc {
  name: string;
  child: ChildProcess;
  stderr: TailBuffer;
  /** Resolves when the process exits 0; rejects with a RunError naming the tool otherwise. */
  done: Promise<void>;
  /** True once `kill` was called: its failure then follows another's, which is the one to report. */
  readonly killed: boolean;
  kill(): void;
}

/** Files (FIFOs) a process gets as stdin, stdout and fd 3, opened by the shell that execs it. */
export interface Redirect {
  stdin?: string;
  stdout?: string;
  fd3?: string;
}

/** Exit code of a shell whose `exec` did not find the command. */
const SHELL_NOT_FOUND = 127;

/**
 * `sh -c 'exec "$@" <IN >OUT 3>COPY' …`: the shell opens the redirections, which for a FIFO blocks
 * until its other end is opened, in the child rather than in node, then becomes the command.
 */
function redirected(cmd: string, args: string[], r: Redirect): [string, string[]] {
  const paths: string[] = [];
  const names: string[] = [];
  const parts: string[] = [];
  for (const [op, path] of [["<", r.stdin], [">", r.stdout], ["3>", r.fd3]] as const) {
    if (path === undefined) continue;
    paths.push(path);
    names.push(`f${paths.length}=$${paths.length}`);
    parts.push(`${op}"$f${paths.length}"`);
  }
  return ["sh", ["-c", `${names.join(" ")}; shift ${paths.length}; exec "$@" ${parts.join(" ")}`, "sh", ...paths, cmd, ...args]];
}

/**
 * Spawns a tool with stdin/stdout piped and stderr captured. A missing tool is reported by name.
 * `scrubber` removes secrets from the error text. `stdinFrom`, another child's stdout that node
 * has not read from, becomes this tool's stdin directly (a kernel pipe between the two, no copy
 * through node); node's own copy of that descriptor is closed, so a reader that dies makes the
 * writer fail with EPIPE instead of blocking forever.
 */
export function startProc(
  name: string,
  cmd: string,
  args: string[],
  opts: SpawnOptions & {
    scrubber?: (s: string) => string;
    stdinIgnore?: boolean;
    stdinFrom?: Readable;
    okCodes?: number[];
    onWarnExit?: (code: number, stderr: string) => void;
    redirect?: Redirect;
  } = {},
): Proc {
  const [file, argv] = opts.redirect ? redirected(cmd, args, opts.redirect) : [cmd, args];
  const child = spawn(file, argv, {
    ...opts,
    stdio: [opts.stdinFrom ?? (opts.stdinIgnore ? "ignore" : "pipe"), "pipe", "pipe"],
  });
  if (opts.stdinFrom) opts.stdinFrom.destroy();
  const stderr = new TailBuffer();
  child.stderr!.on("data", (b: Buffer) => stderr.push(b));
  // Writes into a process that died are reported through `done`, not as an unhandled EPIPE.
  child.stdin?.on("error", () => undefined);
  child.stdout!.on("error", () => undefined);
  const scrubber = opts.scrubber ?? ((s: string) => s);
  let killed = false;
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") reject(new RunError(`${name}: command not found (${cmd}); install it or put it on PATH`));
      else reject(new RunError(`${name}: ${scrubber(e.message)}`));
    });
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else if (opts.redirect && code === SHELL_NOT_FOUND && /not found/.test(stderr.text())) reject(new RunError(`${name}: command not found (${cmd}); install it or put it on PATH`));
      else if (code !== null && opts.okCodes?.includes(code)) {
        opts.onWarnExit?.(code, scrubber(stderr.text().trim()));
        resolve();
      } else if (killed && runStopped.aborted) {
        // Stopped with the run (stop.ts): the stop is what happened, not the signal we sent.
        reject(runStopped.reason);
      } else {
        const tail = scrubber(stderr.text().trim());
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new RunError(`${name} ${how}${tail ? `: ${tail}` : ""}`));
      }
    });
  });
  done.catch(() => undefined);
  const proc: Proc = {
    name,
    child,
    stderr,
    done,
    get killed() {
      return killed;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true;
        child.kill("SIGTERM");
        const t = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        }, 3000);
        t.unref();
      }
    },
  };
  // A signal that stops the run, or the runner's exit, stops this process too (stop.ts); a
  // process that ended is forgotten.
  child.once("close", whenStopped(() => proc.kill()));
  return proc;
}

/** Runs a tool to completion and returns its stdout; rejects naming the tool on failure. */
export async function run(
  name: string,
  cmd: string,
  args: string[],
  opts: SpawnOptions & { scrubber?: (s: string) => string; input?: string } = {},
): Promise<string> {
  const p = startProc(name, cmd, args, opts);
  const out: Buffer[] = [];
  p.child.stdout!.on("data", (b: Buffer) => out.push(b));
  if (p.child.stdin) p.child.stdin.end(opts.input ?? "");
  await p.done;
  return Buffer.concat(out).toString("utf8");
}

/** First line of `<cmd> --version` (or the given flag), or undefined when the tool is absent. */
export function toolVersion(cmd: string, flag = "--version"): string | undefined {
  const r = spawnSync(cmd, [flag], { encoding: "utf8", timeout: 10000 });
  if (r.error || r.status !== 0) return undefined;
  return versionLine(`${r.stdout}`, `${r.stderr}`);
}

/** Throws a UsageError naming every missing tool, before any work starts. */
export function requireTools(tools: Array<{ cmd: string; flag?: string; why: string }>): Record<string, string> {
  const versions: Record<string, string> = {};
  const missing: string[] = [];
  for (const t of tools) {
    const v = toolVersion(t.cmd, t.flag);
    if (v === undefined) missing.push(`${t.cmd} (${t.why})`);
    else versions[t.cmd.split("/").pop()!] = v;
  }
  if (missing.length) throw new UsageError(`required tool not found: ${missing.join(", ")}`);
  return versions;
}

/**
 * Waits for every process; the first failure wins but all are awaited. A process killed by
 * SIGPIPE only lost its reader: the reader's own failure (age refusing a recipient under
 * `zstd | age`) is the cause to report, so such a death counts only when nothing else failed.
 * So does a process the runner killed because something else failed.
 */
export async function allDone(procs: Proc[]): Promise<void> {
  const { cause } = await settle(procs);
  if (cause !== undefined) throw cause;
}

/**
 * Every process settled: the failure to report, if any, and whether it is only secondary (every
 * failed process lost its reader or was killed by the runner), so that a failure found outside
 * the processes (a check of the bytes) is the better cause.
 */
export async function settle(procs: Proc[]): Promise<{ cause?: unknown; secondary: boolean }> {
  const results = await Promise.allSettled(procs.map((p) => p.done));
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [{ reason: r.reason as unknown, secondary: procs[i]!.child.signalCode === "SIGPIPE" || procs[i]!.killed }] : []));
  const cause = failed.find((f) => !f.secondary) ?? failed[0];
  return cause ? { cause: cause.reason, secondary: cause.secondary } : { secondary: false };
}

/** True while a process with this pid exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
