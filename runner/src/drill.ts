/**
 * Pure decisions of a restore drill (`verify`): which older backup it also restores, how its
 * stage times are split, and what the freshness check and SQL assertions ask of the restored
 * database. No I/O here: verify.ts does the work, these decide.
 */
import type { Tier } from "lifeboat-core";
import { ASSERTION_NAME, COLUMN_FORM, splitColumn } from "lifeboat-core";
import type { BackupEntry } from "./catalog";
import type { DrillStages } from "./manifest";
import { UsageError } from "./errors";

/**
 * mulberry32: a small, well-known 32-bit PRNG. A drill's random choice must be repeatable
 * (`--seed`, recorded with the result), which `Math.random` is not.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The older backup a drill restores besides `primary`: a trusted backup taken before it, drawn
 * first by tier and then within the tier, so a yearly is as likely as a daily however many
 * dailies there are; another tier than the primary's whenever one exists (the tiers live under
 * their own prefixes and lifecycle rules, and are the oldest keys). Undefined when there is none.
 */
export function pickOlder(entries: BackupEntry[], primary: BackupEntry, random: () => number): BackupEntry | undefined {
  const older = entries.filter((e) => e.flags.length === 0 && e.key !== primary.key && e.parts.time.getTime() < primary.parts.time.getTime());
  const tiers = [...new Set(older.map((e) => e.parts.tier))].sort();
  const others = tiers.filter((t) => t !== primary.parts.tier);
  const pool: Tier[] = others.length ? others : tiers;
  if (!pool.length) return undefined;
  const tier = pool[Math.min(pool.length - 1, Math.floor(random() * pool.length))]!;
  const inTier = older.filter((e) => e.parts.tier === tier).sort((a, b) => a.key.localeCompare(b.key));
  return inTier[Math.min(inTier.length - 1, Math.floor(random() * inTier.length))];
}

export type Stage = "download" | "decrypt" | "restore";

/**
 * Seconds each stage added: stage ends are marked as they happen (milliseconds); a stage never
 * marked (a kind without a restore tool, a failure before it) takes no time of its own, and
 * checks take the rest up to `end`. The four add up to `end - start`.
 */
export function stageSeconds(start: number, marks: Partial<Record<Stage, number>>, end: number): DrillStages {
  let prev = start;
  const part = (at: number | undefined): number => {
    const t = Math.min(Math.max(at ?? prev, prev), end);
    const s = (t - prev) / 1000;
    prev = t;
    return s;
  };
  const downloadSeconds = part(marks.download);
  const decryptSeconds = part(marks.decrypt);
  const restoreSeconds = part(marks.restore);
  return { downloadSeconds, decryptSeconds, restoreSeconds, checksSeconds: part(end) };
}

/** A freshness check: a timestamp column, as `schema.table.column` split into identifiers. */
export interface Freshness {
  schema: string;
  table: string;
  column: string;
  withinSeconds: number;
}

export function parseColumn(text: string, flag: string): { schema: string; table: string; column: string } {
  const parts = splitColumn(text);
  if (!parts) throw new UsageError(`${flag}: must be ${COLUMN_FORM}, got ${JSON.stringify(text)}`);
  return parts;
}

/**
 * What the freshness check finds wrong, or undefined: the newest value of the column must be no
 * older than `withinSeconds` before the backup was taken. No value at all (an emptied table, or
 * only NULLs) fails too: a backup of an emptied database is not a good backup.
 */
export function freshnessProblem(f: { label: string; withinSeconds: number }, newest: Date | null, backupTime: Date, fmt: (s: number) => string): string | undefined {
  if (!newest) return `freshness: ${f.label} has no value in the restored database (table empty?)`;
  const lag = (backupTime.getTime() - newest.getTime()) / 1000;
  if (lag > f.withinSeconds) {
    return `freshness: newest ${f.label} is ${newest.toISOString()}, ${fmt(lag)} before the backup was taken (${backupTime.toISOString()}), more than ${fmt(f.withinSeconds)}: a stale database was backed up`;
  }
  return undefined;
}

/** A SQL assertion run against the restored scratch database. */
export interface Assertion {
  name: string;
  sql: string;
}

/** `NAME=SQL` (`--assert`) → an assertion. */
export function parseAssertion(text: string, flag: string): Assertion {
  const eq = text.indexOf("=");
  const name = eq > 0 ? text.slice(0, eq).trim() : "";
  const sql = eq > 0 ? text.slice(eq + 1).trim() : "";
  if (!ASSERTION_NAME.test(name) || !sql) {
    throw new UsageError(`${flag}: must be NAME=SQL (a name of letters, digits, spaces, _.:- then the query), got ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { name, sql };
}

/**
 * Whether a query's result says the assertion held: exactly one row, and that row a single true
 * value, or (for a query of rows that must exist) any single row whose first value is not false.
 */
export function assertionHeld(rows: Record<string, unknown>[]): { ok: boolean; why?: string } {
  if (rows.length !== 1) return { ok: false, why: `returned ${rows.length} rows, expected one` };
  const first = Object.values(rows[0]!)[0];
  if (first === false || first === null || first === "f" || first === "false") return { ok: false, why: `returned ${JSON.stringify(first)}` };
  return { ok: true };
}
