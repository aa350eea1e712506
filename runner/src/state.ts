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

const StateFile = z.object({
  version: z.literal(1),
  sources: z.record(z.string(), z.object({ lastRun: RunRecord, lastSuccess: RunRecord.optional() })),
  /** When `schedule` last started: before the first run, a recent start counts as healthy. */
  schedulerStartedAt: z.string().optional(),
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

/** Records a run; written to a sibling file and renamed, so a reader never sees half a file. */
export async function recordRun(path: string, source: string, run: RunRecord): Promise<void> {
  const state: StateFile = await readState(path).catch((): StateFile => ({ version: 1, sources: {} }));
  const prev = state.sources[source];
  state.sources[source] = { lastRun: run, lastSuccess: run.ok ? run : prev?.lastSuccess };
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(state, null, 2) + "\n");
  await fsp.rename(tmp, path);
}

/** Records that the scheduler started (see {@link StateFile.schedulerStartedAt}). */
export async function recordSchedulerStart(path: string, at: Date): Promise<void> {
  const state: StateFile = await readState(path).catch((): StateFile => ({ version: 1, sources: {} }));
  state.schedulerStartedAt = at.toISOString();
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(state, null, 2) + "\n");
  await fsp.rename(tmp, path);
}
