/**
 * Which buckets are backup buckets, which resources configure which bucket, and where a
 * bucket lives. Shared by the bucket policies; one concept: *bucket identity*.
 */
import { TIERS, Tier } from "lifeboat-core";
import { knownString, obj, PolicyResourceInput, PolicySettings, T } from "./model";

export type BucketKind = "s3" | "r2";

export interface Bucket {
  kind: BucketKind;
  resource: PolicyResourceInput;
  /** Logical name, used in messages. */
  name: string;
}

const S3_BUCKETS: string[] = [T.s3Bucket, T.s3BucketV2];

/**
 * Backup buckets: every S3 or R2 bucket whose parent is a `lifeboat:index:BackupBucket`, or
 * whose logical name, `bucket`/`bucketPrefix` (S3) or `name` (R2) matches the
 * `backupBucketPattern` setting.
 */
export function backupBuckets(resources: PolicyResourceInput[], settings: PolicySettings): Bucket[] {
  const pattern = new RegExp(settings.backupBucketPattern, "i");
  const out: Bucket[] = [];
  for (const r of resources) {
    const kind: BucketKind | undefined = S3_BUCKETS.includes(r.type) ? "s3" : r.type === T.r2Bucket ? "r2" : undefined;
    if (!kind) continue;
    const names = [r.name, r.inputs.bucket, r.inputs.bucketPrefix, r.inputs.name].map(knownString).filter((n): n is string => !!n);
    if (r.parentType === T.backupBucketComponent || names.some((n) => pattern.test(n))) out.push({ kind, resource: r, name: r.name });
  }
  return out;
}

/** The input a bucket-configuration resource names its bucket with. */
function bucketRef(r: PolicyResourceInput): { key: string; value: unknown } {
  return "bucketName" in r.inputs ? { key: "bucketName", value: r.inputs.bucketName } : { key: "bucket", value: r.inputs.bucket };
}

/**
 * Does the configuration resource `child` (versioning, lifecycle, lock, domain…) configure
 * `bucket`? Tried in order:
 * 1. engine: the bucket input depends on the bucket resource (`propertyDependencies`);
 * 2. resolved values: the input equals the bucket's name (S3 `bucket`, R2 `name`, same
 *    jurisdiction), or its ARN, or starts with the S3 bucket's `bucketPrefix`;
 * 3. unresolved values: the child is a sibling of the bucket inside a `lifeboat:index:BackupBucket`.
 */
export function configures(child: PolicyResourceInput, bucket: Bucket): boolean {
  const ref = bucketRef(child);
  const deps = child.propertyDependencies?.[ref.key];
  if (deps && deps.length > 0) return deps.includes(bucket.resource.name);
  const value = knownString(ref.value);
  const b = bucket.resource.inputs;
  if (value) {
    if (bucket.kind === "r2") {
      const sameJurisdiction = (knownString(child.inputs.jurisdiction) ?? "default") === (knownString(b.jurisdiction) ?? "default");
      return value === knownString(b.name) && sameJurisdiction;
    }
    const name = knownString(b.bucket);
    if (name) return value === name || value === `arn:aws:s3:::${name}`;
    const prefix = knownString(b.bucketPrefix);
    return !!prefix && (value.startsWith(prefix) || value.startsWith(`arn:aws:s3:::${prefix}`));
  }
  return child.parent !== undefined && child.parent === bucket.resource.parent && child.parentType === T.backupBucketComponent;
}

/**
 * The resources of `types` that configure `bucket`. When bucket prefixes overlap, a child
 * resolved by prefix goes to the bucket with the longest matching prefix.
 */
export function configOf(bucket: Bucket, resources: PolicyResourceInput[], buckets: Bucket[], ...types: string[]): PolicyResourceInput[] {
  return resources.filter((r) => types.includes(r.type) && owner(r, buckets) === bucket);
}

/** The bucket a configuration resource belongs to, if any. */
export function owner(child: PolicyResourceInput, buckets: Bucket[]): Bucket | undefined {
  let candidates = buckets.filter((b) => configures(child, b));
  if (candidates.length <= 1) return candidates[0];
  // Generated names are truncated (S3 bucketPrefix ≤ 37 characters), so two buckets can share a
  // prefix: the bucket beside the child in the same component wins, then the longest prefix.
  const siblings = candidates.filter((b) => child.parent !== undefined && b.resource.parent === child.parent);
  if (siblings.length > 0) candidates = siblings;
  const prefixLength = (b: Bucket) => (knownString(b.resource.inputs.bucket) ?? knownString(b.resource.inputs.bucketPrefix) ?? "").length;
  return candidates.reduce((best, b) => (prefixLength(b) > prefixLength(best) ? b : best));
}

/** `backups/app-db/daily/` → `daily`: a prefix whose last segment is a GFS tier. */
export function tierOfPrefix(prefix: string): Tier | undefined {
  const last = prefix.replace(/\/+$/, "").split("/").pop();
  return (TIERS as readonly string[]).includes(last ?? "") ? (last as Tier) : undefined;
}

/** `backups/app-db/daily/` → `backups/app-db/`. */
export function sourceOfPrefix(prefix: string): string {
  const parts = prefix.replace(/\/+$/, "").split("/");
  parts.pop();
  return parts.length ? parts.join("/") + "/" : "";
}

/** Does a rule for `rulePrefix` (empty: the whole bucket) cover objects under `prefix`? */
export function covers(rulePrefix: string, prefix: string): boolean {
  return prefix.startsWith(rulePrefix);
}

/** One expiry (or lock, or abort) rule, normalised from S3 or R2 lifecycle/lock inputs. */
export interface PrefixRule {
  prefix: string;
  /** Days after which objects expire (or stay locked); undefined when the rule has no such action. */
  expireDays?: number;
  abortsMultipart: boolean;
}

/** Enabled lifecycle rules of an S3 BucketLifecycleConfiguration or an R2BucketLifecycle. */
export function lifecycleRules(r: PolicyResourceInput): PrefixRule[] {
  const out: PrefixRule[] = [];
  const rules = Array.isArray(r.inputs.rules) ? r.inputs.rules : [];
  for (const raw of rules) {
    const rule = obj(raw);
    if (r.type === T.r2Lifecycle) {
      if (rule.enabled === false) continue;
      const prefix = String(obj(rule.conditions).prefix ?? "");
      const cond = obj(obj(rule.deleteObjectsTransition).condition);
      const maxAge = typeof cond.maxAge === "number" ? cond.maxAge : undefined;
      out.push({
        prefix,
        ...(maxAge !== undefined && cond.type !== "Date" ? { expireDays: maxAge / 86400 } : {}),
        abortsMultipart: rule.abortMultipartUploadsTransition !== undefined,
      });
    } else {
      if (rule.status !== "Enabled") continue;
      const filter = obj(rule.filter);
      const prefix = String(filter.prefix ?? obj(filter.and).prefix ?? rule.prefix ?? "");
      const days = obj(rule.expiration).days;
      out.push({
        prefix,
        ...(typeof days === "number" && days > 0 ? { expireDays: days } : {}),
        abortsMultipart: typeof obj(rule.abortIncompleteMultipartUpload).daysAfterInitiation === "number",
      });
    }
  }
  return out;
}

/** Enabled lock rules of an R2BucketLock (Indefinite locks count as never-ending). */
export function lockRules(r: PolicyResourceInput): PrefixRule[] {
  const rules = Array.isArray(r.inputs.rules) ? r.inputs.rules : [];
  return rules
    .map(obj)
    .filter((rule) => rule.enabled !== false)
    .map((rule) => {
      const cond = obj(rule.condition);
      const secs = typeof cond.maxAgeSeconds === "number" ? cond.maxAgeSeconds : undefined;
      return {
        prefix: String(rule.prefix ?? ""),
        ...(cond.type === "Indefinite" ? { expireDays: Infinity } : secs !== undefined ? { expireDays: secs / 86400 } : {}),
        abortsMultipart: false,
      };
    });
}

/** Every tier prefix a bucket's lifecycle or lock rules mention. */
export function tierPrefixes(rules: PrefixRule[]): string[] {
  return [...new Set(rules.map((r) => r.prefix).filter((p) => tierOfPrefix(p) !== undefined))].sort();
}

/**
 * Where a bucket lives, as a comparable string: `s3:<region>` or
 * `r2:<jurisdiction>:<location hint>`; undefined when it cannot be known from inputs.
 * S3 region: the bucket's `region` input, its explicit provider's `region`, the region in
 * its SSE-KMS key ARN, then the `defaultAwsRegion` setting.
 */
export function locationOf(bucket: Bucket, resources: PolicyResourceInput[], buckets: Bucket[], settings: PolicySettings): string | undefined {
  const i = bucket.resource.inputs;
  if (bucket.kind === "r2") {
    const hint = knownString(i.location)?.toLowerCase();
    return `r2:${knownString(i.jurisdiction) ?? "default"}:${hint ?? "any"}`;
  }
  const region =
    knownString(i.region) ??
    knownString(bucket.resource.provider?.inputs.region) ??
    kmsRegion(bucket, resources, buckets) ??
    settings.defaultAwsRegion;
  return region ? `s3:${region}` : undefined;
}

function kmsRegion(bucket: Bucket, resources: PolicyResourceInput[], buckets: Bucket[]): string | undefined {
  for (const enc of configOf(bucket, resources, buckets, T.s3Encryption, T.s3EncryptionV2)) {
    for (const rule of Array.isArray(enc.inputs.rules) ? enc.inputs.rules : []) {
      const key = knownString(obj(obj(rule).applyServerSideEncryptionByDefault).kmsMasterKeyId);
      const m = key && /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(key);
      if (m) return m[1];
    }
  }
  return undefined;
}

/** Human form of {@link locationOf}: `S3 eu-central-1`, `R2 eu/weur`. */
export function describeLocation(loc: string): string {
  const [provider, a, b] = loc.split(":");
  return provider === "s3" ? `S3 ${a}` : `R2 ${a}/${b === "any" ? "no location hint" : b}`;
}
