/**
 * Durations as people write them in stack config and on the command line: `90s`, `15m`,
 * `24h`, `7d`, `2w`, or combinations such as `1h30m`.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION_RE = /^(\d+[smhdw])+$/;

/** Seconds in `text`, or a RangeError that quotes the text and the accepted form. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (!DURATION_RE.test(t)) {
    throw new RangeError(`must be a duration such as 15m, 24h or 7d, got ${JSON.stringify(text)}`);
  }
  let total = 0;
  for (const m of t.matchAll(/(\d+)([smhdw])/g)) total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  if (total <= 0) throw new RangeError(`must be longer than zero, got ${JSON.stringify(text)}`);
  return total;
}

/** The largest exact unit form of `seconds`: 86400 → `1d`, 5400 → `90m`. */
export function formatDuration(seconds: number): string {
  for (const unit of ["w", "d", "h", "m"] as const) {
    const size = UNIT_SECONDS[unit]!;
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
