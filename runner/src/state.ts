import { promises as fsp } from "node:fs";
import { dirname, join } from "node:path";
import { homedir } from "node:os";
import { z } from "zod";

/**
 * The runner's own record of its last runs, per source name, on its local disk. The writer
 * cannot list the bucket, so `status --local` (a container healthcheck) reads this instead.
 */
const RunRecord = z.object({
  ok: z.boolean(),
  startedAt: z.string(),
  finishedAt: z.string(),
  key: z.string().optional(),
  storedBytes: z.number().optional(),
  rawBytes: z.number().optional(),
  error: z.string().optional(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/** One job of a `schedule --jobs` table, as its scheduler last saw it (the healthcheck reports these). */
const JobState = z.object({
  cron: z.string(),
  /** Overdue past this many seconds without a success (from the job table's maxAge). */
  maxAgeSeconds: z.number().optional(),
  phase: z.enum(["idle", "queued", "running"]),
  lastStart: z.string().optional(),
  lastEnd: z.string().optional(),
  /** How the last run ended: `exit 0`, `exit 1`, `signal SIGKILL`, or why it could not start. */
  lastResult: z.string().optional(),
  lastOk: z.boolean().optional(),
  /** When the last successful run finished. */
  lastSuccess: z.string().optional(),
  /** Ticks skipped because the job was still running or waiting for a slot. */
  skipped: z.number(),
  lastSkippedAt: z.string().optional(),
});
export type JobState = z.infer<typeof JobState>;

const StateFile = z.object({
  version: z.literal(1),
  sources: z.record(z.string(), z.object({ lastRun: RunRecord, lastSuccess: RunRecord.optional() })),
  /** When `schedule` last started: before the first run, a recent start counts as healthy. */
  schedulerStartedAt: z.string().optional(),
  /** `schedule --jobs`: each job's state, by job name. */
  jobs: z.record(z.string(), JobState).optional(),
});
export type StateFile = z.infer<typeof StateFile>;

export function defaultStatePath(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "lifeboat", "runner-state.json");
}

export async function readState(path: string): Promise<StateFile> {
  let text: string;
  try {
    text = await fsp.readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, sources: {} };
    throw e;
  }
  const r = StateFile.safeParse(JSON.parse(text));
  if (!r.success) throw new Error(`state file ${path} is not a Lifeboat runner state file`);
  return r.data;
}

const LOCK_WAIT_MS = 10_000;
/** A lock older than this is left over from a killed writer (a write takes milliseconds). */
const LOCK_STALE_MS = 30_000;

/** Takes `<path>.lock` (create-exclusive), waiting while another process holds it. */
async function lock(path: string): Promise<() => Promise<void>> {
  const file = `${path}.lock`;
  await fsp.mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const h = await fsp.open(file, "wx");
      await h.close();
      return () => fsp.rm(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = await fsp.stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > LOCK_STALE_MS) await fsp.rm(file, { force: true });
      else if (Date.now() > deadline) throw new Error(`state file ${path} is locked (${file}) for more than ${LOCK_WAIT_MS / 1000}s`);
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Read-modify-write of the state file under a lock: a scheduler and the runs it starts (several
 * at once with `--max-concurrent`) all write it, and none may lose another's record. Written to
 * a sibling file and renamed, so a reader never sees half a file.
 */
export async function updateState(path: string, mutate: (state: StateFile) => void): Promise<void> {
  const unlock = await lock(path);
  try {
    const state: StateFile = await readState(path).catch((): StateFile => ({ version: 1, sources: {} }));
    mutate(state);
    const tmp = `${path}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(state, null, 2) + "\n");
    await fsp.rename(tmp, path);
  } finally {
    await unlock();
  }
}

/** Records a run of `source`. */
export async function recordRun(path: string, source: string, run: RunRecord): Promise<void> {
  await updateState(path, (state) => {
    const prev = state.sources[source];
    state.sources[source] = { lastRun: run, lastSuccess: run.ok ? run : prev?.lastSuccess };
  });
}
