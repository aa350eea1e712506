/**
 * `restore --at` for point-in-time recovery: the text becomes `recovery_target_time` exactly.
 *
 * - Microseconds are kept: PostgreSQL stamps commits in microseconds, and a target cut to
 *   milliseconds lands before a commit made at the exact target time (which then is missing).
 * - A zone is required: a time without one would be read in some machine's local zone (ours or
 *   the server's), silently hours off.
 * The Date (milliseconds, rounded down, so never after the target) picks the base backup and is
 * compared with the newest WAL.
 */
import { parseKeyTimestamp } from "lifeboat-core";
import { UsageError } from "../errors";

export interface RecoveryTarget {
  /** The instant, rounded down to milliseconds. */
  at: Date;
  /** For recovery_target_time: `2026-11-22 13:30:00.123456+00:00` (PostgreSQL rejects ISO 8601's `T` and `Z`). */
  pgText: string;
  /** The instant in UTC with the given fraction: `2026-11-22T13:30:00.123456Z`. */
  iso: string;
}

const TIME_RE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

export function parseRecoveryTarget(text: string): RecoveryTarget {
  const key = parseKeyTimestamp(text);
  if (key) return fromParts(key, "");
  const m = TIME_RE.exec(text.trim());
  if (!m) throw new UsageError(`--at: must be "latest" or a time with a zone such as 2026-11-22T13:30:00.123456Z (at most 6 fractional digits); got ${JSON.stringify(text)}`);
  const [, date, hh, mi, ss, frac = "", zone] = m;
  if (!zone) throw new UsageError(`--at ${JSON.stringify(text)} has no time zone: add Z (UTC) or an offset such as +02:00; a time without one would be read as some machine's local time`);
  const off = zone.toUpperCase() === "Z" ? "+00:00" : zone.length === 3 ? `${zone}:00` : zone.includes(":") ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = frac.padEnd(3, "0").slice(0, 3);
  const at = new Date(`${date}T${hh}:${mi}:${ss}.${ms}${off}`);
  if (Number.isNaN(at.getTime())) throw new UsageError(`--at ${JSON.stringify(text)} is not a valid time`);
  // Reject rolled-over fields (2026-02-30, 25:00): the parsed local fields must match the text.
  const local = new Date(at.getTime() + offsetMinutes(off) * 60_000).toISOString();
  if (local.slice(0, 19) !== `${date}T${hh}:${mi}:${ss}`) throw new UsageError(`--at ${JSON.stringify(text)} is not a valid time`);
  return fromParts(at, frac.padEnd(6, "0").slice(3));
}

function offsetMinutes(off: string): number {
  const sign = off.startsWith("-") ? -1 : 1;
  return sign * (Number(off.slice(1, 3)) * 60 + Number(off.slice(4, 6)));
}

/** `extraMicros`: the three digits after the milliseconds ("" for none). */
function fromParts(at: Date, extraMicros: string): RecoveryTarget {
  const base = at.toISOString().slice(0, 23); // 2026-11-22T13:30:00.123
  const micro = base + (extraMicros || "000");
  return { at, pgText: micro.replace("T", " ") + "+00:00", iso: micro + "Z" };
}
