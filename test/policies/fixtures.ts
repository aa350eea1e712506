/**
 * Resource sets as `lifeboat plan` reports them (and as the engine adapter produces them):
 * compliant Lifeboat-style S3 and R2 backup buckets that each test weakens in one place.
 */
import { PolicyResourceInput } from "../../policies/model";

const DAY = 86400;
export const TIER_DAYS = { daily: 30, weekly: 84, monthly: 372, yearly: 2562 } as const;
type Tier = keyof typeof TIER_DAYS;
const TIERS = Object.keys(TIER_DAYS) as Tier[];

export interface SetOptions {
  sources?: string[];
  days?: Partial<Record<Tier, number>>;
}

function child(type: string, name: string, parent: string, inputs: Record<string, unknown>): PolicyResourceInput {
  return { type, name, parent, parentType: "lifeboat:index:BackupBucket", inputs };
}

/** A BackupBucket on S3 as the component declares it, bucket id resolved as the mocks do. */
export function s3Set(name: string, region: string, o: SetOptions = {}): PolicyResourceInput[] {
  const id = `${name}-0123456789ab`;
  const days = { ...TIER_DAYS, ...o.days };
  const b = { bucket: id };
  return [
    { type: "lifeboat:index:BackupBucket", name, inputs: {} },
    child("aws:kms/key:Key", `${name}-key`, name, { enableKeyRotation: true }),
    child("aws:s3/bucket:Bucket", name, name, { bucketPrefix: `${name}-`, objectLockEnabled: true, forceDestroy: false }),
    child("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", `${name}-public-access`, name, {
      ...b, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    }),
    child("aws:s3/bucketVersioning:BucketVersioning", `${name}-versioning`, name, { ...b, versioningConfiguration: { status: "Enabled" } }),
    child("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", `${name}-encryption`, name, {
      ...b,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: `arn:aws:kms:${region}:123456789012:key/1111` }, bucketKeyEnabled: true }],
    }),
    child("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", `${name}-lifecycle`, name, {
      ...b,
      rules: [
        ...(o.sources ?? ["app-db"]).flatMap((s) => TIERS.map((t) => ({
          id: `expire-${s}-${t}`, status: "Enabled", filter: { prefix: `backups/${s}/${t}/` }, expiration: { days: days[t] },
        }))),
        { id: "abort", status: "Enabled", filter: { prefix: "" }, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } },
      ],
    }),
  ];
}

/** A BackupBucket on R2: bucket, lifecycle (expiry per tier + abort) and lock on every tier. */
export function r2Set(name: string, where: { location?: string; jurisdiction?: string } = {}, o: SetOptions = {}): PolicyResourceInput[] {
  const days = { ...TIER_DAYS, ...o.days };
  const scope = { accountId: "0123456789abcdef0123456789abcdef", bucketName: name, jurisdiction: where.jurisdiction ?? "default" };
  const prefixes = (o.sources ?? ["app-db"]).flatMap((s) => TIERS.map((t) => ({ s, t, prefix: `backups/${s}/${t}/` })));
  return [
    { type: "lifeboat:index:BackupBucket", name, inputs: {} },
    child("cloudflare:index/r2Bucket:R2Bucket", name, name, {
      accountId: scope.accountId, name, jurisdiction: scope.jurisdiction, ...(where.location ? { location: where.location } : {}),
    }),
    child("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", `${name}-lifecycle`, name, {
      ...scope,
      rules: [
        ...prefixes.map(({ s, t, prefix }) => ({
          id: `expire-${s}-${t}`, enabled: true, conditions: { prefix }, deleteObjectsTransition: { condition: { type: "Age", maxAge: days[t] * DAY } },
        })),
        { id: "abort", enabled: true, conditions: { prefix: "" }, abortMultipartUploadsTransition: { condition: { type: "Age", maxAge: DAY } } },
      ],
    }),
    child("cloudflare:index/r2BucketLock:R2BucketLock", `${name}-lock`, name, {
      ...scope,
      rules: prefixes.map(({ s, t, prefix }) => ({ id: `lock-${s}-${t}`, enabled: true, prefix, condition: { type: "Age", maxAgeSeconds: days[t] * DAY } })),
    }),
  ];
}

/** The standard pair: R2 primary in western Europe, S3 replica in Frankfurt (the prod stack's shape). */
export function compliantStack(): PolicyResourceInput[] {
  return [...r2Set("lifeboat-prod-backups", { location: "weur", jurisdiction: "eu" }), ...s3Set("lifeboat-prod-replica-1", "eu-central-1")];
}

/** Replace the inputs of the resource `name` (of `type`) with `f(inputs)`. */
export function edit(resources: PolicyResourceInput[], type: string, name: string, f: (i: Record<string, any>) => Record<string, unknown>): PolicyResourceInput[] {
  let hit = false;
  const out = resources.map((r) => {
    if (r.type !== type || r.name !== name) return r;
    hit = true;
    return { ...r, inputs: f(JSON.parse(JSON.stringify(r.inputs))) };
  });
  if (!hit) throw new Error(`no ${type} ${name}`);
  return out;
}

export function without(resources: PolicyResourceInput[], type: string, name?: string): PolicyResourceInput[] {
  return resources.filter((r) => !(r.type === type && (name === undefined || r.name === name)));
}

/** A writer identity as BackupAccess declares it: a user tagged lifeboat:role=writer and its inline policy. */
export function writer(name: string, statements: unknown[]): PolicyResourceInput[] {
  return [
    { type: "aws:iam/user:User", name, parent: name, inputs: { path: "/lifeboat/", tags: { "lifeboat:role": "writer" } } },
    { type: "aws:iam/userPolicy:UserPolicy", name: `${name}-policy`, parent: name, inputs: { user: name, policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }) } },
  ];
}

export const LIFEBOAT_WRITER_STATEMENTS = [
  { Sid: "WriteOwnBackups", Effect: "Allow", Action: ["s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload"], Resource: "arn:aws:s3:::b/backups/app-db/*" },
  { Sid: "EncryptViaS3", Effect: "Allow", Action: ["kms:GenerateDataKey", "kms:Decrypt"], Resource: "arn:aws:kms:eu-west-1:123456789012:key/1" },
  { Sid: "NeverRead", Effect: "Deny", Action: ["s3:GetObject*", "s3:List*"], Resource: ["arn:aws:s3:::b", "arn:aws:s3:::b/*"] },
  { Sid: "NeverDelete", Effect: "Deny", Action: ["s3:Delete*", "s3:PutBucket*"], Resource: ["arn:aws:s3:::b", "arn:aws:s3:::b/*"] },
];
