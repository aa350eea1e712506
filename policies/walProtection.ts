/**
 * `lifeboat-pitr-wal-protected`: the WAL of a point-in-time-recovery source is what makes its
 * window restorable, so it gets the protection backups get, on its own clock. For every
 * ScheduledBackup with `pitr: true`, in every backup bucket that holds the source (its tier
 * prefixes have rules), `<prefix>/<source>/wal/`:
 *
 * - expires (else it grows forever: each flush uploads the partial segment again), and not before
 *   the `walRetentionDays` the source declares (its window plus a base-backup interval);
 * - is locked that long: R2 by a bucket-lock rule (the sidecar's token could otherwise delete
 *   it), S3 per object (`walRetentionDays` with `objectLockRetention`) or by a bucket default
 *   retention at least that long;
 * - and the base backups the window starts from (the daily tier) outlive that WAL.
 */
import { WAL_DIR, joinKey } from "lifeboat-core";
import { Bucket, backupBuckets, configOf, covers, lifecycleRules, lockRules, PrefixRule } from "./buckets";
import { Finding, knownString, LifeboatPolicy, obj, PolicyResourceInput, PolicySettings, T } from "./model";
import { sourceName } from "./schedule";

const days = (n: number) => `${n} day${n === 1 ? "" : "s"}`;

/** The longest expiry (or lock) a rule covering `prefix` gives; undefined when none covers it. */
function longest(rules: PrefixRule[], prefix: string): number | undefined {
  const covering = rules.filter((r) => r.expireDays !== undefined && covers(r.prefix, prefix)).map((r) => r.expireDays!);
  return covering.length ? Math.max(...covering) : undefined;
}

/** The shortest expiry a rule covering `prefix` gives: what removes the object first. */
function shortest(rules: PrefixRule[], prefix: string): number | undefined {
  const covering = rules.filter((r) => r.expireDays !== undefined && covers(r.prefix, prefix)).map((r) => r.expireDays!);
  return covering.length ? Math.min(...covering) : undefined;
}

/** An S3 bucket's default Object Lock retention in days (BucketObjectLockConfiguration), if declared. */
function defaultRetentionDays(b: Bucket, resources: PolicyResourceInput[], buckets: Bucket[]): number | undefined {
  const found = configOf(b, resources, buckets, T.s3ObjectLock, T.s3ObjectLockV2)
    .map((r) => obj(obj(obj(r.inputs.rule).defaultRetention)))
    .map((d) => (typeof d.days === "number" ? d.days : typeof d.years === "number" ? d.years * 365 : undefined))
    .filter((d): d is number => d !== undefined);
  return found.length ? Math.max(...found) : undefined;
}

export function checkWalProtection(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const buckets = backupBuckets(resources, settings);
  const findings: Finding[] = [];
  for (const r of resources.filter((x) => x.type === T.scheduledBackup && x.inputs.pitr === true)) {
    const source = sourceName(r);
    const prefix = knownString(r.inputs.prefix) ?? "backups";
    const wal = joinKey(prefix, source, WAL_DIR) + "/";
    const daily = joinKey(prefix, source, "daily") + "/";
    const declared = typeof r.inputs.walRetentionDays === "number" ? r.inputs.walRetentionDays : undefined;
    if (declared === undefined) {
      findings.push({
        resource: r.name,
        message: `PITR source ${source} declares no walRetentionDays: nothing says how long its WAL (${wal}) is kept and locked, so the PITR window is not protected`,
      });
    }
    const perObjectLock = declared !== undefined && r.inputs.objectLockRetention !== undefined;
    for (const b of buckets) {
      const rules = configOf(b, resources, buckets, ...(b.kind === "s3" ? [T.s3Lifecycle, T.s3LifecycleV2] : [T.r2Lifecycle])).flatMap(lifecycleRules);
      const locks = b.kind === "r2" ? configOf(b, resources, buckets, T.r2Lock).flatMap(lockRules) : [];
      // Only the buckets that hold this source: their rules name its tier prefixes.
      if (![...rules, ...locks].some((x) => x.prefix.startsWith(joinKey(prefix, source) + "/"))) continue;
      const label = `${b.kind === "s3" ? "S3" : "R2"} backup bucket ${b.name}`;
      const expiry = shortest(rules, wal);
      if (expiry === undefined) {
        findings.push({ resource: b.name, message: `${label}: WAL of PITR source ${source} (${wal}) never expires: it grows forever (every flush uploads the partial segment again); add a lifecycle rule for the PITR window` });
      } else if (declared !== undefined && expiry < declared) {
        findings.push({ resource: b.name, message: `${label}: WAL of PITR source ${source} expires after ${days(expiry)}, before the ${days(declared)} its PITR window needs` });
      }
      const need = declared ?? expiry ?? 1;
      if (b.kind === "r2") {
        const locked = longest(locks, wal);
        if (locked === undefined || locked < need) {
          findings.push({
            resource: b.name,
            message: `${label}: WAL of PITR source ${source} (${wal}) is ${locked === undefined ? "not locked" : `locked only ${days(locked)}`}: the sidecar's token could delete it; lock it ${days(need)} with an R2BucketLock rule`,
          });
        }
      } else if (!perObjectLock) {
        const dflt = defaultRetentionDays(b, resources, buckets);
        if (dflt === undefined || dflt < need) {
          findings.push({
            resource: b.name,
            message: `${label}: WAL of PITR source ${source} is locked ${dflt === undefined ? "by no default retention" : `only ${days(dflt)} (the bucket's default retention)`}, not the ${days(need)} it is kept: set walRetentionDays with objectLockRetention so each WAL object is locked that long`,
          });
        }
      }
      const baseExpiry = shortest(rules, daily);
      if (baseExpiry !== undefined && baseExpiry < need) {
        findings.push({ resource: b.name, message: `${label}: base backups of PITR source ${source} expire after ${days(baseExpiry)} (${daily}), before the ${days(need)} of WAL that starts from them` });
      }
    }
  }
  return findings;
}

export const walProtectionPolicy: LifeboatPolicy = {
  name: "lifeboat-pitr-wal-protected",
  description: "The WAL of a point-in-time-recovery source is expired and locked on its PITR window's clock, and its base backups outlive it.",
  scope: "stack",
  check: checkWalProtection,
};
