/**
 * IAM policy documents for Lifeboat's backup identities, as plain objects.
 *
 * One concept: *who may touch which keys*. Every builder is a pure function of ARNs and
 * the object layout in `lifeboat-core` (`<prefix>/<source>/…`, verification records under
 * `<prefix>/_verifications/<source>/`), so the documents can be evaluated by an IAM policy
 * simulator in tests and serialised with `JSON.stringify` by the `BackupAccess` component.
 *
 * KMS statements are scoped to one key ARN and, with `kms:ViaService`, to requests that S3
 * makes on the caller's behalf: a credential cannot call KMS directly, and what S3 will
 * encrypt or decrypt for it is bounded by the S3 statements beside it. We deliberately do
 * not add `kms:EncryptionContext:aws:s3:arn` conditions: with S3 Bucket Keys enabled the
 * context is the bucket ARN rather than the object ARN, so prefix-scoped context conditions
 * break uploads, while the S3 statements already give the prefix scoping.
 */
import { NAME_PATTERN, joinKey, sourcePrefix, verificationPrefix } from "lifeboat-core";

/** A JSON IAM policy document (identity, resource or trust policy). */
export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** One statement of a {@link PolicyDocument}. Condition maps operator → key → value(s). */
export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Principal?: { Service?: string | string[]; AWS?: string | string[] };
  Action: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** Where one source's backups live: the bucket, the bucket-level prefix and the source name. */
interface SourceScope {
  /** `arn:aws:s3:::bucket` (also `aws-cn`, `aws-us-gov` partitions). */
  bucketArn: string;
  /** Bucket-level prefix, e.g. `prod` or `team/prod`; empty string for none. */
  prefix: string;
  /** Source name (`NAME_PATTERN` from lifeboat-core), e.g. `main-db`. */
  source: string;
  /** ARN of the bucket's SSE-KMS key; omit for buckets without a customer-managed key (R2, SSE-S3). */
  kmsKeyArn?: string;
}

/** A bucket and prefix on one side of a replicate job. */
export interface BucketScope {
  bucketArn: string;
  /** Bucket-level prefix to replicate; empty string for the whole bucket. */
  prefix: string;
  kmsKeyArn?: string;
}

/**
 * Actions no Lifeboat identity ever needs, denied explicitly on the bucket and its objects so
 * that no other policy attached later can grant them: deleting objects or versions, changing
 * bucket policy/ACL/versioning/object-lock/public-access settings (`s3:PutBucket*`), lifecycle,
 * encryption or replication configuration, bypassing governance-mode retention, removing
 * legal holds, and changing object ACLs.
 */
const PROTECTED_ACTIONS: readonly string[] = [
  "s3:Delete*",
  "s3:PutBucket*",
  "s3:PutLifecycleConfiguration",
  "s3:PutEncryptionConfiguration",
  "s3:PutReplicationConfiguration",
  "s3:BypassGovernanceRetention",
  "s3:PutObjectLegalHold",
  "s3:PutObjectAcl",
  "s3:PutObjectVersionAcl",
];

const BUCKET_ARN = /^arn:(aws|aws-cn|aws-us-gov):s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$/;
const KMS_KEY_ARN = /^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]+$/;
/** Prefix segments become IAM resource patterns: no wildcards (`*`, `?`) or policy variables (`$`). */
const PREFIX_SEGMENT = /^[A-Za-z0-9._-]+$/;

function checkBucketArn(arn: string): string {
  if (!BUCKET_ARN.test(arn)) throw new Error(`not an S3 bucket ARN: ${JSON.stringify(arn)}`);
  return arn;
}

function checkPrefix(prefix: string): string {
  const key = joinKey(prefix);
  for (const seg of key ? key.split("/") : []) {
    if (!PREFIX_SEGMENT.test(seg)) throw new Error(`bucket prefix segment ${JSON.stringify(seg)} may only contain letters, digits, '.', '_' and '-'`);
  }
  return key;
}

function checkSource(source: string): string {
  if (!NAME_PATTERN.test(source)) throw new Error(`source name ${JSON.stringify(source)} does not match ${NAME_PATTERN}`);
  return source;
}

/** `kms:ViaService` value for S3 in the key's region, e.g. `s3.eu-west-1.amazonaws.com`. */
function s3ViaService(kmsKeyArn: string): string {
  const m = KMS_KEY_ARN.exec(kmsKeyArn);
  if (!m) throw new Error(`not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): ${JSON.stringify(kmsKeyArn)}`);
  const suffix = m[1] === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return `s3.${m[2]}.${suffix}`;
}

/** Allow `actions` on one KMS key, only when S3 in that key's region makes the call for us. */
function kmsViaS3(sid: string, kmsKeyArn: string, actions: string[]): PolicyStatement {
  return {
    Sid: sid,
    Effect: "Allow",
    Action: actions,
    Resource: kmsKeyArn,
    Condition: { StringEquals: { "kms:ViaService": s3ViaService(kmsKeyArn) } },
  };
}

function denyProtected(sid: string, bucketArns: string[]): PolicyStatement {
  return {
    Sid: sid,
    Effect: "Deny",
    Action: [...PROTECTED_ACTIONS],
    Resource: bucketArns.flatMap((b) => [b, `${b}/*`]),
  };
}

/** `s3:prefix` values that let ListBucket see `keyPrefix` (which ends in `/`) and below, nothing else. */
function listPrefixes(keyPrefix: string): string[] {
  return [keyPrefix, `${keyPrefix}*`];
}

/**
 * The scheduled backup's identity: write-only under `<prefix>/<source>/`.
 *
 * - `s3:PutObject` covers PutObject and, for multipart upload, CreateMultipartUpload,
 *   UploadPart and CompleteMultipartUpload.
 * - `s3:AbortMultipartUpload` lets a failed streaming upload clean up its own parts; it
 *   cannot remove a completed object (the bucket's abort-incomplete lifecycle rule is the backstop).
 * - `s3:PutObjectRetention` is needed to upload with `x-amz-object-lock-mode` /
 *   `-retain-until-date` headers, which is how each GFS tier gets its own lock period on S3
 *   (a bucket's default retention is a single value). Harmless beyond that: without
 *   `s3:BypassGovernanceRetention` (explicitly denied) retention can only be lengthened.
 * - Not granted: `s3:ListMultipartUploadParts` (a read of upload state; the SDK keeps the part
 *   ETags itself and never calls ListParts), any Get or List (explicitly denied: the backup host
 *   can write backups but never read them back, and cannot learn what exists).
 * - Create-only: an object-creating put (PutObject, CompleteMultipartUpload) without
 *   `If-None-Match: *` is denied (see {@link createOnly}): the writer cannot overwrite a backup
 *   or a manifest, on versioned buckets too (where an overwrite would hide the original).
 * - KMS: `kms:GenerateDataKey` for SSE-KMS uploads, and `kms:Decrypt`, which AWS requires for
 *   multipart uploads to SSE-KMS buckets (S3 decrypts the parts to complete the upload); both
 *   only via S3. `kms:Encrypt` is not used by S3 SSE-KMS uploads, so it is not granted.
 */
export function writerPolicy(scope: SourceScope): PolicyDocument {
  const bucket = checkBucketArn(scope.bucketArn);
  const own = sourcePrefix(checkPrefix(scope.prefix), checkSource(scope.source));
  const statements: PolicyStatement[] = [
    {
      Sid: "WriteOwnBackups",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload"],
      Resource: `${bucket}/${own}*`,
    },
  ];
  if (scope.kmsKeyArn) statements.push(kmsViaS3("EncryptViaS3", scope.kmsKeyArn, ["kms:GenerateDataKey", "kms:Decrypt"]));
  statements.push(
    { Sid: "NeverRead", Effect: "Deny", Action: ["s3:GetObject*", "s3:List*"], Resource: [bucket, `${bucket}/*`] },
    createOnly("CreateOnlyNeverOverwrite", [`${bucket}/*`]),
    denyProtected("NeverDeleteOrReconfigure", [bucket]),
  );
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * Denies every object-creating put that does not carry `If-None-Match: *`, so a credential can
 * only create keys, never replace one (which would let it choose what "latest" restores).
 * `s3:if-none-match` is the request's If-None-Match header (absent → `Null` is true).
 * `s3:ObjectCreationOperation` is true for PutObject, CompleteMultipartUpload and CopyObject
 * and false for CreateMultipartUpload, UploadPart and UploadPartCopy, which take no conditional
 * header (AWS S3 User Guide, "Enforce conditional writes on Amazon S3 buckets"); so a multipart
 * upload is covered by its CompleteMultipartUpload, which the runner sends with If-None-Match.
 * `BoolIfExists` also denies a put that arrives without the operation key at all. CopyObject is
 * refused either way (S3 answers 501 to a conditional copy), and nothing here copies.
 */
function createOnly(sid: string, objectArns: string[]): PolicyStatement {
  return {
    Sid: sid,
    Effect: "Deny",
    Action: "s3:PutObject",
    Resource: objectArns,
    Condition: { Null: { "s3:if-none-match": "true" }, BoolIfExists: { "s3:ObjectCreationOperation": "true" } },
  };
}

/**
 * The restore/verify identity for one source: read and list `<prefix>/<source>/` (and its
 * verification records), write only verification records under `<prefix>/_verifications/<source>/`.
 *
 * `s3:GetObjectVersion` and `s3:ListBucketVersions` (same prefix limits) let a restore reach an
 * object version hidden behind a delete marker, which is exactly the disaster a restore is for.
 * Puts anywhere else are denied explicitly (`NotResource`), so the verifier can never write or
 * overwrite a backup. KMS: Decrypt to read, GenerateDataKey to put SSE-KMS verification records.
 */
export function restorerPolicy(scope: SourceScope): PolicyDocument {
  const bucket = checkBucketArn(scope.bucketArn);
  const prefix = checkPrefix(scope.prefix);
  const source = checkSource(scope.source);
  const own = sourcePrefix(prefix, source);
  const records = verificationPrefix(prefix, source);
  const statements: PolicyStatement[] = [
    {
      Sid: "ListOwnPrefixes",
      Effect: "Allow",
      Action: ["s3:ListBucket", "s3:ListBucketVersions"],
      Resource: bucket,
      Condition: { StringLike: { "s3:prefix": [...listPrefixes(own), ...listPrefixes(records)] } },
    },
    {
      Sid: "ReadOwnBackups",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:GetObjectVersion"],
      Resource: [`${bucket}/${own}*`, `${bucket}/${records}*`],
    },
    { Sid: "WriteVerificationRecords", Effect: "Allow", Action: "s3:PutObject", Resource: `${bucket}/${records}*` },
  ];
  if (scope.kmsKeyArn) statements.push(kmsViaS3("DecryptViaS3", scope.kmsKeyArn, ["kms:Decrypt", "kms:GenerateDataKey"]));
  statements.push(
    { Sid: "PutOnlyVerificationRecords", Effect: "Deny", Action: "s3:PutObject", NotResource: `${bucket}/${records}*` },
    denyProtected("NeverDeleteOrReconfigure", [bucket]),
  );
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * The scheduled replicate job (rclone, for R2→R2 and R2→S3 or S3 without native replication):
 * read and list the source prefix; put and list the replica prefix (list to skip what is
 * already there); never get or delete on the replica.
 *
 * Because the replica cannot be read, run rclone as `rclone copy --size-only --s3-no-head
 * --s3-no-check-bucket` (keys never repeat, so name and size decide what to copy); a plain
 * `rclone copy` would HEAD replica objects, which needs `s3:GetObject`.
 * KMS: Decrypt on the source key; GenerateDataKey and Decrypt (multipart, see
 * {@link writerPolicy}) on the replica key; each only via S3.
 */
export function replicatorPolicy(args: { source: BucketScope; replica: BucketScope }): PolicyDocument {
  const src = checkBucketArn(args.source.bucketArn);
  const dst = checkBucketArn(args.replica.bucketArn);
  if (src === dst) throw new Error(`replica bucket must differ from the source bucket (${src})`);
  const srcPrefix = checkPrefix(args.source.prefix);
  const dstPrefix = checkPrefix(args.replica.prefix);
  const scoped = (bucket: string, prefix: string) => (prefix ? `${bucket}/${prefix}/*` : `${bucket}/*`);
  const list = (sid: string, bucket: string, prefix: string): PolicyStatement => ({
    Sid: sid,
    Effect: "Allow",
    Action: "s3:ListBucket",
    Resource: bucket,
    ...(prefix ? { Condition: { StringLike: { "s3:prefix": listPrefixes(`${prefix}/`) } } } : {}),
  });
  const statements: PolicyStatement[] = [
    list("ListSource", src, srcPrefix),
    { Sid: "ReadSource", Effect: "Allow", Action: "s3:GetObject", Resource: scoped(src, srcPrefix) },
    list("ListReplica", dst, dstPrefix),
    {
      Sid: "WriteReplica",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
      Resource: scoped(dst, dstPrefix),
    },
  ];
  if (args.source.kmsKeyArn) statements.push(kmsViaS3("DecryptSourceViaS3", args.source.kmsKeyArn, ["kms:Decrypt"]));
  if (args.replica.kmsKeyArn) {
    statements.push(kmsViaS3("EncryptReplicaViaS3", args.replica.kmsKeyArn, ["kms:GenerateDataKey", "kms:Decrypt"]));
  }
  statements.push(
    { Sid: "NeverReadReplica", Effect: "Deny", Action: "s3:GetObject*", Resource: `${dst}/*` },
    denyProtected("NeverDeleteOrReconfigure", [src, dst]),
  );
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * Permissions policy for the IAM role that native S3 replication (S3→S3, own KMS key in the
 * DR region) assumes, after the AWS S3 User Guide ("Setting up permissions for live
 * replication", "Replicating encrypted objects", "Using Object Lock with replication"):
 * - source bucket: `s3:GetReplicationConfiguration`, `s3:ListBucket`;
 * - source objects: `s3:GetObjectVersionForReplication`, `s3:GetObjectVersionAcl`,
 *   `s3:GetObjectVersionTagging`, plus `s3:GetObjectRetention` and `s3:GetObjectLegalHold`,
 *   which replication of Object Lock buckets requires;
 * - replica objects: `s3:ReplicateObject`, `s3:ReplicateTags` and never `s3:ReplicateDelete`
 *   (explicitly denied with every delete): deletes in the primary must not reach the DR copy;
 * - `kms:Decrypt` on the source key and `kms:Encrypt` on the replica key, each via S3 in its region.
 */
export function s3ReplicationRolePolicy(args: {
  sourceBucketArn: string;
  replicaBucketArn: string;
  sourceKmsKeyArn: string;
  replicaKmsKeyArn: string;
}): PolicyDocument {
  const src = checkBucketArn(args.sourceBucketArn);
  const dst = checkBucketArn(args.replicaBucketArn);
  if (src === dst) throw new Error(`replica bucket must differ from the source bucket (${src})`);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadReplicationConfiguration",
        Effect: "Allow",
        Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"],
        Resource: src,
      },
      {
        Sid: "ReadSourceVersions",
        Effect: "Allow",
        Action: [
          "s3:GetObjectVersionForReplication",
          "s3:GetObjectVersionAcl",
          "s3:GetObjectVersionTagging",
          "s3:GetObjectRetention",
          "s3:GetObjectLegalHold",
        ],
        Resource: `${src}/*`,
      },
      { Sid: "WriteReplicas", Effect: "Allow", Action: ["s3:ReplicateObject", "s3:ReplicateTags"], Resource: `${dst}/*` },
      kmsViaS3("DecryptSourceViaS3", args.sourceKmsKeyArn, ["kms:Decrypt"]),
      kmsViaS3("EncryptReplicaViaS3", args.replicaKmsKeyArn, ["kms:Encrypt"]),
      {
        Sid: "NeverReplicateDeletes",
        Effect: "Deny",
        Action: ["s3:ReplicateDelete", ...PROTECTED_ACTIONS],
        Resource: [src, `${src}/*`, dst, `${dst}/*`],
      },
    ],
  };
}

/** Optional confused-deputy guard for trust policies: only this account's resources may assume. */
interface TrustOptions {
  /** AWS account id that owns the ECS tasks / source bucket (`aws:SourceAccount`). */
  sourceAccount?: string;
}

function serviceTrust(service: string, opts: TrustOptions & { sourceArn?: string }): PolicyDocument {
  const condition: Record<string, Record<string, string>> = {};
  if (opts.sourceAccount) {
    if (!/^\d{12}$/.test(opts.sourceAccount)) throw new Error(`not an AWS account id: ${JSON.stringify(opts.sourceAccount)}`);
    condition["StringEquals"] = { "aws:SourceAccount": opts.sourceAccount };
  }
  if (opts.sourceArn) condition["ArnLike"] = { "aws:SourceArn": opts.sourceArn };
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: service },
        Action: "sts:AssumeRole",
        ...(Object.keys(condition).length ? { Condition: condition } : {}),
      },
    ],
  };
}

/** Trust policy letting ECS tasks (Fargate backup/verify/replicate jobs) assume a task role. */
export function ecsTasksAssumeRolePolicy(opts: TrustOptions = {}): PolicyDocument {
  return serviceTrust("ecs-tasks.amazonaws.com", opts);
}

/** Trust policy letting the S3 service assume the native-replication role (for one source bucket when given). */
export function s3ReplicationAssumeRolePolicy(opts: TrustOptions & { sourceBucketArn?: string } = {}): PolicyDocument {
  const sourceArn = opts.sourceBucketArn === undefined ? undefined : checkBucketArn(opts.sourceBucketArn);
  return serviceTrust("s3.amazonaws.com", { ...opts, ...(sourceArn ? { sourceArn } : {}) });
}

/** The layout of a `bucket` source under `<prefix>/<source>/`: stored copies, snapshot manifests, the events journal. */
export const BUCKET_SOURCE_DIRS = { objects: "objects", snapshots: "snapshots", journal: "journal" } as const;

/**
 * The `bucket` source's job identity in the backup bucket: the writer's put-only, create-only
 * document (see {@link writerPolicy}), plus reading and listing its own
 * `<prefix>/<source>/snapshots/`, because each snapshot is incremental: the job reads the previous
 * snapshot manifest to copy only what changed. Stored copies (`objects/`) and the journal stay
 * unreadable to it, and so do other sources.
 *
 * The writer's `NeverRead` deny covers the whole bucket, and an explicit deny beats any allow, so
 * it is narrowed here to everything but the snapshots prefix (`NotResource`) rather than
 * followed by an allow that would never take effect.
 */
export function bucketJobPolicy(scope: SourceScope): PolicyDocument {
  const bucket = checkBucketArn(scope.bucketArn);
  const snapshots = joinKey(sourcePrefix(checkPrefix(scope.prefix), checkSource(scope.source)), BUCKET_SOURCE_DIRS.snapshots) + "/";
  const writer = writerPolicy(scope);
  const statements = writer.Statement.flatMap((s): PolicyStatement[] =>
    s.Sid !== "NeverRead"
      ? [s]
      : [
        { Sid: "NeverReadButSnapshots", Effect: "Deny", Action: "s3:GetObject*", NotResource: `${bucket}/${snapshots}*` },
        {
          Sid: "NeverListButSnapshots",
          Effect: "Deny",
          Action: "s3:List*",
          Resource: [bucket, `${bucket}/*`],
          Condition: { StringNotLike: { "s3:prefix": listPrefixes(snapshots) } },
        },
      ]);
  statements.splice(1, 0,
    { Sid: "ListOwnSnapshots", Effect: "Allow", Action: "s3:ListBucket", Resource: bucket, Condition: { StringLike: { "s3:prefix": listPrefixes(snapshots) } } },
    { Sid: "ReadOwnSnapshots", Effect: "Allow", Action: "s3:GetObject", Resource: `${bucket}/${snapshots}*` },
  );
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * The read-only identity on the app's own bucket that a `bucket` source backs up: get objects
 * under the prefix (or the whole bucket), list the bucket (only under the prefix when one is set).
 * Nothing else: every write, delete and reconfiguration of the app's bucket is denied outright,
 * so a leaked Lifeboat credential can never change the data it protects.
 */
export function appBucketReaderPolicy(scope: BucketScope): PolicyDocument {
  const bucket = checkBucketArn(scope.bucketArn);
  const prefix = checkPrefix(scope.prefix);
  const objects = prefix ? `${bucket}/${prefix}/*` : `${bucket}/*`;
  const statements: PolicyStatement[] = [
    {
      Sid: "ListAppBucket",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: bucket,
      ...(prefix ? { Condition: { StringLike: { "s3:prefix": listPrefixes(`${prefix}/`) } } } : {}),
    },
    { Sid: "ReadAppObjects", Effect: "Allow", Action: "s3:GetObject", Resource: objects },
  ];
  if (scope.kmsKeyArn) statements.push(kmsViaS3("DecryptAppViaS3", scope.kmsKeyArn, ["kms:Decrypt"]));
  statements.push({ Sid: "NeverWriteApp", Effect: "Deny", Action: ["s3:PutObject*", "s3:RestoreObject", ...PROTECTED_ACTIONS], Resource: [bucket, `${bucket}/*`] });
  return { Version: "2012-10-17", Statement: statements };
}
