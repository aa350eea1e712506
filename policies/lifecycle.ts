/**
 * `lifeboat-backup-lifecycle`: backups leave only through lifecycle rules. Every tier prefix
 * (`<prefix>/<source>/{daily,weekly,monthly,yearly}/`) has an expiry, every source that has
 * one tier prefix has all four, and incomplete multipart uploads are aborted everywhere a
 * backup is written (a failed streaming upload otherwise leaves billed parts forever).
 * S3 BucketLifecycleConfiguration and R2BucketLifecycle; disabled rules do not count.
 */
import { TIERS } from "lifeboat-core";
import { backupBuckets, configOf, covers, lifecycleRules, lockRules, sourceOfPrefix, tierPrefixes } from "./buckets";
import { Finding, LifeboatPolicy, PolicyResourceInput, PolicySettings, T } from "./model";

export function checkLifecycle(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const buckets = backupBuckets(resources, settings);
  const findings: Finding[] = [];
  for (const b of buckets) {
    const configs = configOf(b, resources, buckets, ...(b.kind === "s3" ? [T.s3Lifecycle, T.s3LifecycleV2] : [T.r2Lifecycle]));
    const label = `${b.kind === "s3" ? "S3" : "R2"} backup bucket ${b.name}`;
    if (configs.length === 0) {
      findings.push({ resource: b.name, message: `${label} has no lifecycle rules: expire every tier prefix and abort incomplete multipart uploads` });
      continue;
    }
    const rules = configs.flatMap(lifecycleRules);
    const locks = configOf(b, resources, buckets, T.r2Lock).flatMap(lockRules);
    const mentioned = tierPrefixes([...rules, ...locks]);
    if (mentioned.length === 0) {
      findings.push({ resource: b.name, message: `${label} has no lifecycle rule that expires a tier prefix (<prefix>/<source>/daily/, weekly/, monthly/, yearly/)` });
    }
    const sources = [...new Set(mentioned.map(sourceOfPrefix))];
    const expected = sources.flatMap((s) => TIERS.map((t) => `${s}${t}/`));
    for (const prefix of expected) {
      if (!rules.some((r) => r.expireDays !== undefined && covers(r.prefix, prefix))) {
        findings.push({ resource: b.name, message: `${label}: tier prefix ${prefix} has no expiry rule` });
      }
    }
    const aborts = rules.filter((r) => r.abortsMultipart);
    if (aborts.length === 0 || !expected.every((p) => aborts.some((r) => covers(r.prefix, p)))) {
      findings.push({ resource: b.name, message: `${label} does not abort incomplete multipart uploads: add a lifecycle rule that aborts them for the whole bucket` });
    }
  }
  return findings;
}

export const lifecyclePolicy: LifeboatPolicy = {
  name: "lifeboat-backup-lifecycle",
  description: "Every tier prefix of a backup bucket expires, and incomplete multipart uploads are aborted.",
  scope: "stack",
  check: checkLifecycle,
};
