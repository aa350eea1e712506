/** The Lifeboat construct library: `import { BackupBucket, DisasterRecovery } from "lifeboat"`. */
export { BackupBucket } from "./backupBucket";
export type { BackupBucketArgs, StorageProvider, R2LocationHint, R2Jurisdiction, ObjectLockMode } from "./backupBucket";
export { DisasterRecovery } from "./disasterRecovery";
export type { DisasterRecoveryArgs } from "./disasterRecovery";
export { bucketRules, minimumLockDays } from "./bucket/rules";
export type { PrefixRule, BucketRulesInput } from "./bucket/rules";
export * from "./config";
export { tierFor, tierExpiryDays, TIERS, PROD_RETENTION, STAGING_RETENTION } from "lifeboat-core";
export type { Tier, Retention, CompliancePrefix } from "lifeboat-core";
export { BackupAccess, bucketAccessFields, replicatorSide, type BackupAccessArgs, type BucketAccessFields, type AccessRole, type AwsIdentity } from "./backupAccess";
