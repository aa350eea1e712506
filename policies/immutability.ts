/**
 * `lifeboat-backup-immutability`: a backup cannot be deleted or overwritten before its tier
 * expires, even with the writer's (or a leaked) credential.
 *
 * - S3: the bucket is created with `objectLockEnabled: true` and has a BucketVersioning with
 *   status `Enabled` (object lock works on versions; the writer sets per-tier retention).
 * - R2 (no versioning or object lock): an R2BucketLock whose enabled rules cover every tier
 *   prefix that the bucket's lifecycle (or lock) rules name.
 */
import { backupBuckets, configOf, covers, lifecycleRules, lockRules, tierPrefixes } from "./buckets";
import { Finding, LifeboatPolicy, obj, PolicyResourceInput, PolicySettings, T, UNKNOWN } from "./model";

export function checkImmutability(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const buckets = backupBuckets(resources, settings);
  const findings: Finding[] = [];
  for (const b of buckets) {
    const i = b.resource.inputs;
    if (b.kind === "s3") {
      const lock = i.objectLockEnabled === true || i.objectLockEnabled === UNKNOWN || obj(i.objectLockConfiguration).objectLockEnabled === "Enabled";
      if (!lock) {
        findings.push({
          resource: b.name,
          message: `S3 backup bucket ${b.name} does not have object lock enabled: create it with objectLockEnabled: true`,
        });
      }
      const statuses = configOf(b, resources, buckets, T.s3Versioning, T.s3VersioningV2).map((v) => obj(v.inputs.versioningConfiguration).status);
      if (obj(i.versioning).enabled === true) statuses.push("Enabled");
      if (!statuses.some((s) => s === "Enabled" || s === UNKNOWN)) {
        findings.push({
          resource: b.name,
          message: `S3 backup bucket ${b.name} is not versioned: add a BucketVersioning with status "Enabled"`,
        });
      }
      continue;
    }
    const locks = configOf(b, resources, buckets, T.r2Lock);
    if (locks.length === 0) {
      findings.push({
        resource: b.name,
        message: `R2 backup bucket ${b.name} has no R2BucketLock: lock every tier prefix so that no token can delete or overwrite a backup before it expires`,
      });
      continue;
    }
    const locked = locks.flatMap(lockRules);
    const expiring = configOf(b, resources, buckets, T.r2Lifecycle).flatMap(lifecycleRules).filter((r) => r.expireDays !== undefined);
    for (const prefix of tierPrefixes([...expiring, ...locked])) {
      if (!locked.some((l) => covers(l.prefix, prefix) && (l.expireDays ?? 0) > 0)) {
        findings.push({
          resource: b.name,
          message: `R2 backup bucket ${b.name} does not lock tier prefix ${prefix}: add an enabled R2BucketLock rule that covers it`,
        });
      }
    }
  }
  return findings;
}

export const immutabilityPolicy: LifeboatPolicy = {
  name: "lifeboat-backup-immutability",
  description: "S3 backup buckets have object lock and versioning enabled; R2 backup buckets lock every tier prefix.",
  scope: "stack",
  check: checkImmutability,
};
