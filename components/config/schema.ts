import { z } from "zod";
import { Region as AWS_REGION } from "@pulumi/aws/types/enums";
import { R2_JURISDICTIONS } from "../access/r2Token";
import { ASSERTION_NAME, COLUMN_FORM, parseDuration, splitColumn, tierExpiryDays, TIERS } from "lifeboat-core";
import {
  absolutePath, ageIdentity, ageRecipient, boundedInt, cron, duration, MAX_RETENTION_DAYS, name, nonNegativeInt, positiveInt, secretUrl,
} from "./fields";

/**
 * The stack configuration of one Lifeboat environment: every `lifeboat:<key>` in
 * `Pulumi.<stack>.yaml`. docs/configuration.md documents each key; keep the two together.
 * Values here are as the user wrote them; {@link ./profiles} fills the defaults that depend on
 * the environment's profile (production, staging, development).
 */

export const PROFILES = ["production", "staging", "development"] as const;
export type Profile = (typeof PROFILES)[number];

/** R2 location hints, as Cloudflare names them (@pulumi/cloudflare R2Bucket `location`). */
export const R2_LOCATIONS = ["apac", "eeur", "enam", "weur", "wnam", "oc"] as const;
/** R2 jurisdictions (`default` is none): the one list, beside the endpoints and token keys they make. */
export { R2_JURISDICTIONS };

/** Every AWS region the provider knows (@pulumi/aws `Region`): `zz-nowhere-1` has the shape of one and is not. */
export const AWS_REGIONS: readonly string[] = Object.values(AWS_REGION);
const awsRegion = z.string({ error: "must be an AWS region such as eu-west-1" }).refine((v) => AWS_REGIONS.includes(v), {
  error: "must be an AWS region such as eu-west-1 (one of the regions @pulumi/aws knows)",
});

/** Days are whole days up to what S3 object lock accepts as a default retention. */
const retentionDays = boundedInt(MAX_RETENTION_DAYS, "S3 object lock keeps at most 100 years");

/** The values CloudWatch Logs accepts for a log group's retention. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

const cloudflareAccountId = z
  .string({ error: "is required: the 32-character Cloudflare account id" })
  .regex(/^[0-9a-f]{32}$/, { error: "must be a 32-character hex Cloudflare account id" });

const bucketName = z
  .string({ error: "must be a bucket name" })
  .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, {
    error: "must be 3-63 lowercase letters, digits and dashes, not starting or ending with a dash",
  });

export const r2Location = z.strictObject({
  provider: z.literal("r2"),
  /** Cloudflare account that owns the bucket. */
  accountId: cloudflareAccountId,
  /** Location hint; R2 places the bucket near it. */
  location: z.enum(R2_LOCATIONS).optional(),
  /** Data-residency jurisdiction. */
  jurisdiction: z.enum(R2_JURISDICTIONS).default("default"),
  /** Bucket name; derived from project, environment and role when unset. */
  bucketName: bucketName.optional(),
  /** Move monthly and yearly backups to InfrequentAccess after this many days. */
  infrequentAccessAfterDays: retentionDays.optional(),
});

export const s3Location = z.strictObject({
  provider: z.literal("s3"),
  region: awsRegion,
  bucketName: bucketName.optional(),
  /** Object-lock mode for the bucket's default retention. */
  objectLockMode: z.enum(["GOVERNANCE", "COMPLIANCE"]).optional(),
  /** Move monthly and yearly backups to Glacier Instant Retrieval after this many days. */
  infrequentAccessAfterDays: retentionDays.optional(),
  /** As an S3 replica of an S3 primary: S3 Replication Time Control (15-minute SLA, billed extra). */
  replicationTimeControl: z.boolean({ error: "must be true or false" }).default(false),
});

const location = z.discriminatedUnion("provider", [r2Location, s3Location]);

export const retention = z
  .strictObject({
    daily: positiveInt,
    weekly: nonNegativeInt,
    monthly: nonNegativeInt,
    yearly: nonNegativeInt,
  })
  .superRefine((r, ctx) => {
    // Each tier is locked and expired after its days on the retention calendar; past 100 years
    // S3 refuses the lock (and 10^9 would pass every other check).
    for (const tier of TIERS) {
      const days = tierExpiryDays({ daily: 0, weekly: 0, monthly: 0, yearly: 0, [tier]: r[tier] })[tier];
      if (days > MAX_RETENTION_DAYS) {
        ctx.addIssue({ code: "custom", path: [tier], message: `keeps backups ${days} days: S3 object lock keeps at most ${MAX_RETENTION_DAYS} days (100 years)` });
      }
    }
  });

const compliancePrefix = z.strictObject({ prefix: name, days: retentionDays });

const objectives = z.strictObject({
  /** Recovery point objective: the most data, in time, you accept to lose. */
  rpo: duration().optional(),
  /** Recovery time objective: how long a restore may take. */
  rto: duration().optional(),
});

const sourceCommon = {
  name,
  /** When to back up (cron, UTC). Defaults from the profile. */
  schedule: cron.optional(),
  rpo: duration().optional(),
  rto: duration().optional(),
};

/** A restore drill's freshness check: the newest value of a timestamp column must be recent. */
const freshness = z.strictObject({
  /** `schema.table.column` of a timestamp (or date) column. */
  column: z.string({ error: `must be ${COLUMN_FORM}` }).refine((v) => splitColumn(v) !== undefined, { error: `must be ${COLUMN_FORM}` }),
  /** How far before the backup's time its newest value may be. Defaults to the source's RPO. */
  within: duration().optional(),
});

/** A query the drill runs read-only in the restored database: it must return one row whose first value is true. */
const assertion = z.strictObject({
  name: z.string({ error: "must be a name" }).regex(ASSERTION_NAME, { error: "must be 1-100 letters, digits, spaces or _.:- (no =), starting with a letter or digit" }),
  sql: z.string({ error: "must be a SQL query" }).trim().min(1, { error: "must be a SQL query" }),
});

/**
 * The share of a Postgres table's rows one backup may lose before the health check names it:
 * what the runner's `--max-table-shrink` accepts (more than 0, less than 1; runner/src/healthRemote.ts).
 */
const tableShrink = z.number({ error: "must be a number between 0 and 1" }).gt(0, { error: "must be between 0 and 1" }).lt(1, { error: "must be between 0 and 1" });

const postgresSource = z.strictObject({
  ...sourceCommon,
  kind: z.literal("postgres"),
  /** This source's health check and status page (`--max-table-shrink`): overrides `alerts.maxTableShrink` for its tables. */
  maxTableShrink: tableShrink.optional(),
  /** Restore drill: fail when the restored database's newest `column` value is older than `within` before the backup. */
  freshness: freshness.optional(),
  /** Restore drill: SQL assertions on the restored database. */
  assertions: z
    .array(assertion)
    .superRefine((list, ctx) => {
      list.forEach((a, i) => {
        if (list.findIndex((b) => b.name === a.name) < i) ctx.addIssue({ code: "custom", path: [i, "name"], message: `${JSON.stringify(a.name)} is used twice` });
      });
    })
    .optional(),
  url: secretUrl(["postgres", "postgresql"], "PostgreSQL"),
  /** Stream WAL continuously for point-in-time recovery (self-hosted Postgres only). */
  pitr: z.boolean({ error: "must be true or false" }).default(false),
  /** With pitr: how often the partial WAL segment is uploaded; the worst-case RPO. */
  walFlushInterval: duration(86_400).default("60s"),
  /**
   * With pitr: how far back any time can be restored (whole days, e.g. `14d`). WAL is kept and
   * locked for this window plus one base-backup interval; defaults from the profile.
   */
  pitrWindow: duration(MAX_RETENTION_DAYS * 86_400).optional(),
  /** Where failover restores this database in the DR region. */
  drTargetUrl: secretUrl(["postgres", "postgresql"], "PostgreSQL").optional(),
});
const volumeSource = z.strictObject({
  ...sourceCommon,
  kind: z.literal("volume"),
  /** Docker volume name on the backup host. */
  volume: z.string({ error: "must be a Docker volume name" }).regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/, {
    error: "must be a Docker volume name",
  }),
  drTargetPath: absolutePath.optional(),
});
const directorySource = z.strictObject({
  ...sourceCommon,
  kind: z.literal("directory"),
  path: absolutePath,
  drTargetPath: absolutePath.optional(),
});
const redisSource = z.strictObject({
  ...sourceCommon,
  kind: z.literal("redis"),
  url: secretUrl(["redis", "rediss"], "Redis"),
  drTargetPath: absolutePath.optional(),
});
const sqliteSource = z.strictObject({
  ...sourceCommon,
  kind: z.literal("sqlite"),
  path: absolutePath,
  drTargetPath: absolutePath.optional(),
});

/**
 * A key prefix inside the app's bucket: segments of letters, digits, `.`, `_` and `-` (they become
 * IAM resource patterns and R2 notification filters, so no wildcards), no leading or trailing `/`.
 */
const appPrefix = z.string({ error: "must be a key prefix such as media or uploads/images" }).regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, {
  error: "must be key prefix segments of letters, digits, '.', '_' and '-' joined by '/', without a leading or trailing '/' (such as uploads/images)",
});
/** The app's own bucket a `bucket` source protects: on R2 (Lifeboat creates a read-only token) or on S3 (a read-only IAM user). */
const appBucket = z.discriminatedUnion("provider", [
  z.strictObject({
    provider: z.literal("r2"),
    /** The account that owns the app's bucket; the read-only token is created in it. */
    accountId: cloudflareAccountId,
    jurisdiction: z.enum(R2_JURISDICTIONS).default("default"),
    bucketName,
    prefix: appPrefix.optional(),
  }),
  z.strictObject({
    provider: z.literal("s3"),
    region: awsRegion,
    /** S3 bucket names may hold dots (R2's may not). */
    bucketName: z.string({ error: "must be a bucket name" }).regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      error: "must be 3-63 lowercase letters, digits, dots and dashes, not starting or ending with a dash or dot",
    }),
    prefix: appPrefix.optional(),
    /** The bucket's SSE-KMS key, when it uses a customer-managed one: the reader may decrypt with it, only via S3. */
    kmsKeyArn: z.string({ error: "must be a KMS key ARN" }).regex(/^arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, {
      error: "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
    }).optional(),
  }),
]);
/**
 * A bucket source's restore window in whole days (`30d`, `2w`): snapshots are kept this long and
 * stored copies twice as long, so twice the window must stay within what object lock keeps.
 */
export const bucketWindow = duration((MAX_RETENTION_DAYS / 2) * 86_400).refine((v) => {
  try {
    return parseDuration(v) % 86_400 === 0;
  } catch {
    return true; // duration() has said what is wrong
  }
}, { error: "must be whole days such as 30d or 2w (lifecycle rules count days)" });
const bucketSource = z.strictObject({
  ...sourceCommon,
  kind: z.literal("bucket"),
  bucket: appBucket,
  /** Restore window: snapshots are kept this long. Defaults from the profile. */
  window: bucketWindow.optional(),
  /** R2 only: copy objects as R2 event notifications report them (a Cloudflare Queue), between snapshots. */
  events: z.boolean({ error: "must be true or false" }).default(false),
});
export const source = z.discriminatedUnion("kind", [
  postgresSource, volumeSource, directorySource, redisSource, sqliteSource, bucketSource,
]);

const dockerRuntime = z.strictObject({
  kind: z.literal("docker"),
  /** Docker host, e.g. ssh://backup@db-host; the local engine when unset. */
  host: z
    .string()
    .regex(/^(ssh|tcp|unix|npipe):\/\/.+/, { error: "must be a Docker host such as ssh://user@host or unix:///var/run/docker.sock" })
    .optional(),
  /** Runner image reference. */
  image: z.string().min(1).optional(),
  /** Build the image from runner/Dockerfile on the host instead of pulling `image`. */
  build: z.boolean({ error: "must be true or false" }).default(false),
  /** Docker network the containers join to reach the databases. */
  network: z.string().min(1).optional(),
});
const ecsRuntime = z.strictObject({
  kind: z.literal("ecs"),
  region: awsRegion.optional(),
  clusterArn: z.string().regex(/^arn:aws[a-z-]*:ecs:/, { error: "must be an ECS cluster ARN" }),
  subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, { error: "must be a subnet id (subnet-…)" })).min(1, {
    error: "needs at least one subnet id",
  }),
  securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, { error: "must be a security group id (sg-…)" })).default([]),
  image: z.string().min(1).optional(),
  cpu: z.union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)], {
    error: "must be one of 256, 512, 1024, 2048, 4096",
  }).default(512),
  memory: boundedInt(30_720, "Fargate tasks have at most 30 GB").default(1024),
  assignPublicIp: z.boolean({ error: "must be true or false" }).default(false),
  logRetentionDays: z.union(LOG_RETENTION_DAYS.map((d) => z.literal(d)), {
    error: `must be one of the retentions CloudWatch Logs accepts: ${LOG_RETENTION_DAYS.join(", ")}`,
  }).default(30),
});
const runtime = z.discriminatedUnion("kind", [dockerRuntime, ecsRuntime]);

const alerts = z.strictObject({
  /** Slack-compatible incoming webhook. */
  webhookUrl: secretUrl(["https", "http"], "webhook").optional(),
  /** Healthcheck ping base URL; /start and /fail are appended. */
  healthcheckUrl: secretUrl(["https", "http"], "healthcheck").optional(),
  /** A Postgres backup smaller than this many bytes is suspicious. */
  minBackupBytes: positiveInt.default(1_000_000),
  /** A backup smaller than (1 - maxShrink) of the previous one is suspicious. */
  maxShrink: z.number().gt(0, { error: "must be between 0 and 1" }).lt(1, { error: "must be between 0 and 1" }).default(0.5),
  /** Alert when a Postgres table lost more than this fraction of its rows since the previous backup. Defaults from the profile. */
  maxTableShrink: tableShrink.optional(),
});

const verification = z.strictObject({
  /** Restore drill schedule (cron, UTC). */
  schedule: cron.optional(),
  /** Health check (overdue/shrunk backups) schedule. */
  statusSchedule: cron.default("0 * * * *"),
  /** A PostgreSQL server where verification may create and drop scratch databases. */
  scratchUrl: secretUrl(["postgres", "postgresql"], "PostgreSQL").optional(),
});

const policy = z.strictObject({
  enforcement: z.enum(["mandatory", "advisory", "disabled"]).optional(),
  minimums: retention.optional(),
});

/** Every `lifeboat:` key, as written in the stack file. */
export const stackConfig = z.strictObject({
  /** Environment profile: decides the defaults. From the stack name when unset. */
  profile: z.enum(PROFILES).optional(),
  /** Environment name used in resource and bucket names. The stack name when unset. */
  environment: name.optional(),
  storage: location,
  /** Key prefix inside the bucket. */
  prefix: name.default("backups"),
  replicas: z.array(location).default([]),
  retention: retention.optional(),
  compliance: z.array(compliancePrefix).optional(),
  objectives: objectives.default({}),
  sources: z.array(source).min(1, { error: "needs at least one source to back up" }),
  runtime: runtime.default({ kind: "docker", build: false }),
  alerts: alerts.default({ minBackupBytes: 1_000_000, maxShrink: 0.5 }),
  ageRecipients: z.array(ageRecipient).min(1, { error: "needs at least one age public key (age1…)" }),
  /** The age private key for verification and restores; set with --secret. */
  ageIdentity: ageIdentity.optional(),
  verification: verification.default({ statusSchedule: "0 * * * *" }),
  /** Rotate access keys every this many days. */
  credentialRotationDays: boundedInt(3650, "rotate at least every ten years").default(90),
  /** Protect buckets and keys from `pulumi destroy`. */
  protect: z.boolean({ error: "must be true or false" }).default(true),
  /** Stand up the DR region: write to the first replica and restore into DR targets. */
  failover: z.boolean({ error: "must be true or false" }).default(false),
  policy: policy.default({}),
});

export type StackConfigInput = z.input<typeof stackConfig>;
export type ParsedStackConfig = z.output<typeof stackConfig>;
export type Location = z.output<typeof location>;
export type R2Location = z.output<typeof r2Location>;
export type S3Location = z.output<typeof s3Location>;
export type Source = z.output<typeof source>;
export type SourceKind = Source["kind"];
export type BucketSource = Extract<Source, { kind: "bucket" }>;
export type AppBucket = z.output<typeof appBucket>;
export type Runtime = z.output<typeof runtime>;
