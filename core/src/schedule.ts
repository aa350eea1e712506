import { Cron } from "croner";

/** How far ahead {@link worstCaseIntervalSeconds} looks: more than a year, so yearly patterns show. */
const HORIZON_DAYS = 400;
const DAY_MS = 86_400_000;

/** Throws a RangeError naming the problem when `expr` is not a five-field cron expression. */
export function assertCron(expr: string): void {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new RangeError(`must be a 5-field cron expression (minute hour day month weekday), got ${JSON.stringify(expr)}`);
  }
  try {
    new Cron(expr, { timezone: "UTC", paused: true });
  } catch (e) {
    throw new RangeError(`is not a valid cron expression ${JSON.stringify(expr)}: ${(e as Error).message}`);
  }
}

/**
 * The longest gap, in seconds, between two consecutive runs of `expr` (UTC) over the next
 * `horizonDays` (400) days from `from`: the worst-case recovery point the schedule gives.
 *
 * A 5-field cron's minute and hour fields do not depend on the date, so every day it runs on,
 * it runs at the same times of day. The worst gap is therefore the larger of the longest gap
 * within one such day and the longest gap across consecutive running days (last run of one to
 * the first run of the next). croner finds the running days by jumping from day to day and
 * the times of day within one of them: at most about 400 + 1440 evaluations, whatever the
 * pattern, instead of walking every run. Results are remembered per expression.
 */
export function worstCaseIntervalSeconds(expr: string, from: Date = new Date(Date.UTC(2026, 0, 1)), horizonDays = HORIZON_DAYS): number {
  const memoKey = `${expr}\0${from.getTime()}\0${horizonDays}`;
  const known = memo.get(memoKey);
  if (known !== undefined) return known;
  assertCron(expr);
  const cron = new Cron(expr, { timezone: "UTC", paused: true });
  const start = Math.floor(from.getTime() / DAY_MS) * DAY_MS;
  const end = start + horizonDays * DAY_MS;

  const days: number[] = [];
  for (let t = start - 1; ; ) {
    const next = cron.nextRun(new Date(t));
    if (!next || next.getTime() >= end) break;
    const day = Math.floor((next.getTime() - start) / DAY_MS);
    days.push(day);
    t = start + (day + 1) * DAY_MS - 1;
  }
  if (days.length === 0) throw new RangeError(`does not run within ${horizonDays} days: ${JSON.stringify(expr)}`);

  const dayStart = start + days[0]! * DAY_MS;
  const offsets: number[] = [];
  for (let t = dayStart - 1; ; ) {
    const next = cron.nextRun(new Date(t));
    if (!next || next.getTime() >= dayStart + DAY_MS) break;
    offsets.push((next.getTime() - dayStart) / 1000);
    t = next.getTime();
  }
  let worst = 0;
  for (let i = 1; i < offsets.length; i++) worst = Math.max(worst, offsets[i]! - offsets[i - 1]!);
  const first = offsets[0]!;
  const last = offsets[offsets.length - 1]!;
  for (let i = 1; i < days.length; i++) worst = Math.max(worst, (days[i]! - days[i - 1]!) * 86400 - last + first);
  if (worst === 0) throw new RangeError(`runs at most once in ${horizonDays} days: ${JSON.stringify(expr)}`);
  memo.set(memoKey, worst);
  return worst;
}

const memo = new Map<string, number>();
