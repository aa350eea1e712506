import { Logger } from "pino";
import { humanDuration, parseDuration } from "lifeboat-core";
import { BackupEntry, CLOCK_TOLERANCE_MS, listBackups, listSourceNames, readManifest, verificationHistory } from "../catalog";
import { CommonOpts, StoreOpts, checkName, makeAlerts, makeStore, output, statePath } from "../context";
import { EXIT_FAILED, EXIT_OK, UsageError } from "../errors";
import { StateFile, readState } from "../state";
import { readHeartbeats, withWalStreams } from "../pitr/heartbeat";
import { Store } from "../store";
import { sourceWal } from "../pitr/walHealth";
import { prometheusMetrics } from "../prometheus";
import { bucketHealth } from "../bucket/report";
import { evaluateSource, HealthLimits, readNewest, SourceHealth, statusLine, untrustedFindings } from "../health";

export type { SourceHealth } from "../health";

/** The flags that judge a source's health: `status`'s, and `report`'s (the page shows the same judgement). */
export interface HealthFlags extends StoreOpts, CommonOpts {
  name?: string;
  maxAge: string;
  minSize?: string;
  maxShrink: string;
  maxTableShrink: string;
  rto?: string;
}

export interface StatusOpts extends HealthFlags {
  format?: string;
  local?: boolean;
  maxWalLag?: string;
}

const STATUS_FORMATS = ["text", "json", "prometheus"];

export function parseFraction(flag: string, text: string, example: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new UsageError(`${flag}: must be a fraction between 0 and 1 (${example}), got ${JSON.stringify(text)}`);
  return n;
}

export function parseSize(text: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--min-size: must be a size such as 1048576, 512k or 1m, got ${JSON.stringify(text)}`);
  const mult: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };
  return Number(m[1]) * (mult[(m[2] ?? "b").toLowerCase()] ?? 1);
}

export function durationFlag(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/** The health limits the flags give (a usage error names a bad flag). */
export function healthLimits(o: HealthFlags): HealthLimits {
  if (o.name) checkName(o.name);
  return {
    maxAge: durationFlag("--max-age", o.maxAge),
    shrink: parseFraction("--max-shrink", o.maxShrink, "0.5 = alert when a backup is less than half the previous"),
    maxTableShrink: parseFraction("--max-table-shrink", o.maxTableShrink, "0.5 = alert when a table lost more than half its rows"),
    minSize: o.minSize !== undefined ? parseSize(o.minSize) : undefined,
    rtoSeconds: o.rto !== undefined ? durationFlag("--rto", o.rto) : undefined,
  };
}

export async function statusCommand(o: StatusOpts, log: Logger): Promise<number> {
  const limits = healthLimits(o);
  const maxAge = limits.maxAge;
  const maxWalLag = o.maxWalLag !== undefined ? durationFlag("--max-wal-lag", o.maxWalLag) : undefined;
  const format = o.format ?? "text";
  if (!STATUS_FORMATS.includes(format)) throw new UsageError(`--format: must be one of ${STATUS_FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  const alerts = makeAlerts(o, log);
  const sources = o.local ? withWalStreams(await localHealth(o, maxAge), await readHeartbeats(statePath(o), o.name), Date.now()) : await remoteHealth(o, limits, maxWalLag);
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

export async function remoteHealth(o: StatusOpts, limits: HealthLimits, maxWalLag: number | undefined): Promise<SourceHealth[]> {
  const store = makeStore(o);
  const names = o.name ? [o.name] : await listSourceNames(store);
  const out: SourceHealth[] = [];
  const now = Date.now();
  for (const source of names) {
    try {
      const backups = await listBackups(store, source, new Date(now));
      out.push(withWal(await sourceHealth(store, source, backups, limits, now), await sourceWal(store, source, backups, now, maxWalLag)));
    } catch (e) {
      // One source the store cannot answer for (a listing error, say) is reported, not fatal for the rest.
      out.push({ source, healthy: false, problems: [`cannot evaluate: ${(e as Error).message}`] });
    }
  }
  return out;
}

/** A PITR source's health includes its WAL: the report shown, its problems counted. */
function withWal(h: SourceHealth, wal: Awaited<ReturnType<typeof sourceWal>>): SourceHealth {
  if (!wal) return h;
  const problems = [...h.problems, ...wal.problems];
  return { ...h, healthy: problems.length === 0, problems, wal: wal.report };
}

async function sourceHealth(store: Store, source: string, backups: BackupEntry[], limits: HealthLimits, now: number): Promise<SourceHealth> {
  const history = await verificationHistory(store, source);
  const bucket = await bucketHealth(store, source, limits, now);
  if (bucket) return bucket;
  const trusted = backups.filter((b) => b.flags.length === 0);
  const untrusted = untrustedFindings(backups, trusted[trusted.length - 1], limits.maxAge, now);
  if (!trusted.length) return { source, healthy: false, problems: [...untrusted.problems, backups.length ? "no backup whose time the store confirms" : "no backups found"] };
  const { newest, previous, problems } = await readNewest(trusted, (e) => readManifest(store, e));
  const earlier = { problems: [...untrusted.problems, ...problems], warnings: untrusted.warnings };
  if (!newest) return { source, healthy: false, problems: [...earlier.problems, "no backup with a readable manifest"] };
  return evaluateSource(source, newest, previous, new Map(history.map((v) => [v.key, v])), limits, now, earlier, history);
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
