/**
 * Pure health decisions for `status`: what a source's backups, their manifests and the
 * verification records say is wrong. No I/O here, so every rule is tested with plain data.
 */
import { humanDuration } from "lifeboat-core";
import { stripAgeBanner } from "./age";
import { BackupEntry } from "./catalog";
import { Manifest, Verification } from "./manifest";

type TableRows = { table: string; rows: number };
import { formatBytes } from "./progress";
import { walLine, type WalReport } from "./pitr/walHealth";

export interface HealthLimits {
  /** Seconds: the newest backup must be younger. */
  maxAge: number;
  /** Fraction: the newest raw size may be at most this much smaller than the previous. */
  shrink: number;
  /** Fraction: a table may lose at most this share of its rows since the previous backup. */
  maxTableShrink: number;
  /** Bytes: floor for the newest backup (undefined: the kind's default). */
  minSize?: number;
  /** Seconds: the source's declared RTO (`--rto`); the drills' restore times are judged against it. */
  rtoSeconds?: number;
}

/** A backup as listed, with its manifest once read. */
export interface ReadBackup {
  entry: BackupEntry;
  manifest: Manifest;
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
  newest?: { key: string; takenAt: string; finishedAt?: string; ageSeconds: number; storedBytes: number; rawBytes?: number; verified: "ok" | "failed" | "no" };
  /** The latest drill that passed (of any backup of the source): when, and how long the restore took. */
  lastVerifiedRestore?: { key: string; checkedAt: string; durationSeconds: number };
  previous?: { key: string; rawBytes?: number; storedBytes: number };
  /** With a declared RTO: the recent passing drills' restore times, oldest first, and the next one forecast. */
  rtoTrend?: { rtoSeconds: number; recentSeconds: number[]; forecastSeconds?: number };
  /** A PITR source's WAL as the bucket shows it (status remote). */
  wal?: WalReport;
}

/** Default size floor: 1 MiB for Postgres dumps (as our users' runbooks warn), none otherwise. */
const DEFAULT_FLOOR: Record<string, number> = { postgres: 1024 * 1024 };

/**
 * The newest and previous trusted backups whose manifests can be read, newest first, reading
 * no more than that. A manifest that does not parse (or describes another key) is reported as
 * its own problem and passed over: one bad object must not hide the health of everything else.
 */
export async function readNewest(
  trusted: BackupEntry[],
  read: (e: BackupEntry) => Promise<Manifest>,
): Promise<{ newest?: ReadBackup; previous?: ReadBackup; problems: string[] }> {
  const found: ReadBackup[] = [];
  const problems: string[] = [];
  for (let i = trusted.length - 1; i >= 0 && found.length < 2; i--) {
    const entry = trusted[i]!;
    try {
      found.push({ entry, manifest: await read(entry) });
    } catch (e) {
      problems.push(`unreadable manifest: ${(e as Error).message}`);
    }
  }
  return { newest: found[0], previous: found[1], problems };
}

/**
 * A backup whose key time disagrees with the store's own time is a forged key or a host
 * clock running wrong: never what "newest" or "previous" is judged by. It makes the source
 * unhealthy while it is recent (stored within --max-age, or after the newest trusted one);
 * once a trusted backup has followed and it has aged out, it is still shown, as a warning,
 * so that a fixed clock does not leave status red until the object's retention ends.
 */
export function untrustedFindings(backups: BackupEntry[], newestTrusted: BackupEntry | undefined, maxAge: number, now: number): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const b of backups.filter((x) => x.flags.length > 0)) {
    const recent = now - b.storedAt.getTime() <= maxAge * 1000 || !newestTrusted || b.storedAt.getTime() > newestTrusted.storedAt.getTime();
    (recent ? problems : warnings).push(...b.flags.map((f) => `untrusted backup ${b.key}: ${f}`));
  }
  return { problems, warnings };
}

/**
 * Tables of a Postgres dump that vanished, were emptied, or lost more than `maxShare` of their
 * rows since the previous dump. The total size hides this: emptying a few tables out of many
 * moves it by a few percent, while the manifest's exact per-table counts show it plainly.
 */
export function tableLosses(before: TableRows[] | undefined, after: TableRows[] | undefined, maxShare: number): string[] {
  if (!before || !after) return [];
  const now = new Map(after.map((t) => [t.table, t.rows]));
  const out: string[] = [];
  for (const { table, rows } of before) {
    const n = now.get(table);
    if (n === undefined) out.push(`${table} vanished (had ${rows} rows)`);
    else if (rows > 0 && n === 0) out.push(`${table} emptied (${rows} → 0 rows)`);
    else if (rows > 0 && (rows - n) / rows > maxShare) out.push(`${table} lost ${Math.round(((rows - n) / rows) * 100)}% (${rows} → ${n} rows, more than --max-table-shrink ${maxShare})`);
  }
  return out;
}

/**
 * The most recent verification (drill) of any backup of the source, by when it ran. Drills run
 * less often than backups (weekly against hourly), so judging only the newest backup's record
 * would forget a failed drill an hour later: a failure stands until a later drill passes.
 */
export function latestDrill(verifications: Iterable<Verification>): Verification | undefined {
  let latest: Verification | undefined;
  for (const v of verifications) if (!latest || Date.parse(v.checkedAt) > Date.parse(latest.checkedAt)) latest = v;
  return latest;
}

/** How many of the most recent passing drills the RTO trend is judged on. */
export const RTO_TREND_DRILLS = 8;
/** A drill that used more than this share of the RTO leaves too little headroom. */
export const RTO_HEADROOM = 0.8;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/**
 * The next drill's restore time, forecast from the previous ones (oldest first) by a Theil-Sen
 * line: the median of the pairwise slopes, so one lucky fast drill on a quiet night (or one slow
 * one) does not hide or fake a trend the way a least-squares fit would. Undefined under 3 drills.
 */
export function forecastNextDrill(seconds: number[]): number | undefined {
  const n = seconds.length;
  if (n < 3) return undefined;
  const slopes: number[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) slopes.push((seconds[j]! - seconds[i]!) / (j - i));
  const slope = median(slopes);
  return median(seconds.map((y, i) => y + slope * (n - i)));
}

/**
 * What the recent drills' restore times (oldest first) say against the declared RTO, before a
 * restore in a disaster finds out: the newest drill took longer than the RTO; or it used more
 * than {@link RTO_HEADROOM} of it; or the trend of the last drills forecasts the next one over it.
 */
export function rtoProblem(seconds: number[], rtoSeconds: number): string | undefined {
  const newest = seconds[seconds.length - 1];
  if (newest === undefined) return undefined;
  const rto = humanDuration(rtoSeconds);
  if (newest > rtoSeconds) return `RTO exceeded: the latest restore drill took ${humanDuration(newest)}, more than the declared RTO ${rto}`;
  if (newest > rtoSeconds * RTO_HEADROOM) {
    return `RTO at risk: the latest restore drill took ${humanDuration(newest)}, ${Math.round((newest / rtoSeconds) * 100)}% of the declared RTO ${rto} (alert above ${Math.round(RTO_HEADROOM * 100)}%)`;
  }
  const next = forecastNextDrill(seconds);
  if (next !== undefined && next > rtoSeconds) {
    return `RTO at risk: restore drills are getting slower (the last ${seconds.length}: ${seconds.map(humanDuration).join(", ")}); the next is forecast at ${humanDuration(next)}, more than the declared RTO ${rto}`;
  }
  return undefined;
}

/**
 * The health of one source from its newest (and previous) trusted backup, read, and the
 * verification records. `earlier` carries the findings about untrusted backups.
 */
export function evaluateSource(
  source: string,
  newest: ReadBackup,
  previous: ReadBackup | undefined,
  verifications: Map<string, Verification>,
  limits: HealthLimits,
  now: number,
  earlier: { problems: string[]; warnings: string[] } = { problems: [], warnings: [] },
  history: Verification[] = [...verifications.values()],
): SourceHealth {
  const problems = [...earlier.problems];
  const warnings = [...earlier.warnings];
  const m = newest.manifest;
  const prevM = previous?.manifest;
  // Negative (at most CLOCK_TOLERANCE_MS) when the backup host's clock ran a little ahead: shown as such.
  const ageSeconds = (now - newest.entry.parts.time.getTime()) / 1000;
  if (ageSeconds > limits.maxAge) problems.push(`overdue: newest backup is ${humanDuration(ageSeconds)} old, more than --max-age ${humanDuration(limits.maxAge)}`);
  const floor = limits.minSize ?? DEFAULT_FLOOR[m.kind] ?? 0;
  if (m.storedBytes < floor) problems.push(`too small: ${formatBytes(m.storedBytes)} is under the ${formatBytes(floor)} floor`);
  if (prevM && m.rawBytes < prevM.rawBytes * (1 - limits.shrink)) {
    problems.push(`shrank: ${formatBytes(m.rawBytes)} raw, down from ${formatBytes(prevM.rawBytes)} (more than ${Math.round(limits.shrink * 100)}%)`);
  }
  // A volume that was not mounted backs up as an empty directory, and a first backup has no
  // previous one to have shrunk from: an archive holding no file at all is never a good backup.
  if (m.archive && m.archive.files === 0) problems.push(`empty: the archive holds no files (${m.archive.entries} entries): a volume or directory that was not mounted?`);
  const lost = tableLosses(prevM?.postgres?.tables, m.postgres?.tables, limits.maxTableShrink);
  if (lost.length) problems.push(`rows lost since the previous backup: ${lost.join(", ")}`);
  const v = verifications.get(newest.entry.key);
  const drill = latestDrill(history);
  const passed = latestDrill(history.filter((x) => x.ok));
  if (drill && !drill.ok) problems.push(`verification failed (${drill.checkedAt}, backup ${drill.key}): ${drill.problems.map(stripAgeBanner).join("; ")}`);
  const older = drill?.older;
  if (older && !older.ok) problems.push(`verification of an older backup failed (${drill.checkedAt}, ${older.tier} backup ${older.key}): ${older.problems.map(stripAgeBanner).join("; ")}`);
  let rtoTrend: SourceHealth["rtoTrend"];
  if (limits.rtoSeconds !== undefined) {
    const recentSeconds = history
      .filter((x) => x.ok)
      .sort((a, b) => Date.parse(a.checkedAt) - Date.parse(b.checkedAt))
      .slice(-RTO_TREND_DRILLS)
      .map((x) => x.durationSeconds);
    const forecastSeconds = forecastNextDrill(recentSeconds);
    rtoTrend = { rtoSeconds: limits.rtoSeconds, recentSeconds, ...(forecastSeconds !== undefined ? { forecastSeconds } : {}) };
    const p = rtoProblem(recentSeconds, limits.rtoSeconds);
    if (p) problems.push(p);
  }
  warnings.push(...(m.warnings ?? []).map((w) => `degraded: ${w}`));
  return {
    source,
    healthy: problems.length === 0,
    problems,
    ...(warnings.length ? { warnings } : {}),
    newest: { key: newest.entry.key, takenAt: m.startedAt, finishedAt: m.finishedAt, ageSeconds, storedBytes: m.storedBytes, rawBytes: m.rawBytes, verified: v ? (v.ok ? "ok" : "failed") : "no" },
    previous: previous && prevM ? { key: previous.entry.key, rawBytes: prevM.rawBytes, storedBytes: prevM.storedBytes } : undefined,
    ...(passed ? { lastVerifiedRestore: { key: passed.key, checkedAt: passed.checkedAt, durationSeconds: passed.durationSeconds } } : {}),
    ...(rtoTrend ? { rtoTrend } : {}),
  };
}

/** One source as `status` prints it: verdict, newest backup, then problems and warnings indented. */
export function statusLine(s: SourceHealth): string {
  const n = s.newest;
  const when = n && (n.ageSeconds < 0 ? `${humanDuration(-n.ageSeconds)} ahead of this host's clock` : `${humanDuration(n.ageSeconds)} ago`);
  const info = n ? ` newest ${n.takenAt} (${when}), ${formatBytes(n.storedBytes)}${s.previous ? `, previous ${formatBytes(s.previous.storedBytes)}` : ""}, verified: ${n.verified}` : "";
  return `${s.healthy ? "OK  " : "FAIL"} ${s.source}` + info + (s.detail ? ` ${s.detail}` : "") + (s.wal ? `\n     ${walLine(s.wal)}` : "") + s.problems.map((p) => `\n     ${p}`).join("") + (s.warnings ?? []).map((w) => `\n     warning: ${w}`).join("");
}
