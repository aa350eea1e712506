import { TIERS, Tier } from "./tier";

/** How many backups of each GFS tier to keep. */
export interface Retention {
  /** Days of daily backups to keep. */
  daily: number;
  /** Weeks of weekly (Sunday) backups to keep. */
  weekly: number;
  /** Months of monthly (1st of month) backups to keep. */
  monthly: number;
  /** Years of yearly (1 January) backups to keep. */
  yearly: number;
}

/** A prefix kept for a fixed period for legal or contractual reasons (audit logs, closed deals). */
export interface CompliancePrefix {
  /** Path under the bucket prefix, e.g. `audit-logs`. */
  prefix: string;
  /** Days every object under the prefix is kept (and locked). */
  days: number;
}

/** Days per unit, rounded up so that "N months" always covers N monthly backups. */
const DAYS_PER: Record<Tier, number> = { daily: 1, weekly: 7, monthly: 31, yearly: 366 };

/**
 * Age in days after which each tier's objects expire.
 *
 * A tier's own count converts to days (12 months → 372 days, enough to always hold 12 monthly
 * points). A longer-lived tier never expires before a shorter-lived one: a Sunday backup filed
 * as weekly is still the restore point for that day while the daily window lasts, so weekly
 * expiry is at least the daily expiry, and so on up.
 */
export function tierExpiryDays(retention: Retention): Record<Tier, number> {
  const out = {} as Record<Tier, number>;
  let floor = 0;
  for (const tier of TIERS) {
    floor = Math.max(floor, retention[tier] * DAYS_PER[tier]);
    out[tier] = floor;
  }
  return out;
}

/** The daily → yearly defaults our users' runbooks ask for in production. */
export const PROD_RETENTION: Retention = { daily: 30, weekly: 12, monthly: 12, yearly: 7 };
/** Staging keeps two weeks of dailies and two weekly points; nothing longer. */
export const STAGING_RETENTION: Retention = { daily: 14, weekly: 2, monthly: 0, yearly: 0 };

/** Compliance prefixes most of our users keep: audit logs a year, closed deals seven years. */
export const DEFAULT_COMPLIANCE: CompliancePrefix[] = [
  { prefix: "audit-logs", days: 365 },
  { prefix: "closed-deals", days: 7 * 366 },
];
