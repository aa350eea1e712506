/**
 * Per-object S3 Object Lock: each backup object (and its manifest) is locked until its tier's
 * expiry, so weekly/monthly/yearly backups stay immutable for their whole life rather than only
 * for the bucket's default retention (the shortest tier's). R2 has no per-object lock headers
 * (its bucket-lock rules do this job), so the default is no lock headers at all.
 */
import { LOCK_MODES, LockMode, RETENTION_UNIT, Retention, TIERS, Tier, tierExpiryDays } from "lifeboat-core";
import { UsageError } from "./errors";

/** What one put asks S3 to do: `x-amz-object-lock-mode` and `x-amz-object-lock-retain-until-date`. */
export interface ObjectLock {
  mode: "GOVERNANCE" | "COMPLIANCE";
  retainUntil: Date;
}

/** The runner's lock settings: each tier's retention, optionally every tier at least `floorDays` (a compliance prefix). */
export interface LockPolicy {
  mode: LockMode;
  retention: Retention;
  floorDays: number;
}

/**
 * Parses `--retention daily=30d,weekly=12w,monthly=12m,yearly=7y[,floor=365d]`. Every tier must be
 * given (a missing one would silently lock for zero days); `floor=Nd` locks every tier at least N
 * days, for a source under a compliance prefix.
 */
export function parseRetention(text: string): { retention: Retention; floorDays: number } {
  const seen = new Map<string, number>();
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(\d+)([a-z])$/.exec(part);
    if (!m) throw new UsageError(`--retention: ${JSON.stringify(part)} must be TIER=COUNT+UNIT such as daily=30d, weekly=12w, monthly=12m, yearly=7y or floor=365d`);
    const [, name, count, unit] = m as unknown as [string, string, string, string];
    const want = name === "floor" ? "d" : RETENTION_UNIT[name as Tier];
    if (!want) throw new UsageError(`--retention: unknown tier ${JSON.stringify(name)}; use ${[...TIERS, "floor"].join(", ")}`);
    if (unit !== want) throw new UsageError(`--retention: ${name} is counted in ${want} (e.g. ${name}=${count}${want}), got ${JSON.stringify(part)}`);
    if (seen.has(name)) throw new UsageError(`--retention: ${name} is given twice`);
    seen.set(name, Number(count));
  }
  const missing = TIERS.filter((t) => !seen.has(t));
  if (missing.length) throw new UsageError(`--retention: missing ${missing.join(", ")} (give every tier, e.g. daily=30d,weekly=12w,monthly=12m,yearly=7y)`);
  const retention = Object.fromEntries(TIERS.map((t) => [t, seen.get(t)!])) as unknown as Retention;
  return { retention, floorDays: seen.get("floor") ?? 0 };
}

/**
 * The lock for an object of `tier` whose backup started at `started`: retained for the same
 * number of days as the bucket's lifecycle rule for that tier keeps it ({@link tierExpiryDays},
 * the one retention calendar), or the floor when that is longer.
 */
export function lockFor(policy: LockPolicy, tier: Tier, started: Date): ObjectLock {
  return lockForDays(policy.mode, Math.max(tierExpiryDays(policy.retention)[tier], policy.floorDays), started);
}

/** A lock of `days` from `from`: what the bucket's lifecycle rule for that prefix keeps. */
export function lockForDays(mode: LockMode, days: number, from: Date): ObjectLock {
  return { mode: mode === "compliance" ? "COMPLIANCE" : "GOVERNANCE", retainUntil: new Date(from.getTime() + days * 86_400_000) };
}

/**
 * `wal-stream --wal-retention 16d --lock-mode compliance`: each WAL object and manifest locked
 * for the days the bucket keeps WAL (the PITR window plus a base-backup interval), or neither.
 */
export function walLockSetting(retention: string | undefined, mode: string | undefined): { mode: LockMode; days: number } | undefined {
  if (retention === undefined && mode === undefined) return undefined;
  if (retention === undefined) throw new UsageError("--lock-mode needs --wal-retention (how many days each WAL object is locked)");
  if (mode === undefined) throw new UsageError("--wal-retention needs --lock-mode governance|compliance (the S3 Object Lock mode of every WAL object)");
  if (!(LOCK_MODES as readonly string[]).includes(mode)) throw new UsageError(`--lock-mode: must be governance or compliance, got ${JSON.stringify(mode)}`);
  const m = /^(\d+)d$/.exec(retention.trim());
  if (!m || Number(m[1]) < 1) throw new UsageError(`--wal-retention: must be whole days such as 16d (the bucket's WAL lifecycle rule), got ${JSON.stringify(retention)}`);
  return { mode: mode as LockMode, days: Number(m[1]) };
}

/** `--retention` and `--lock-mode` together, or neither (no per-object lock headers). */
export function lockPolicy(retention: string | undefined, mode: string | undefined): LockPolicy | undefined {
  if (retention === undefined && mode === undefined) return undefined;
  if (retention === undefined) throw new UsageError("--lock-mode needs --retention (each tier's retention decides how long its objects are locked)");
  if (mode === undefined) throw new UsageError("--retention needs --lock-mode governance|compliance (the S3 Object Lock mode of every object written)");
  if (!(LOCK_MODES as readonly string[]).includes(mode)) throw new UsageError(`--lock-mode: must be governance or compliance, got ${JSON.stringify(mode)}`);
  return { mode: mode as LockMode, ...parseRetention(retention) };
}
