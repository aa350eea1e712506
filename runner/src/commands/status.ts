import { Logger } from "pino";
import { humanDuration } from "lifeboat-core";
import { CLOCK_TOLERANCE_MS } from "../catalog";
import { makeAlerts, output, statePath } from "../context";
import { EXIT_FAILED, EXIT_OK, UsageError } from "../errors";
import { StateFile, readState } from "../state";
import { readHeartbeats, withWalStreams } from "../pitr/heartbeat";
import { prometheusMetrics } from "../prometheus";
import { SourceHealth, statusLine } from "../health";
import { durationFlag, HealthFlags, healthLimits, remoteHealth } from "../healthRemote";

export interface StatusOpts extends HealthFlags {
  format?: string;
  local?: boolean;
  maxWalLag?: string;
}

const STATUS_FORMATS = ["text", "json", "prometheus"];

export async function statusCommand(o: StatusOpts, log: Logger): Promise<number> {
  const limits = healthLimits(o);
  const maxAge = limits.maxAge;
  const maxWalLag = o.maxWalLag !== undefined ? durationFlag("--max-wal-lag", o.maxWalLag) : undefined;
  const format = o.format ?? "text";
  if (!STATUS_FORMATS.includes(format)) throw new UsageError(`--format: must be one of ${STATUS_FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  const alerts = makeAlerts(o, log);
  const sources = o.local ? withWalStreams(await localHealth(o, maxAge), await readHeartbeats(statePath(o), o.name), Date.now()) : (await remoteHealth(o, limits, maxWalLag)).map((s) => s.health);
  const healthy = sources.length > 0 && sources.every((s) => s.healthy);
  const lines = sources.map(statusLine);
  if (sources.length === 0) lines.push(`FAIL no backups found${o.name ? ` for ${o.name}` : ""}`);
  if (format === "prometheus") process.stdout.write(prometheusMetrics(sources));
  else output({ ...o, json: o.json || format === "json" }, { healthy, maxAgeSeconds: maxAge, sources }, lines.join("\n"));
  if (!healthy) {
    const bad = sources.filter((s) => !s.healthy).map((s) => `${s.source}: ${s.problems.join(", ")}`);
    await alerts.alert(`Lifeboat: backups unhealthy: ${bad.length ? bad.join("; ") : "no backups found"}`);
  }
  return healthy ? EXIT_OK : EXIT_FAILED;
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
  return names.map((source) => localSourceHealth(state, source, now, sched, maxAge, o));
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
      if (age > maxAge) problems.push(`overdue: ${j.lastSuccess ? "last success" : "no success since the scheduler started"} ${humanDuration(age)} ago, more than ${humanDuration(maxAge)}`);
      const last = j.lastStart ? `last run ${j.lastStart}: ${j.lastResult !== undefined && j.phase !== "running" ? j.lastResult : "running"}` : "no run yet";
      const skipped = j.skipped ? `, ${j.skipped} tick(s) skipped (last ${j.lastSkippedAt})` : "";
      return { source: `job ${name}`, healthy: problems.length === 0, problems, detail: `${j.phase}, cron "${j.cron}", ${last}${skipped}` };
    });
}

function localSourceHealth(state: StateFile, source: string, now: number, sched: number, maxAge: number, o: StatusOpts): SourceHealth {
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
  else if (ageSeconds > maxAge) problems.push(`overdue: last success ${humanDuration(ageSeconds)} ago, more than --max-age ${humanDuration(maxAge)}`);
  return {
    source,
    healthy: problems.length === 0,
    problems,
    ...(ok?.warnings?.length ? { warnings: ok.warnings.map((w) => `degraded: ${w}`) } : {}),
    newest: ok ? { key: ok.key ?? "", takenAt: ok.startedAt, ageSeconds, storedBytes: ok.storedBytes ?? 0, rawBytes: ok.rawBytes, verified: "no" as const } : undefined,
  };
}
