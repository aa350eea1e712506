import { execFile } from "child_process";
import * as path from "path";
import { promisify } from "util";

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
