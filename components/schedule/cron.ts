/**
 * Cron translation for EventBridge Scheduler, and the schedule-derived numbers the scheduled
 * jobs need. Pure functions; the runner's own `schedule` command (croner, UTC) is the
 * reference semantics of a 5-field expression.
 */
import { assertCron, formatDuration, worstCaseIntervalSeconds } from "lifeboat-core";

const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

function isWild(field: string): boolean {
  return field === "*" || field === "?";
}

/** `*` + `/n` becomes `<first>/n`: EventBridge documents increments as `start/step`. */
function increments(field: string, first: number): string {
  return field
    .split(",")
    .map((item) => (item.startsWith("*/") ? `${first}/${item.slice(2)}` : item))
    .join(",");
}

function weekday(token: string, expr: string): number {
  const name = DAY_NAMES.indexOf(token.toUpperCase());
  if (name >= 0) return name;
  if (!/^\d+$/.test(token) || Number(token) > 7) throw new RangeError(`day of week ${JSON.stringify(token)} in ${JSON.stringify(expr)} is not 0-7 or SUN-SAT`);
  return Number(token) % 7; // 7 is Sunday too
}

/** The standard day-of-week field (0-7, SUN-SAT, lists, ranges, steps, `n#k`) as EventBridge's 1-7, SUN=1. */
function eventBridgeWeekdays(field: string, expr: string): string {
  const nth = /^([A-Za-z]{3}|\d)#([1-5])$/.exec(field);
  if (nth) return `${weekday(nth[1]!, expr) + 1}#${nth[2]}`;
  const days = new Set<number>();
  for (const item of field.split(",")) {
    const m = /^(\*|[A-Za-z]{3}|\d)(?:-([A-Za-z]{3}|\d))?(?:\/(\d+))?$/.exec(item);
    if (!m) throw new RangeError(`day of week ${JSON.stringify(item)} in ${JSON.stringify(expr)} cannot be expressed for EventBridge Scheduler`);
    const step = m[3] ? Number(m[3]) : 1;
    if (step < 1) throw new RangeError(`day-of-week step must be at least 1 in ${JSON.stringify(expr)}`);
    let from: number;
    let to: number;
    if (m[1] === "*") [from, to] = [0, 6];
    else {
      from = weekday(m[1]!, expr);
      // A range ending in 7 means "through Sunday" (e.g. 5-7 = FRI,SAT,SUN).
      to = m[2] !== undefined ? (m[2] === "7" ? 7 : weekday(m[2], expr)) : m[3] ? 6 : from;
      if (to < from) throw new RangeError(`day-of-week range ${JSON.stringify(item)} in ${JSON.stringify(expr)} runs backwards`);
    }
    for (let d = from; d <= to; d += step) days.add(d % 7);
  }
  const sorted = [...days].map((d) => d + 1).sort((a, b) => a - b);
  // Runs of three or more consecutive days read better as ranges: 2,3,4,5,6 -> 2-6.
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j - i >= 2 ? `${sorted[i]}-${sorted[j]}` : sorted.slice(i, j + 1).join(","));
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * A 5-field cron expression (UTC, as the runner's `schedule` command reads it) as an
 * EventBridge Scheduler expression `cron(minutes hours day-of-month month day-of-week year)`.
 *
 * EventBridge differs from standard cron in three ways this handles: it has a sixth (year)
 * field; one of day-of-month and day-of-week must be `?`; and days of the week are 1-7 with
 * SUN=1 (standard cron: 0-7, SUN=0 or 7). Standard cron runs a job restricted in *both*
 * day-of-month and day-of-week when *either* matches; EventBridge cannot say that, so such an
 * expression is rejected rather than silently changed.
 */
export function toEventBridgeCron(expr: string): string {
  assertCron(expr);
  const [min, hour, dom, mon, dow] = expr.trim().split(/\s+/) as [string, string, string, string, string];
  if (!isWild(dom) && !isWild(dow)) {
    throw new RangeError(
      `${JSON.stringify(expr)} restricts both day of month and day of week (cron runs when either matches); ` +
        "EventBridge Scheduler needs one of them to be `*`: split it into two schedules",
    );
  }
  const days = isWild(dow) ? [isWild(dom) ? "*" : increments(dom, 1), "?"] : ["?", eventBridgeWeekdays(dow, expr)];
  return `cron(${increments(min, 0)} ${increments(hour, 0)} ${days[0]} ${increments(mon, 1)} ${days[1]} *)`;
}

/**
 * The `--max-age` for a health check of a job on `expr`: the longest gap between two runs plus
 * `graceSeconds` (a run takes time; a backup that finished a little late is not overdue).
 */
export function maxAgeFor(expr: string, graceSeconds = 3600): string {
  return formatDuration(worstCaseIntervalSeconds(expr) + graceSeconds);
}

/** Replicate-job schedules from least to most frequent; the first that fits an RPO is used. */
const REPLICATION_SCHEDULES = ["0 * * * *", "*/30 * * * *", "*/15 * * * *", "*/5 * * * *", "* * * * *"] as const;

/**
 * How often to run a replicate job so that the replica lags by at most `rpoSeconds`: at most
 * half the RPO between runs (a backup that lands just after a run is copied by the next one
 * with time to spare), hourly at the least frequent, every minute at the most.
 */
export function replicationSchedule(rpoSeconds: number): string {
  return REPLICATION_SCHEDULES.find((s) => 2 * worstCaseIntervalSeconds(s) <= rpoSeconds) ?? "* * * * *";
}
