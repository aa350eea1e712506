import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { RunError, UsageError } from "./errors";

/** The runner's version (its package.json), without loading any command module. */
export const RUNNER_VERSION: string = (() => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require("../package.json").version as string;
  } catch {
    return "unknown";
  }
})();

/** True when `cmd` is an executable file: on PATH, or as given when it names a path. */
export function onPath(cmd: string): boolean {
  const dirs = cmd.includes("/") ? [""] : (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  return dirs.some((d) => {
    try {
      accessSync(d ? join(d, cmd) : cmd, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface ToolNeed {
  cmd: string;
  flag?: string;
  why: string;
}

/** Throws a UsageError naming every tool not on PATH (a file lookup, no process). */
export function requireTools(tools: ToolNeed[]): void {
  const missing = tools.filter((t) => !onPath(t.cmd)).map((t) => `${t.cmd} (${t.why})`);
  if (missing.length) throw new UsageError(`required tool not found: ${missing.join(", ")}`);
}

/**
 * For the backup's hot path: throws a UsageError naming every tool not on PATH (a file lookup,
 * no process), then starts every `<cmd> --version` at once, without waiting. The versions (first
 * line of each, keyed by the command's base name) are wanted only for the manifest, written after
 * the stream: probing them one after another before the dump started cost 70–240 ms per backup
 * (pg_dump is Debian's perl wrapper). The promise rejects, naming the tool, if a probe fails.
 */
export function probeTools(tools: ToolNeed[]): Promise<Record<string, string>> {
  requireTools(tools);
  const versions = Promise.all(tools.map((t) => versionOf(t.cmd, t.flag))).then((vs) =>
    Object.fromEntries(tools.map((t, i) => [t.cmd.split("/").pop()!, vs[i]!])),
  );
  versions.catch(() => undefined); // awaited (and reported) by whoever writes the manifest
  return versions;
}

/** The first non-empty line a `--version` printed: on stdout, or on stderr for the tools that print it there. */
export function versionLine(stdout: string, stderr: string): string | undefined {
  return (stdout || stderr).split("\n").find((l) => l.trim().length > 0)?.trim();
}

function versionOf(cmd: string, flag = "--version"): Promise<string> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const child = spawn(cmd, [flag], { stdio: ["ignore", "pipe", "pipe"], timeout: 10000 });
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new RunError(`${cmd} ${flag}: ${e.message}`)));
    child.on("close", (code) => {
      const line = versionLine(Buffer.concat(out).toString("utf8"), Buffer.concat(err).toString("utf8"));
      if (code === 0 && line) resolve(line);
      else reject(new RunError(`${cmd} ${flag} exited with code ${code}: cannot record its version for the manifest`));
    });
  });
}
