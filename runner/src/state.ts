import { promises as fsp } from "node:fs";
import { dirname, join } from "node:path";
import { homedir, tmpdir, userInfo } from "node:os";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { processAlive } from "./proc";

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
  /** A degraded run: the backup was stored, but these named files are missing or changed in it. */
  warnings: z.array(z.string()).optional(),
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

/**
 * Per user: `$XDG_STATE_HOME/lifeboat/`, else `~/.local/state/lifeboat/`; a user without a home
 * (`/` or none, e.g. `nobody`) gets a directory named with its uid under the temp dir, never a
 * file another user writes too.
 */
export function defaultStatePath(): string {
  if (process.env.XDG_STATE_HOME) return join(process.env.XDG_STATE_HOME, "lifeboat", "runner-state.json");
  const home = homedir();
  if (!home || home === "/") return join(tmpdir(), `lifeboat-${userInfo().uid}`, "runner-state.json");
  return join(home, ".local", "state", "lifeboat", "runner-state.json");
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

const LOCK_WAIT_MS = 30_000;
const STALE_LOCK_MS = 2_000;

/**
 * Runs `fn` holding `<path>.lock`, created exclusively (O_EXCL) with our pid in it. Several runs
 * that finish at once (one per source) would otherwise read the same file and the last rename
 * would drop the others' records. A lock whose holder is dead (killed mid-update) and that is
 * more than 2 s old is broken; a live holder is waited for, up to 30 s.
 */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fh = await fsp.open(lock, "wx", 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = Number(await fsp.readFile(lock, "utf8").catch(() => ""));
    const age = Date.now() - ((await fsp.stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now());
    // An empty file is a holder between open and write: wait for it like a live one. An update
    // takes milliseconds, so a lock also has to be a few seconds old before it counts as left
    // over: a pid from another container's pid namespace (a shared volume) looks dead from here.
    if (holder > 0 && !processAlive(holder) && age > STALE_LOCK_MS) {
      await fsp.rm(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`state file ${path} is locked by process ${holder || "?"} (${lock}) for more than ${LOCK_WAIT_MS / 1000}s`);
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(lock, { force: true });
  }
}

/**
 * Read-modify-write of the state file under its lock; written to a sibling file and renamed,
 * so a reader (status --local) never sees half a file and concurrent writers lose nothing.
 */
export async function updateState(path: string, change: (s: StateFile) => void): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  await withLock(path, async () => {
    const state: StateFile = await readState(path).catch((): StateFile => ({ version: 1, sources: {} }));
    change(state);
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
    await fsp.rename(tmp, path);
  });
}

/** Records a run of one source. */
export async function recordRun(path: string, source: string, run: RunRecord): Promise<void> {
  await updateState(path, (state) => {
    const prev = state.sources[source];
    state.sources[source] = { lastRun: run, lastSuccess: run.ok ? run : prev?.lastSuccess };
  });
}
