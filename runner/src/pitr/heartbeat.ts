/**
 * wal-stream's heartbeat: a small record beside the runner state file
 * (`<state dir>/wal-stream-<name>.json`), rewritten every few seconds, that `status --local` (the
 * sidecar container's healthcheck) reads. A sidecar that died, hangs, has no streaming receiver
 * or whose WAL in the bucket is older than --max-lag reads as unhealthy.
 */
import { promises as fsp } from "node:fs";
import { dirname, join } from "node:path";
import { formatDuration } from "lifeboat-core";
import type { SourceHealth } from "../health";

export const HEARTBEAT_EVERY_MS = 5000;
/** A heartbeat older than this means the sidecar is gone or stuck. */
export const HEARTBEAT_STALE_MS = 30_000;

export interface Heartbeat {
  version: 1;
  source: string;
  pid: number;
  at: string;
  /** pg_receivewal is streaming. */
  streaming: boolean;
  /** Everything the server wrote up to this time is in the bucket. */
  coveredUntil: string;
  maxLagSeconds?: number;
  flushIntervalSeconds?: number;
  /** How often the sidecar puts a heartbeat object in the bucket. */
  everySeconds?: number;
  /** The newest timeline the sidecar has seen (persisted: a new one triggers a base backup). */
  timeline?: number;
}

export function heartbeatPath(statePath: string, source: string): string {
  return join(dirname(statePath), `wal-stream-${source}.json`);
}

export async function writeHeartbeat(statePath: string, hb: Heartbeat): Promise<void> {
  const path = heartbeatPath(statePath, hb.source);
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(hb, null, 2) + "\n");
  await fsp.rename(tmp, path);
}

/** What is wrong with a sidecar, judged from its heartbeat at `now` (pure). */
export function heartbeatProblems(hb: Heartbeat, now: number): string[] {
  const age = now - Date.parse(hb.at);
  if (!(age <= HEARTBEAT_STALE_MS)) return [`wal-stream heartbeat is ${formatDuration(Math.round(age / 1000))} old (pid ${hb.pid}): the sidecar is not running or is stuck`];
  const problems: string[] = [];
  if (!hb.streaming) problems.push("wal-stream: pg_receivewal is not streaming");
  const lag = (now - Date.parse(hb.coveredUntil)) / 1000;
  if (hb.maxLagSeconds !== undefined && lag > hb.maxLagSeconds) problems.push(`wal-stream: WAL in the bucket is ${formatDuration(Math.round(lag))} behind, more than --max-lag ${formatDuration(hb.maxLagSeconds)}`);
  return problems;
}

/** Heartbeats beside the state file (one source, or all). */
export async function readHeartbeats(statePath: string, source?: string): Promise<Heartbeat[]> {
  const dir = dirname(statePath);
  const files = source ? [`wal-stream-${source}.json`] : (await fsp.readdir(dir).catch(() => [] as string[])).filter((f) => /^wal-stream-.+\.json$/.test(f));
  const out: Heartbeat[] = [];
  for (const f of files.sort()) {
    try {
      const hb = JSON.parse(await fsp.readFile(join(dir, f), "utf8")) as Heartbeat;
      if (hb.version === 1 && typeof hb.source === "string") out.push(hb);
    } catch {
      /* missing or not a heartbeat */
    }
  }
  return out;
}

/**
 * `status --local` with the sidecars' heartbeats: a source with recorded runs gets the sidecar's
 * problems added; a source with only a heartbeat (a sidecar records no runs) is judged by it alone.
 */
export function withWalStreams(runs: SourceHealth[], beats: Heartbeat[], now: number): SourceHealth[] {
  const out = [...runs];
  for (const hb of beats) {
    const problems = heartbeatProblems(hb, now);
    const i = out.findIndex((h) => h.source === hb.source);
    const own = { source: hb.source, healthy: problems.length === 0, problems };
    if (i < 0) out.push(own);
    else if (out[i]!.newest === undefined) out[i] = own;
    else out[i] = { ...out[i]!, healthy: out[i]!.healthy && own.healthy, problems: [...out[i]!.problems, ...problems] };
  }
  return out;
}
