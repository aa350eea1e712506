import { CompliancePrefix, DEFAULT_COMPLIANCE, PROD_RETENTION, Retention, STAGING_RETENTION } from "lifeboat-core";
import { Profile, PROFILES } from "./schema";

/** What an environment gets when its stack file does not say otherwise. */
export interface ProfileDefaults {
  retention: Retention;
  compliance: CompliancePrefix[];
  /** Backup schedule (cron, UTC). */
  schedule: string;
  rpo: string;
  rto: string;
  /** Restore-drill schedule (cron, UTC). */
  verificationSchedule: string;
  /**
   * `alerts.maxTableShrink`: the share of a Postgres table's rows one backup may lose before status
   * alerts (emptied and dropped tables always do). Staging and development data is reloaded and
   * wiped as a matter of course, so only near-total losses alert there.
   */
  maxTableShrink: number;
  enforcement: "mandatory" | "advisory";
  objectLockMode: "GOVERNANCE" | "COMPLIANCE";
  /** Point-in-time-recovery window of a `pitr` source: any time this far back can be restored. */
  pitrWindow: string;
  /** A bucket source's restore window (whole days): snapshots kept this long, stored copies twice as long. */
  bucketWindow: string;
}

/**
 * Production: daily backups kept 30 days, 12 weekly, 12 monthly, 7 yearly, compliance
 * prefixes, a weekly restore drill, a 14-day point-in-time-recovery window and mandatory
 * policies. Staging: weekly backups kept 14 days, a monthly drill, a 6-day window, advisory
 * policies. Development: daily backups kept a week, a 3-day window.
 */
export const PROFILE_DEFAULTS: Record<Profile, ProfileDefaults> = {
  production: {
    retention: PROD_RETENTION,
    compliance: DEFAULT_COMPLIANCE,
    schedule: "0 3 * * *",
    rpo: "24h",
    rto: "4h",
    verificationSchedule: "0 5 * * 0",
    maxTableShrink: 0.5,
    enforcement: "mandatory",
    objectLockMode: "COMPLIANCE",
    pitrWindow: "14d",
    bucketWindow: "30d",
  },
  staging: {
    retention: STAGING_RETENTION,
    compliance: [],
    schedule: "0 3 * * 0",
    rpo: "7d",
    rto: "24h",
    verificationSchedule: "0 5 1 * *",
    maxTableShrink: 0.9,
    enforcement: "advisory",
    objectLockMode: "GOVERNANCE",
    // Weekly base backups kept 14 days: WAL for 6 days + a 7-day interval + a day of run time fits.
    pitrWindow: "6d",
    bucketWindow: "14d",
  },
  development: {
    retention: { daily: 7, weekly: 0, monthly: 0, yearly: 0 },
    compliance: [],
    schedule: "0 3 * * *",
    rpo: "24h",
    rto: "24h",
    verificationSchedule: "0 5 * * 0",
    maxTableShrink: 0.9,
    enforcement: "advisory",
    objectLockMode: "GOVERNANCE",
    pitrWindow: "3d",
    bucketWindow: "7d",
  },
};

/** Which profile applies and why, for plan to say. */
export interface ProfileChoice {
  profile: Profile;
  /** `set by lifeboat:profile`, or `from the stack name "prod-eu"`. */
  reason: string;
}

/** Stack-name words that say a profile. Anything else says nothing, and the stack must set lifeboat:profile. */
const PROFILE_WORDS: Record<Profile, readonly string[]> = {
  production: ["prod", "production", "prd", "live"],
  staging: ["staging", "stage", "stg"],
  development: ["dev", "development", "local", "sandbox"],
};

/**
 * The profile a stack name says: a word of it (split on `-`, `_`, `.`; any case) names exactly
 * one profile. `prod`, `prod-eu`, `eu_Prod` → production; `staging-2` → staging; `dev` →
 * development. `eu` says nothing, `products` is not `prod`, and `prod-staging` is ambiguous:
 * those get undefined, and the stack must state lifeboat:profile rather than silently get the
 * development profile (7-day retention, advisory policies).
 */
export function profileForStack(stack: string): Profile | undefined {
  const words = stack.toLowerCase().split(/[-_.]+/);
  const said = PROFILES.filter((p) => words.some((w) => PROFILE_WORDS[p].includes(w)));
  return said.length === 1 ? said[0] : undefined;
}

/** The profile `lifeboat:profile` sets, else the one the stack name says, else undefined. */
export function chooseProfile(stated: Profile | undefined, stack: string): ProfileChoice | undefined {
  if (stated) return { profile: stated, reason: "set by lifeboat:profile" };
  const fromName = profileForStack(stack);
  return fromName ? { profile: fromName, reason: `from the stack name ${JSON.stringify(stack)}` } : undefined;
}
