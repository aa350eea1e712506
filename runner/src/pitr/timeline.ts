/**
 * Timelines for point-in-time recovery (pure). A promoted server starts timeline N+1 and writes
 * `0000000N+1.history`: one line per ancestor, `parentTLI <tab> switchpoint LSN <tab> reason`,
 * the switchpoint being where the ancestor's WAL stops belonging to timeline N+1's past.
 *
 * A base backup can start a replay to timeline T when it was taken on T, or on an ancestor of T
 * before T's history left that ancestor (its end LSN at or before the switchpoint): a base backup
 * of the old timeline taken after the fork holds changes T never saw, and PostgreSQL refuses it
 * ("requested timeline T is not a child of this server's history").
 */
import { parseLsn } from "./wal";

export interface HistoryEntry {
  parent: number;
  switchLsn: bigint;
}

/** The lines of a timeline history file (comments and blank lines skipped). */
export function parseHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const [tli, lsn] = t.split(/\s+/);
    if (!/^\d+$/.test(tli ?? "") || !lsn) throw new Error(`not a timeline history line: ${JSON.stringify(line)}`);
    out.push({ parent: Number(tli), switchLsn: parseLsn(lsn) });
  }
  return out;
}

/** Timeline `tli` and its ancestors: where each one's WAL belongs to `tli`'s past up to (undefined: all of it). */
export function ancestry(tli: number, history: HistoryEntry[]): Map<number, bigint | undefined> {
  const out = new Map<number, bigint | undefined>(history.map((h) => [h.parent, h.switchLsn]));
  out.set(tli, undefined);
  return out;
}

/** Whether a base backup on `baseTli` ending at `baseEndLsn` can start a replay to the timeline whose ancestry this is. */
export function baseFitsTimeline(baseTli: number, baseEndLsn: string | undefined, line: Map<number, bigint | undefined>): boolean {
  if (!line.has(baseTli)) return false;
  const sw = line.get(baseTli);
  if (sw === undefined) return true;
  // Without an end LSN (an old manifest) the base cannot be shown to precede the fork.
  return baseEndLsn !== undefined && parseLsn(baseEndLsn) <= sw;
}

/**
 * The timeline a recovery target time lies on: the newest timeline that existed at `at` (its
 * first WAL object was captured at or before it). Timelines are numbered in the order they were
 * created, so a time before a promotion stays on the old timeline instead of following the new
 * one from its fork.
 */
export function timelineAt(at: Date, firstSeen: Map<number, Date>): number | undefined {
  let best: number | undefined;
  for (const [tli, t] of firstSeen) if (t.getTime() <= at.getTime() && (best === undefined || tli > best)) best = tli;
  if (best === undefined && firstSeen.size) best = Math.min(...firstSeen.keys());
  return best;
}

export type TimelineChoice = number | "latest" | "current";

/** `--timeline N|latest|current` */
export function parseTimelineOption(text: string | undefined): TimelineChoice | undefined {
  if (text === undefined) return undefined;
  if (text === "latest" || text === "current") return text;
  if (/^[0-9]+$/.test(text) && Number(text) >= 1 && Number(text) <= 0xffffffff) return Number(text);
  throw new Error(`--timeline: must be a timeline number (1, 2, ...), "latest" or "current"; got ${JSON.stringify(text)}`);
}
