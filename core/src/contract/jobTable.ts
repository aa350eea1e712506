/**
 * The job table of `lifeboat-runner schedule --jobs FILE`, as a contract: the components write
 * it (one per scheduler container) and the runner reads it, so its schema lives here, with no
 * runtime beside it. The runner's `jobTable.ts` loads it from disk and decides what each tick does.
 *
 * Secrets never appear in the table: a job names, for each variable its run needs (source URL,
 * S3 keys, webhook, ping URL), the container variable that holds the value, and every such
 * variable starts with {@link JOB_ENV_PREFIX}. The table is then plain, reviewable text (a file
 * the deployment uploads), and the values travel in the container's secret environment.
 */
import { Cron } from "croner";
import { z } from "zod";
import { parseDuration } from "../duration";

/** A job table that does not validate; the message names each field and what is wrong. */
export class InvalidJobTable extends Error {
  override name = "InvalidJobTable";
}

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
  throw new InvalidJobTable(`${where}: invalid job table: ${problems.join("; ")}`);
}

