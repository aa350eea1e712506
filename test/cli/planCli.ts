import { execFile } from "child_process";
import * as path from "path";
import { promisify } from "util";
import { lifeboatCli } from "../../cli/plan/main";

/** The repository root: where Pulumi.yaml and the stack files are. */
export const ROOT = path.resolve(__dirname, "../..");
const run = promisify(execFile);

export interface PlanResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `lifeboat plan` as a user would (`node bin/lifeboat.js plan ARGS` from the
 * repository root); resolves with the exit code and output, never rejects.
 */
export async function plan(...args: string[]): Promise<PlanResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(ROOT, "bin/lifeboat.js"), "plan", ...args], { cwd: ROOT, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

let queue: Promise<unknown> = Promise.resolve();
/**
 * `lifeboat ARGS` in the test's own process, through the same code as the binary but its
 * entry point: no process per plan. Runs one at a time (the Pulumi runtime is process-global),
 * in call order, whatever the caller awaits concurrently.
 */
export function cliInProcess(...args: string[]): Promise<PlanResult> {
  const run = queue.then(async () => {
    let stdout = "";
    let stderr = "";
    const code = await lifeboatCli(["node", "lifeboat", ...args, ...(args[0] === "plan" && !args.includes("--cwd") ? ["--cwd", ROOT] : [])], {
      out: (t) => void (stdout += t),
      err: (t) => void (stderr += t),
    });
    return { code, stdout, stderr };
  });
  queue = run.catch(() => undefined);
  return run;
}

const planned = new Map<string, Promise<PlanResult>>();
/** `lifeboat plan ARGS` in-process, once per distinct argument list in a test file. */
export function planOnce(...args: string[]): Promise<PlanResult> {
  const key = JSON.stringify(args);
  if (!planned.has(key)) planned.set(key, cliInProcess("plan", ...args));
  return planned.get(key)!;
}
