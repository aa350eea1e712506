import {
  CompliancePrefix, joinKey, Retention, Tier, TIERS, tierExpiryDays, tierPrefix, VERIFICATIONS_DIR, WAL_DIR,
} from "lifeboat-core";

/** One prefix the bucket expires (and, where `lockDays` is set, locks) on its own clock. */
export interface PrefixRule {
  /** Stable rule id, unique in the bucket. */
  id: string;
  /** Key prefix the rule covers, ending in `/`. */
  prefix: string;
  /** Objects expire this many days after they were written. */
  expireDays: number;
  /** Objects cannot be deleted or overwritten for this many days. Never above `expireDays`. */
  lockDays?: number;
  /** Move to the infrequent-access class after this many days. */
  infrequentAccessDays?: number;
  tier?: Tier;
}

export interface BucketRulesInput {
  prefix: string;
  sources: string[];
  retention: Retention;
  compliance?: CompliancePrefix[];
  /** Days verification records are kept. @default 400 */
  verificationDays?: number;
  /** Move monthly and yearly backups to infrequent access after this many days. */
  infrequentAccessAfterDays?: number;
  /** Point-in-time-recovery sources: days each one's WAL is kept and locked (`walRetentionDays`). */
  walRetentionDays?: Record<string, number>;
}

/** Status pages in the bucket (`report --upload`) are kept this many days. */
const STATUS_PAGE_DAYS = 14;
/** Where `report --upload` without `--name` puts the page of every source. */
const STATUS_ALL = "_all";

/** Incomplete multipart uploads are aborted after this many days (a failed run leaves nothing). */
export const ABORT_MULTIPART_DAYS = 1;

/**
 * The lifecycle and lock rules a backup bucket needs: for every source, one rule per tier
 * prefix (expiry from the retention calendar, lock for the whole of that life), one per
 * compliance prefix, one for each point-in-time-recovery source's WAL, and one for
 * verification records. The writer never deletes: these rules
 * are the only thing that removes backups.
 */
export function bucketRules(input: BucketRulesInput): PrefixRule[] {
  const expiry = tierExpiryDays(input.retention);
  const rules: PrefixRule[] = [];
  for (const source of input.sources) {
    for (const tier of TIERS) {
      const days = expiry[tier];
      const ia = input.infrequentAccessAfterDays;
      rules.push({
        id: `${source}-${tier}`,
        prefix: tierPrefix(input.prefix, source, tier),
        expireDays: days,
        lockDays: days,
        tier,
        ...((tier === "monthly" || tier === "yearly") && ia !== undefined && ia < days ? { infrequentAccessDays: ia } : {}),
      });
    }
  }
  // Ids are unique by construction: a source's end in its tier (`app-db-daily`), a compliance
  // prefix's in `-compliance`, which is no tier (`compliance-x` + `daily` and `x-daily` would
  // both have been `compliance-x-daily`, and S3 refuses a configuration with duplicate ids).
  for (const c of input.compliance ?? []) {
    rules.push({ id: `${c.prefix}-compliance`, prefix: joinKey(input.prefix, c.prefix) + "/", expireDays: c.days, lockDays: c.days });
  }
  // WAL (`<prefix>/<source>/wal/`, partial segments included) is locked and expired on the PITR
  // window's clock: without a rule it would grow forever and a leaked R2 token could delete it.
  for (const [source, days] of Object.entries(input.walRetentionDays ?? {})) {
    rules.push({ id: `${source}-wal`, prefix: joinKey(input.prefix, source, WAL_DIR) + "/", expireDays: days, lockDays: days });
  }
  // Status pages (`report --upload`, hourly) are a view, not a record: without their own shorter
  // rule thousands would pile up under each source's verification prefix, which status lists.
  for (const source of [...input.sources, STATUS_ALL]) {
    rules.push({ id: `${source}-status-pages`, prefix: joinKey(input.prefix, VERIFICATIONS_DIR, source, "status") + "/", expireDays: STATUS_PAGE_DAYS });
  }
  rules.push({
    id: "verifications",
    prefix: joinKey(input.prefix, VERIFICATIONS_DIR) + "/",
    expireDays: input.verificationDays ?? 400,
  });
  return rules;
}

/** The shortest lock any tier asks for: the S3 bucket-wide default retention. */
export function minimumLockDays(rules: PrefixRule[]): number {
  const locks = rules.flatMap((r) => (r.lockDays ? [r.lockDays] : []));
  if (locks.length === 0) throw new Error("minimumLockDays: no locked prefix");
  return Math.min(...locks);
}
