/**
 * Durations as people write them in stack config and on the command line: `90s`, `15m`,
 * `24h`, `7d`, `2w`, or combinations such as `1h30m` or `1d 2h` (as {@link humanDuration} shows them).
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION_RE = /^\d+[smhdw](\s*\d+[smhdw])*$/;

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

/**
 * The largest exact unit form of `seconds`: 86400 → `1d`, 5400 → `90m`. For values handed back
 * to a tool as a flag or config value (`--max-age`), where rounding would change the meaning;
 * everything shown to people goes through {@link humanDuration}.
 */
export function formatDuration(seconds: number): string {
  for (const unit of ["w", "d", "h", "m"] as const) {
    const size = UNIT_SECONDS[unit]!;
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** Display units, largest first: days rather than weeks, so 24h and 1d, 2w and 14d read alike. */
const HUMAN_UNITS = [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]] as const;

/**
 * A length of time for people, in one format everywhere (status, alerts, errors, the plan):
 * the largest unit and the next one when not zero, rounded down: 5295074 → `61d 6h`,
 * 1161 → `19m 21s`, 86400 → `1d`. Parses back with {@link parseDuration}.
 */
export function humanDuration(seconds: number): string {
  let rest = Math.max(0, Math.floor(seconds));
  const i = HUMAN_UNITS.findIndex(([, size]) => rest >= size);
  if (i < 0) return "0s";
  const parts: string[] = [];
  for (const [unit, size] of HUMAN_UNITS.slice(i, i + 2)) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.join(" ");
}
