/**
 * The scheduler's side of the job table (its schema is the contract in lifeboat-core): loading
 * it from disk, and the pure decisions the scheduler takes on it (what a tick does, what a job's
 * child process sees).
 */
import { readFileSync } from "node:fs";
import { InvalidJobTable, JOB_ENV_PREFIX, JobTable, ScheduledJob, parseJobTable } from "lifeboat-core";
import { UsageError } from "./errors";

export function loadJobTable(file: string): JobTable {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`--jobs: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--jobs: ${file} is not JSON: ${(e as Error).message}`);
  }
  return checkJobTable(value, `--jobs ${file}`);
}

/** {@link parseJobTable} for the runner: an invalid table is a usage error (exit 2). */
export function checkJobTable(value: unknown, where: string): JobTable {
  try {
    return parseJobTable(value, where);
  } catch (e) {
    throw e instanceof InvalidJobTable ? new UsageError(e.message) : e;
  }
}

/** Container variables a job's `env` names that are not set (the job could not run as deployed). */
export function missingJobEnv(table: JobTable, env: NodeJS.ProcessEnv): string[] {
  return table.jobs.flatMap((j) => Object.values(j.env).filter((v) => env[v] === undefined).map((v) => `${j.name}: ${v}`));
}

/**
 * What one job's child process sees: the scheduler's environment without any per-job variable
 * (no job reads another's secrets), plus this job's own, under the names the runner reads.
 */
export function childEnv(job: ScheduledJob, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith(JOB_ENV_PREFIX)) out[k] = v;
  for (const [k, from] of Object.entries(job.env)) {
    const v = env[from];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Where a job is between runs. */
export type JobPhase = "idle" | "queued" | "running";

/**
 * What a tick of a job does. A job that is running or already waiting for a slot is skipped
 * (recorded, not queued again, so a slow job never builds a backlog); otherwise it starts when
 * fewer than `limit` jobs run, else it waits for the next free slot.
 */
export function tickDecision(phase: JobPhase, running: number, limit: number): "start" | "queue" | "skip" {
  if (phase !== "idle") return "skip";
  return running < limit ? "start" : "queue";
}
