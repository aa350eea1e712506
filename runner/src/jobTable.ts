/**
 * The job table of `lifeboat-runner schedule --jobs FILE`: every scheduled job of one container
 * (one host and privilege side), validated with zod before anything runs, and the pure decisions
 * the scheduler takes on it (what a tick does, what a job's child process sees).
 *
 * Secrets never appear in the table: a job names, for each variable its run needs (source URL,
 * S3 keys, webhook, ping URL), the container variable that holds the value, and every such
 * variable starts with {@link JOB_ENV_PREFIX}. The table is then plain, reviewable text (a file
 * the deployment uploads), and the values travel in the container's secret environment.
 */
import { readFileSync } from "node:fs";
import { Cron } from "croner";
import { parseDuration } from "lifeboat-core";
import { z } from "zod";
import { UsageError } from "./errors";

/** A job's name: like a source name, with room for a kind before it (`status-<source>`). */
const JOB_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,127}$/;

/** Container variables that carry per-job values start with this; no child inherits any of them. */
export const JOB_ENV_PREFIX = "LIFEBOAT_JOB_";

/** 5-field (minute) or 6-field (second) cron, UTC, as croner reads it. */
function cronProblem(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return `must be a 5-field cron expression (minute hour day month weekday), or 6-field with seconds first, got ${JSON.stringify(expr)}`;
  try {
    new Cron(expr, { timezone: "UTC", paused: true });
    return undefined;
  } catch (e) {
    return `is not a valid cron expression ${JSON.stringify(expr)}: ${(e as Error).message}`;
  }
}

const JobSchema = z
  .object({
    /** Unique within the table; the key of the job's state (lowercase letters, digits, hyphens). */
    name: z.string().regex(JOB_NAME_PATTERN, "must be lowercase letters, digits and hyphens, at most 128"),
    cron: z.string().superRefine((v, ctx) => {
      const p = cronProblem(v);
      if (p) ctx.addIssue({ code: "custom", message: p });
    }),
    /** The lifeboat-runner command of one run, e.g. `["backup", "--source", "postgres", …]`. */
    argv: z
      .array(z.string())
      .min(1, "must name a lifeboat-runner command")
      .refine((a) => a[0] !== "schedule", "cannot be `schedule` (a scheduler does not schedule itself)"),
    /** Child variable → the container variable holding its value (secret values, by name only). */
    env: z
      .record(
        z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name"),
        z.string().startsWith(JOB_ENV_PREFIX, `must name a container variable starting with ${JOB_ENV_PREFIX}`),
      )
      .default({}),
    /** Also run once when the scheduler starts. */
    runAtStart: z.boolean().default(false),
    /** The healthcheck calls the job overdue when its last success (or the scheduler's start) is older than this, e.g. `25h`. */
    maxAge: z
      .string()
      .refine((v) => {
        try {
          parseDuration(v);
          return true;
        } catch {
          return false;
        }
      }, "must be a duration such as 90m or 25h")
      .optional(),
  })
  .strict();

const TableSchema = z
  .object({ version: z.literal(1), jobs: z.array(JobSchema).min(1, "needs at least one job") })
  .strict()
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.jobs.forEach((j, i) => {
      if (seen.has(j.name)) ctx.addIssue({ code: "custom", path: ["jobs", i, "name"], message: `${JSON.stringify(j.name)} is used by two jobs` });
      seen.add(j.name);
    });
  });

export type ScheduledJob = z.infer<typeof JobSchema>;
export type JobTable = z.infer<typeof TableSchema>;
/** A job as written (defaults not yet filled): what the argv builders and the components produce. */
export type JobTableInput = z.input<typeof TableSchema>;

/** Validates a parsed job table; the error names the field (e.g. `jobs[1].cron`) and what is wrong. */
export function parseJobTable(value: unknown, where: string): JobTable {
  const r = TableSchema.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => {
    const path = i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "");
    return `${path || "(table)"}: ${i.message}`;
  });
  throw new UsageError(`${where}: invalid job table: ${problems.join("; ")}`);
}

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
  return parseJobTable(value, `--jobs ${file}`);
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
