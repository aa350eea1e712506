/**
 * The shape every Lifeboat policy judges: a flat list of declared resources with their inputs.
 *
 * Both callers produce it: the Pulumi engine (through `engine.ts`, from the policy SDK's
 * `PolicyResource`/`ResourceValidationArgs`) and `lifeboat plan` (its mocked resources are
 * already this shape). Policies are pure functions `(resources, settings) => Finding[]`: no
 * Pulumi runtime, no I/O, so tests and the plan command call them directly.
 */
import { PROD_RETENTION, Retention } from "lifeboat-core";

/** Marks a value the engine cannot know yet (computed from a resource not created yet, in preview). */
export const UNKNOWN = "[unknown]";
/** How `lifeboat plan` (and the engine adapter) show secret values. Present, but not readable. */
export const SECRET = "[secret]";

export interface PolicyResourceInput {
  /** Pulumi type token, e.g. `aws:s3/bucket:Bucket`. */
  type: string;
  /** The resource's logical name. */
  name: string;
  /** Inputs; unknown values are {@link UNKNOWN}, secrets may be {@link SECRET}. */
  inputs: Record<string, unknown>;
  /** Parent's logical name and type (omitted for children of the stack). */
  parent?: string;
  parentType?: string;
  /** Engine only: the explicit provider's inputs (its `region`, for AWS). */
  provider?: { type: string; name: string; inputs: Record<string, unknown> };
  /**
   * Engine only: for each input, the logical names of the resources whose outputs it was
   * computed from (`{ bucket: ["prod-backups"] }`). This is how a child is matched to its
   * bucket in preview, where the bucket's generated name is still unknown.
   */
  propertyDependencies?: Record<string, string[]>;
}

/** What a policy reports: one sentence, and the resource it is about. */
export interface Finding {
  message: string;
  resource?: string;
}

export type EnforcementLevel = "mandatory" | "advisory" | "disabled";

/** Policy settings: the pack's config (engine) or the stack's validated `lifeboat:policy` (plan). */
export interface PolicySettings {
  /** Default enforcement for every policy. @default "mandatory" */
  enforcement: EnforcementLevel;
  /** Per-policy enforcement, overriding {@link enforcement}. */
  levels?: Record<string, EnforcementLevel>;
  /** Retention each tier must at least keep. @default 30 daily, 12 weekly, 12 monthly, 7 yearly */
  minimums: Retention;
  /**
   * Regular expression (case-insensitive) that marks a bucket as a backup bucket by its logical
   * or bucket name, beside buckets inside a `lifeboat:index:BackupBucket`. @default "backup|replica"
   */
  backupBucketPattern: string;
  /** Regular expression (case-insensitive) that marks an IAM policy, user, role or group as a writer's. @default "writer" */
  writerPattern: string;
  /** Region of AWS resources that name no region and have no explicit provider. @default none (unknown) */
  defaultAwsRegion?: string;
  /** RPO (`24h`, `15m`) that raw `aws:scheduler` schedules named like backups must meet. @default none */
  rpo?: string;
}

export const DEFAULT_SETTINGS: PolicySettings = {
  enforcement: "mandatory",
  minimums: PROD_RETENTION,
  backupBucketPattern: "backup|replica",
  writerPattern: "writer",
};

/** A policy: stable name, one-line description, and the pure check. */
export interface LifeboatPolicy {
  name: string;
  description: string;
  /**
   * `stack`: matches resources against each other (the engine runs it over the whole stack).
   * `resource`: judges each resource on its own inputs (the engine runs it per resource, which
   * is where component resources show their inputs).
   */
  scope: "stack" | "resource";
  check(resources: PolicyResourceInput[], settings: PolicySettings): Finding[];
}

/** Type tokens the policies read. */
export const T = {
  s3Bucket: "aws:s3/bucket:Bucket",
  s3BucketV2: "aws:s3/bucketV2:BucketV2",
  s3Versioning: "aws:s3/bucketVersioning:BucketVersioning",
  s3VersioningV2: "aws:s3/bucketVersioningV2:BucketVersioningV2",
  s3Encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  s3EncryptionV2: "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
  s3Lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  s3LifecycleV2: "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
  s3PublicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  s3Replication: "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
  s3ObjectLock: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
  s3ObjectLockV2: "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
  r2Bucket: "cloudflare:index/r2Bucket:R2Bucket",
  r2Lifecycle: "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
  r2Lock: "cloudflare:index/r2BucketLock:R2BucketLock",
  r2ManagedDomain: "cloudflare:index/r2ManagedDomain:R2ManagedDomain",
  r2CustomDomain: "cloudflare:index/r2CustomDomain:R2CustomDomain",
  iamUserPolicy: "aws:iam/userPolicy:UserPolicy",
  iamRolePolicy: "aws:iam/rolePolicy:RolePolicy",
  iamGroupPolicy: "aws:iam/groupPolicy:GroupPolicy",
  iamPolicy: "aws:iam/policy:Policy",
  iamUser: "aws:iam/user:User",
  iamRole: "aws:iam/role:Role",
  iamGroup: "aws:iam/group:Group",
  iamUserPolicyAttachment: "aws:iam/userPolicyAttachment:UserPolicyAttachment",
  iamRolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  iamGroupPolicyAttachment: "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
  schedule: "aws:scheduler/schedule:Schedule",
  awsProvider: "pulumi:providers:aws",
  backupBucketComponent: "lifeboat:index:BackupBucket",
  scheduledBackup: "lifeboat:index:ScheduledBackup",
} as const;

/** A string input that is known (not unknown, not secret, not empty). */
export function knownString(v: unknown): string | undefined {
  return typeof v === "string" && v !== UNKNOWN && v !== SECRET && v !== "" ? v : undefined;
}

export function asArray(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

export function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function ofType(resources: PolicyResourceInput[], ...types: string[]): PolicyResourceInput[] {
  return resources.filter((r) => types.includes(r.type));
}

export function quote(v: unknown): string {
  return JSON.stringify(v);
}
