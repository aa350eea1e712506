/**
 * The GFS tiers a backup can belong to, from the shortest-lived to the longest-lived.
 * Each backup run is written to exactly one tier, chosen from its UTC date by {@link tierFor}.
 */
export const TIERS = ["daily", "weekly", "monthly", "yearly"] as const;
export type Tier = (typeof TIERS)[number];

/**
 * The tier a backup taken at `time` belongs to: 1 January → yearly, the 1st of any other
 * month → monthly, a Sunday → weekly, any other day → daily. Dates are taken in UTC so that
 * every host, whatever its time zone, files the same run under the same tier.
 */
export function tierFor(time: Date): Tier {
  if (Number.isNaN(time.getTime())) throw new RangeError("tierFor: invalid date");
  if (time.getUTCDate() === 1) return time.getUTCMonth() === 0 ? "yearly" : "monthly";
  return time.getUTCDay() === 0 ? "weekly" : "daily";
}
