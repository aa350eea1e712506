import { Cron } from "croner";

/** How far ahead {@link worstCaseIntervalSeconds} looks, and how many runs at most. */
const HORIZON_DAYS = 400;
const MAX_RUNS = 20000;

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
 * 400 days from `from`: the worst-case recovery point the schedule gives. Looks at no more
 * than 20 000 runs, which for schedules that frequent covers days of irregular patterns.
 */
export function worstCaseIntervalSeconds(expr: string, from: Date = new Date(Date.UTC(2026, 0, 1))): number {
  assertCron(expr);
  const cron = new Cron(expr, { timezone: "UTC", paused: true });
  const end = from.getTime() + HORIZON_DAYS * 86400_000;
  let prev = cron.nextRun(from);
  if (!prev) throw new RangeError(`never runs: ${JSON.stringify(expr)}`);
  let worst = 0;
  for (let i = 0; i < MAX_RUNS; i++) {
    const next = cron.nextRun(prev);
    if (!next || next.getTime() > end) break;
    worst = Math.max(worst, (next.getTime() - prev.getTime()) / 1000);
    prev = next;
  }
  if (worst === 0) throw new RangeError(`runs at most once in ${HORIZON_DAYS} days: ${JSON.stringify(expr)}`);
  return worst;
}
