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

/**
 * `lifeboat ARGS` in the test's own process: for paths that stop before the program runs
 * (usage, invalid config), where spawning a process per case only costs time.
 */
export async function cliInProcess(...args: string[]): Promise<PlanResult> {
  let stdout = "";
  let stderr = "";
  const code = await lifeboatCli(["node", "lifeboat", ...args], { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const planned = new Map<string, Promise<PlanResult>>();
/** {@link plan}, run once per distinct argument list in this test file: a file's tests share one process per plan. */
export function planOnce(...args: string[]): Promise<PlanResult> {
  const key = JSON.stringify(args);
  if (!planned.has(key)) planned.set(key, plan(...args));
  return planned.get(key)!;
}
