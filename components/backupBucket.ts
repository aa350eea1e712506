import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { CompliancePrefix, PROD_RETENTION, Retention } from "lifeboat-core";
import { type R2Jurisdiction, r2Endpoint } from "./access/r2Token";
import { r2LifecycleRules, r2LockRules } from "./bucket/r2Rules";
import { bucketRules, minimumLockDays } from "./bucket/rules";
import { BucketSourceWindow, bucketSourceRules } from "./bucket/bucketSourceRules";
import { s3BucketPolicy, s3LifecycleRules } from "./bucket/s3Rules";
import { physicalName } from "./naming";

export type StorageProvider = "r2" | "s3";
export type R2LocationHint = "apac" | "eeur" | "enam" | "weur" | "wnam" | "oc";
export type { R2Jurisdiction };
export type ObjectLockMode = "GOVERNANCE" | "COMPLIANCE";

export interface BackupBucketArgs {
  /** Where the bucket lives: Cloudflare R2 or AWS S3. */
  provider: StorageProvider;
  /** Bucket name. @default the component name (R2), or the component name plus a random suffix (S3), shortened with a hash when too long */
  bucketName?: string;
  /** Key prefix under which every source writes. @default "backups" */
  prefix?: string;
  /** Names of the sources that write here; each gets its own tier rules. */
  sources: string[];
  /** `bucket` sources among `sources`, with their restore windows: snapshots, journal and stored copies get their own rules. @default none */
  bucketSources?: BucketSourceWindow[];
  /** GFS retention per tier. @default 30 daily, 12 weekly, 12 monthly, 7 yearly */
  retention?: Retention;
  /** Prefixes kept for a fixed period (audit logs, closed deals). @default none */
  compliance?: CompliancePrefix[];
  /** Days verification records are kept. @default 400 */
  verificationDays?: number;
  /** Point-in-time-recovery sources: days each one's WAL (`<prefix>/<source>/wal/`) is kept and locked. @default none */
  walRetentionDays?: Record<string, number>;
  /** Move monthly and yearly backups to the infrequent-access class after this many days. @default never */
  infrequentAccessAfterDays?: number;
  /** Protect the bucket (and its key) from `pulumi destroy`, and keep it if removed from the program. @default true */
  protect?: boolean;

  /** R2: the Cloudflare account id. Required for R2. */
  accountId?: string;
  /** R2: location hint. @default Cloudflare chooses */
  location?: R2LocationHint;
  /** R2: data-residency jurisdiction. @default "default" */
  jurisdiction?: R2Jurisdiction;

  /** S3: region, for the endpoint output; pass an explicit aws provider for a second region. @default the provider's region */
  region?: string;
  /** S3: object-lock mode of the default retention. @default "COMPLIANCE" */
  objectLockMode?: ObjectLockMode;
  /** S3: days before the KMS key is deleted once scheduled. @default 30 */
  kmsDeletionWindowDays?: number;
}

/**
 * A bucket that holds backups: immutable for each tier's life, expired by the retention
 * calendar, never public.
 *
 * - S3: object lock with a default retention, versioning, SSE-KMS with its own rotating key
 *   and bucket key, all four public access blocks, BucketOwnerEnforced, a TLS-only policy that
 *   also denies puts with other encryption, lifecycle per tier, noncurrent-version expiry and
 *   abort of incomplete uploads.
 * - R2: no versioning, object lock or KMS exist. Every tier prefix gets a bucket-lock rule for
 *   its whole life and a lifecycle expiry; R2 encrypts at rest (AES-256) and Lifeboat encrypts
 *   client-side with age; no r2.dev or custom domain is ever attached.
 */
export class BackupBucket extends pulumi.ComponentResource {
  /** The bucket's name. */
  readonly bucketName: pulumi.Output<string>;
  /** S3 API endpoint to give the runner (`--endpoint`); for AWS the regional endpoint. */
  readonly endpoint: pulumi.Output<string>;
  /** AWS region, or `auto` for R2. */
  readonly region: pulumi.Output<string>;
  readonly provider: StorageProvider;
  /** The key prefix sources write under. */
  readonly prefix: string;
  /** S3 only: the bucket ARN. */
  readonly arn?: pulumi.Output<string>;
  /** S3 only: the bucket's KMS key ARN. */
  readonly kmsKeyArn?: pulumi.Output<string>;
  /** R2 only: account and jurisdiction, which scoped tokens need. */
  readonly accountId?: string;
  readonly jurisdiction?: R2Jurisdiction;

  constructor(name: string, args: BackupBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("lifeboat:index:BackupBucket", name, {}, opts);
    this.provider = args.provider;
    this.prefix = args.prefix ?? "backups";
    const rules = bucketRules({
      prefix: this.prefix,
      sources: args.sources,
      retention: args.retention ?? PROD_RETENTION,
      compliance: args.compliance ?? [],
      ...(args.verificationDays !== undefined ? { verificationDays: args.verificationDays } : {}),
      ...(args.walRetentionDays ? { walRetentionDays: args.walRetentionDays } : {}),
      ...(args.infrequentAccessAfterDays !== undefined ? { infrequentAccessAfterDays: args.infrequentAccessAfterDays } : {}),
    });
    // S3's default retention stays the tiers' shortest lock: the runner locks each bucket-source object itself (--window).
    const defaultLockDays = minimumLockDays(rules);
    rules.push(...bucketSourceRules(this.prefix, args.bucketSources ?? []));
    const protect = args.protect ?? true;
    const keep: pulumi.CustomResourceOptions = { parent: this, protect, retainOnDelete: protect };
    const child: pulumi.CustomResourceOptions = { parent: this };

    if (args.provider === "r2") {
      if (!args.accountId) throw new pulumi.ResourceError("BackupBucket: accountId is required for provider r2", this);
      this.accountId = args.accountId;
      this.jurisdiction = args.jurisdiction ?? "default";
      const bucket = new cloudflare.R2Bucket(name, {
        accountId: args.accountId,
        name: args.bucketName ?? physicalName("r2Bucket", name),
        jurisdiction: this.jurisdiction,
        ...(args.location ? { location: args.location } : {}),
        storageClass: "Standard",
      }, keep);
      const scope = { accountId: args.accountId, bucketName: bucket.name, jurisdiction: this.jurisdiction };
      new cloudflare.R2BucketLifecycle(`${name}-lifecycle`, { ...scope, rules: r2LifecycleRules(rules) }, child);
      new cloudflare.R2BucketLock(`${name}-lock`, { ...scope, rules: r2LockRules(rules) }, child);
      this.bucketName = bucket.name;
      this.region = pulumi.output("auto");
      this.endpoint = pulumi.output(r2Endpoint(args.accountId, this.jurisdiction));
    } else {
      const key = new aws.kms.Key(`${name}-key`, {
        description: `Lifeboat backup bucket ${name}`,
        enableKeyRotation: true,
        deletionWindowInDays: args.kmsDeletionWindowDays ?? 30,
      }, keep);
      const bucket = new aws.s3.Bucket(name, {
        ...(args.bucketName ? { bucket: args.bucketName } : { bucketPrefix: physicalName("s3BucketPrefix", name) }),
        objectLockEnabled: true,
        forceDestroy: false,
      }, keep);
      const b = { bucket: bucket.id };
      const access = new aws.s3.BucketPublicAccessBlock(`${name}-public-access`, {
        ...b, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
      }, child);
      new aws.s3.BucketOwnershipControls(`${name}-ownership`, { ...b, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
      const versioning = new aws.s3.BucketVersioning(`${name}-versioning`, { ...b, versioningConfiguration: { status: "Enabled" } }, child);
      new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-encryption`, {
        ...b,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }, bucketKeyEnabled: true }],
      }, child);
      new aws.s3.BucketObjectLockConfiguration(`${name}-object-lock`, {
        ...b,
        rule: { defaultRetention: { mode: args.objectLockMode ?? "COMPLIANCE", days: defaultLockDays } },
      }, { ...child, dependsOn: [versioning] });
      new aws.s3.BucketPolicy(`${name}-policy`, {
        ...b,
        policy: pulumi.all([bucket.arn, key.arn]).apply(([bucketArn, keyArn]) => s3BucketPolicy(bucketArn, keyArn)),
      }, { ...child, dependsOn: [access] });
      const dailyDays = Math.min(...rules.filter((r) => r.tier).map((r) => r.expireDays));
      new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, {
        ...b, rules: s3LifecycleRules(rules, dailyDays),
      }, { ...child, dependsOn: [versioning] });
      this.bucketName = bucket.bucket;
      this.arn = bucket.arn;
      this.kmsKeyArn = key.arn;
      this.region = args.region ? pulumi.output(args.region) : bucket.region;
      this.endpoint = this.region.apply((r) => `https://s3.${r}.amazonaws.com`);
    }

    this.registerOutputs({
      bucketName: this.bucketName,
      endpoint: this.endpoint,
      region: this.region,
      ...(this.arn ? { arn: this.arn, kmsKeyArn: this.kmsKeyArn } : {}),
    });
  }
}
