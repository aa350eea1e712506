import * as cloudflare from "@pulumi/cloudflare";
import { ABORT_MULTIPART_DAYS, PrefixRule } from "./rules";

const DAY = 86400;

/** R2 lifecycle rules: expire each prefix, abort incomplete uploads, optional InfrequentAccess. */
export function r2LifecycleRules(rules: PrefixRule[]): cloudflare.types.input.R2BucketLifecycleRule[] {
  const out: cloudflare.types.input.R2BucketLifecycleRule[] = rules.map((r) => ({
    id: `expire-${r.id}`,
    enabled: true,
    conditions: { prefix: r.prefix },
    deleteObjectsTransition: { condition: { type: "Age", maxAge: r.expireDays * DAY } },
    ...(r.infrequentAccessDays
      ? { storageClassTransitions: [{ storageClass: "InfrequentAccess", condition: { type: "Age", maxAge: r.infrequentAccessDays * DAY } }] }
      : {}),
  }));
  out.push({
    id: "abort-incomplete-multipart",
    enabled: true,
    conditions: { prefix: "" },
    abortMultipartUploadsTransition: { condition: { type: "Age", maxAge: ABORT_MULTIPART_DAYS * DAY } },
  });
  return out;
}

/**
 * R2 bucket-lock rules: every locked prefix is protected from deletion and overwrite for
 * its whole life. R2 has no versioning or object lock; these rules are what stops a leaked
 * token (R2 tokens cannot express write-only) from destroying existing backups.
 */
export function r2LockRules(rules: PrefixRule[]): cloudflare.types.input.R2BucketLockRule[] {
  return rules
    .filter((r) => r.lockDays !== undefined)
    .map((r) => ({ id: `lock-${r.id}`, enabled: true, prefix: r.prefix, condition: { type: "Age", maxAgeSeconds: r.lockDays! * DAY } }));
}
