/**
 * `lifeboat-retention-minimums`: no tier expires sooner than the environment's minimum
 * retention. Minimums are counts (30 daily, 12 weekly, 12 monthly, 7 yearly by default) turned
 * into days with the same calendar the buckets use (`tierExpiryDays` in lifeboat-core: 30, 84,
 * 372 and 2562 days). Judges the expiry of each tier prefix in S3 and R2 lifecycle rules.
 */
import { tierExpiryDays } from "lifeboat-core";
import { backupBuckets, configOf, lifecycleRules, tierOfPrefix } from "./buckets";
import { Finding, LifeboatPolicy, PolicyResourceInput, PolicySettings, T } from "./model";

export function checkRetention(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const minimum = tierExpiryDays(settings.minimums);
  const buckets = backupBuckets(resources, settings);
  const findings: Finding[] = [];
  for (const b of buckets) {
    const rules = configOf(b, resources, buckets, T.s3Lifecycle, T.s3LifecycleV2, T.r2Lifecycle).flatMap(lifecycleRules);
    for (const r of rules) {
      const tier = tierOfPrefix(r.prefix);
      if (!tier || r.expireDays === undefined) continue;
      if (r.expireDays < minimum[tier]) {
        findings.push({
          resource: b.name,
          message: `backup bucket ${b.name}: ${r.prefix} expires after ${r.expireDays} days, below the ${tier} minimum of ${minimum[tier]} days`,
        });
      }
    }
  }
  return findings;
}

export const retentionPolicy: LifeboatPolicy = {
  name: "lifeboat-retention-minimums",
  description: "Each tier prefix is kept at least the environment's minimum retention (default 30 daily, 12 weekly, 12 monthly, 7 yearly).",
  scope: "stack",
  check: checkRetention,
};
