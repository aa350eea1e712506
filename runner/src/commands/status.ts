import { Logger } from "pino";
import { parseDuration, formatDuration } from "lifeboat-core";
import { CLOCK_TOLERANCE_MS, listBackups, listSourceNames, listVerifications, readManifest } from "../catalog";
import { CommonOpts, StoreOpts, checkName, makeAlerts, makeStore, output, statePath } from "../context";
import { EXIT_FAILED, EXIT_OK, UsageError } from "../errors";
import { formatBytes } from "../progress";
import { StateFile, readState } from "../state";
import { readHeartbeats, withWalStreams } from "../pitr/heartbeat";

export interface StatusOpts extends StoreOpts, CommonOpts {
  name?: string;
  maxAge: string;
  minSize?: string;
  maxShrink: string;
  local?: boolean;
}

export interface SourceHealth {
  source: string;
  healthy: boolean;
  problems: string[];
  /**
   * Shown, not unhealthy: the newest backup is degraded (`degraded: `; stored and restorable, named
   * files missing or changed; the backup run alerted), or an untrusted backup has aged out.
   */
  warnings?: string[];
  /** A scheduled job's state in words (phase, cron, last run, skipped ticks). */
  detail?: string;
  newest?: { key: string; takenAt: string; ageSeconds: number; storedBytes: number; rawBytes?: number; verified: "ok" | "failed" | "no" };
  previous?: { key: string; rawBytes?: number; storedBytes: number };
}

/** Default size floor: 1 MiB for Postgres dumps (as our users' runbooks warn), none otherwise. */
const DEFAULT_FLOOR: Record<string, number> = { postgres: 1024 * 1024 };

function parseFraction(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new UsageError(`--max-shrink: must be a fraction between 0 and 1 (0.5 = alert when a backup is less than half the previous), got ${JSON.stringify(text)}`);
  return n;
}

function parseSize(text: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--min-size: must be a size such as 1048576, 512k or 1m, got ${JSON.stringify(text)}`);
  const mult: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };
  return Number(m[1]) * (mult[(m[2] ?? "b").toLowerCase()] ?? 1);
}

function maxAgeSeconds(text: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new UsageError(`--max-age: ${(e as Error).message}`);
  }
}

export async function statusCommand(o: StatusOpts, log: Logger): Promise<number> {
  const maxAge = maxAgeSeconds(o.maxAge);
  const shrink = parseFraction(o.maxShrink);
  const minSize = o.minSize !== undefined ? parseSize(o.minSize) : undefined;
  if (o.name) checkName(o.name);
  const alerts = makeAlerts(o, log);
  const sources = o.local ? withWalStreams(await localHealth(o, maxAge), await readHeartbeats(statePath(o), o.name), Date.now()) : await remoteHealth(o, maxAge, shrink, minSize);
  const healthy = sources.length > 0 && sources.every((s) => s.healthy);
  const lines = sources.map((s) => {
    const n = s.newest;
    const head = `${s.healthy ? "OK  " : "FAIL"} ${s.source}`;
    const info = n ? ` newest ${n.takenAt} (${formatDuration(Math.max(1, Math.round(n.ageSeconds)))} ago), ${formatBytes(n.storedBytes)}${s.previous ? `, previous ${formatBytes(s.previous.storedBytes)}` : ""}, verified: ${n.verified}` : "";
    return head + info + (s.detail ? ` ${s.detail}` : "") + s.problems.map((p) => `\n     ${p}`).join("") + (s.warnings ?? []).map((w) => `\n     warning: ${w}`).join("");
  });
  if (sources.length === 0) lines.push(`FAIL no backups found${o.name ? ` for ${o.name}` : ""}`);
  output(o, { healthy, maxAgeSeconds: maxAge, sources }, lines.join("\n"));
  if (!healthy) {
    const bad = sources.filter((s) => !s.healthy).map((s) => `${s.source}: ${s.problems.join(", ")}`);
    await alerts.alert(`Lifeboat: backups unhealthy: ${bad.length ? bad.join("; ") : "no backups found"}`);
  }
  return healthy ? EXIT_OK : EXIT_FAILED;
}

async function remoteHealth(o: StatusOpts, maxAge: number, shrink: number, minSize: number | undefined): Promise<SourceHealth[]> {
  const store = makeStore(o);
  const names = o.name ? [o.name] : await listSourceNames(store);
  const out: SourceHealth[] = [];
  const now = Date.now();
  for (const source of names) {
    const [backups, verifications] = await Promise.all([listBackups(store, source, new Date(now)), listVerifications(store, source)]);
    // A backup whose key time disagrees with the store's own time is a forged key or a host
    // clock running wrong: never what "newest" or "previous" is judged by. It makes the source
    // unhealthy while it is recent (stored within --max-age, or after the newest trusted one);
    // once a trusted backup has followed and it has aged out, it is still shown, as a warning,
    // so that a fixed clock does not leave status red until the object's retention ends.
    const trusted = backups.filter((b) => b.flags.length === 0);
    const newestEntry = trusted[trusted.length - 1];
    const problems: string[] = [];
    const warnings: string[] = [];
    for (const b of backups.filter((x) => x.flags.length > 0)) {
      const recent = now - b.storedAt.getTime() <= maxAge * 1000 || !newestEntry || b.storedAt.getTime() > newestEntry.storedAt.getTime();
      (recent ? problems : warnings).push(...b.flags.map((f) => `untrusted backup ${b.key}: ${f}`));
    }
    if (!newestEntry) {
      out.push({ source, healthy: false, problems: [...problems, backups.length ? "no backup whose time the store confirms" : "no backups found"] });
      continue;
    }
    const prevEntry = trusted[trusted.length - 2];
    const newestM = await readManifest(store, newestEntry);
    const prevM = prevEntry ? await readManifest(store, prevEntry) : undefined;
    // Trusted keys are at most CLOCK_TOLERANCE_MS ahead of now: never a negative age.
    const ageSeconds = Math.max(0, (now - newestEntry.parts.time.getTime()) / 1000);
    if (ageSeconds > maxAge) problems.push(`overdue: newest backup is ${formatDuration(Math.round(ageSeconds))} old, more than --max-age ${formatDuration(maxAge)}`);
    const floor = minSize ?? DEFAULT_FLOOR[newestM.kind] ?? 0;
    if (newestM.storedBytes < floor) problems.push(`too small: ${formatBytes(newestM.storedBytes)} is under the ${formatBytes(floor)} floor`);
    if (prevM && newestM.rawBytes < prevM.rawBytes * (1 - shrink)) {
      problems.push(`shrank: ${formatBytes(newestM.rawBytes)} raw, down from ${formatBytes(prevM.rawBytes)} (more than ${Math.round(shrink * 100)}%)`);
    }
    const v = verifications.get(newestEntry.key);
    if (v && !v.ok) problems.push(`verification failed: ${v.problems.join("; ")}`);
    out.push({
      source,
      healthy: problems.length === 0,
      problems,
      ...(warnings.length || newestM.warnings?.length ? { warnings: [...warnings, ...(newestM.warnings ?? []).map((w) => `degraded: ${w}`)] } : {}),
      newest: {
        key: newestEntry.key,
        takenAt: newestM.startedAt,
        ageSeconds,
        storedBytes: newestM.storedBytes,
        rawBytes: newestM.rawBytes,
        verified: v ? (v.ok ? "ok" : "failed") : "no",
      },
      previous: prevM && prevEntry ? { key: prevEntry.key, rawBytes: prevM.rawBytes, storedBytes: prevM.storedBytes } : undefined,
    });
  }
  return out;
}

/** From the runner's own state file: did the last run succeed, and is the last success recent? */
async function localHealth(o: StatusOpts, maxAge: number): Promise<SourceHealth[]> {
  const state = await readState(statePath(o));
  const names = o.name ? [o.name] : Object.keys(state.sources).sort();
  const now = Date.now();
  const sched = state.schedulerStartedAt ? (now - Date.parse(state.schedulerStartedAt)) / 1000 : Infinity;
  // A job-table scheduler's own view is per job, each with its own max age; --name asks for one source.
  if (!o.name && state.jobs && Object.keys(state.jobs).length) return jobHealth(state, now, maxAge);
  if (names.length === 0 && sched <= maxAge) return [{ source: "(scheduler)", healthy: true, problems: [] }];
  return names.map((source) => sourceHealth(state, source, now, sched, maxAge, o));
}

/**
 * Each job of a `schedule --jobs` scheduler, as `job <name>`: unhealthy when its last run failed,
 * or when no run succeeded within its max age (the job table's, else --max-age) since its last
 * success or, before the first, since the scheduler started.
 */
function jobHealth(state: StateFile, now: number, defaultMaxAge: number): SourceHealth[] {
  return Object.entries(state.jobs ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, j]) => {
      const maxAge = j.maxAgeSeconds ?? defaultMaxAge;
      const problems: string[] = [];
      // lastEnd, not lastStart: while the next run goes, lastStart is that run's.
      if (j.lastOk === false) problems.push(`last run, ended ${j.lastEnd}, failed: ${j.lastResult}`);
      const since = j.lastSuccess ?? state.schedulerStartedAt;
      const age = since ? (now - Date.parse(since)) / 1000 : Infinity;
      if (age > maxAge) problems.push(`overdue: ${j.lastSuccess ? "last success" : "no success since the scheduler started"} ${formatDuration(Math.round(age))} ago, more than ${formatDuration(maxAge)}`);
      const last = j.lastStart ? `last run ${j.lastStart}: ${j.lastResult !== undefined && j.phase !== "running" ? j.lastResult : "running"}` : "no run yet";
      const skipped = j.skipped ? `, ${j.skipped} tick(s) skipped (last ${j.lastSkippedAt})` : "";
      return { source: `job ${name}`, healthy: problems.length === 0, problems, detail: `${j.phase}, cron "${j.cron}", ${last}${skipped}` };
    });
}

function sourceHealth(state: StateFile, source: string, now: number, sched: number, maxAge: number, o: StatusOpts): SourceHealth {
  const s = state.sources[source];
  if (!s) {
    // A scheduler that started recently has not had its first run yet: healthy until max-age.
    if (sched <= maxAge) return { source, healthy: true, problems: [] };
    return { source, healthy: false, problems: [`no run recorded in ${statePath(o)}`] };
  }
  const problems: string[] = [];
  if (!s.lastRun.ok) problems.push(`last run at ${s.lastRun.startedAt} failed: ${s.lastRun.error ?? "unknown error"}`);
  const ok = s.lastSuccess;
  const ageSeconds = ok ? (now - Date.parse(ok.startedAt)) / 1000 : Infinity;
  if (!ok) problems.push("no successful run recorded");
  // Recorded by a clock that ran ahead: a negative age would never become overdue.
  else if (ageSeconds * 1000 < -CLOCK_TOLERANCE_MS) problems.push(`last success recorded as ${ok.startedAt}, in the future of this host's clock (a clock that ran ahead); not counted as recent`);
  else if (ageSeconds > maxAge) problems.push(`overdue: last success ${formatDuration(Math.round(ageSeconds))} ago, more than --max-age ${formatDuration(maxAge)}`);
  return {
    source,
    healthy: problems.length === 0,
    problems,
    ...(ok?.warnings?.length ? { warnings: ok.warnings.map((w) => `degraded: ${w}`) } : {}),
    newest: ok ? { key: ok.key ?? "", takenAt: ok.startedAt, ageSeconds, storedBytes: ok.storedBytes ?? 0, rawBytes: ok.rawBytes, verified: "no" as const } : undefined,
  };
}
