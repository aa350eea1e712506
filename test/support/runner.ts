import { existsSync, mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { exec, ExecResult } from "./exec";
import { requireTool } from "./tools";

export const REPO = resolve(__dirname, "../..");
export const RUNNER_BIN = join(REPO, "runner/bin/lifeboat-runner.js");

/** Fails with a clear message when the runner was not built (`npm run build`). */
export function requireBuiltRunner(): void {
  if (!existsSync(join(REPO, "runner/dist/cli.js"))) {
    throw new Error("runner/dist/cli.js is missing: run `npm run build` before the runner end-to-end tests");
  }
  for (const [t, p] of [["zstd", "zstd"], ["age", "age"], ["age-keygen", "age"], ["tar", "tar"]] as const) requireTool(t, p);
}

/** `node runner/bin/lifeboat-runner.js ARGS` with a clean environment plus `env`. */
export async function runner(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ExecResult> {
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8" };
  return exec(process.execPath, [RUNNER_BIN, ...args], { env: { ...base, ...env }, cwd: REPO });
}

export function describeRun(r: ExecResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

export interface AgeKey {
  file: string;
  recipient: string;
}

/** A fresh age key pair in a temp dir. */
export function ageKey(dir = mkdtempSync(join(tmpdir(), "lifeboat-key-"))): AgeKey {
  const file = join(dir, `key-${Math.random().toString(16).slice(2)}.txt`);
  const r = spawnSync("age-keygen", ["-o", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`age-keygen failed: ${r.stderr}`);
  const recipient = spawnSync("age-keygen", ["-y", file], { encoding: "utf8" }).stdout.trim();
  return { file, recipient };
}

export function writeFile(path: string, text: string): void {
  writeFileSync(path, text);
}

export function readJson<T = any>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8"));
}

export type { ExecResult };
