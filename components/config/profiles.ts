import { CompliancePrefix, DEFAULT_COMPLIANCE, PROD_RETENTION, Retention, STAGING_RETENTION } from "lifeboat-core";
import { Profile } from "./schema";

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
  enforcement: "mandatory" | "advisory";
  objectLockMode: "GOVERNANCE" | "COMPLIANCE";
}

/**
 * Production: daily backups kept 30 days, 12 weekly, 12 monthly, 7 yearly, compliance
 * prefixes, a weekly restore drill and mandatory policies. Staging: weekly backups kept 14
 * days, a monthly drill, advisory policies. Development: daily backups kept a week.
 */
export const PROFILE_DEFAULTS: Record<Profile, ProfileDefaults> = {
  production: {
    retention: PROD_RETENTION,
    compliance: DEFAULT_COMPLIANCE,
    schedule: "0 3 * * *",
    rpo: "24h",
    rto: "4h",
    verificationSchedule: "0 5 * * 0",
    enforcement: "mandatory",
    objectLockMode: "COMPLIANCE",
  },
  staging: {
    retention: STAGING_RETENTION,
    compliance: [],
    schedule: "0 3 * * 0",
    rpo: "7d",
    rto: "24h",
    verificationSchedule: "0 5 1 * *",
    enforcement: "advisory",
    objectLockMode: "GOVERNANCE",
  },
  development: {
    retention: { daily: 7, weekly: 0, monthly: 0, yearly: 0 },
    compliance: [],
    schedule: "0 3 * * *",
    rpo: "24h",
    rto: "24h",
    verificationSchedule: "0 5 * * 0",
    enforcement: "advisory",
    objectLockMode: "GOVERNANCE",
  },
};

/** `prod`, `production`, `prod-eu` → production; `staging`, `stage-2` → staging; else development. */
export function profileForStack(stack: string): Profile {
  if (/^prod/.test(stack)) return "production";
  if (/^stag/.test(stack)) return "staging";
  return "development";
}
