/**
 * The runner's `--retention` flag and `--lock-mode` values, as the components write them and the
 * runner parses them (runner/src/lock.ts): each tier's count with its unit,
 * `daily=30d,weekly=12w,monthly=12m,yearly=7y[,floor=365d]`.
 */
import { Retention } from "../retention";
import { TIERS, Tier } from "../tier";

export const LOCK_MODES = ["governance", "compliance"] as const;
export type LockMode = (typeof LOCK_MODES)[number];

/** The unit each tier's count is in, as written after the number. */
export const RETENTION_UNIT: Record<Tier, string> = { daily: "d", weekly: "w", monthly: "m", yearly: "y" };

/** Formats a retention the way the runner's `--retention` reads it. */
export function formatRetention(retention: Retention, floorDays = 0): string {
  const parts = TIERS.map((t) => `${t}=${retention[t]}${RETENTION_UNIT[t]}`);
  if (floorDays > 0) parts.push(`floor=${floorDays}d`);
  return parts.join(",");
}
