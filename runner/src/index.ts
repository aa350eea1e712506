/**
 * lifeboat-runner as a library: the pure argv builders the Pulumi components use for container
 * commands, the environment variable names, and the manifest types.
 */
export * from "./args";
export { SOURCE_KINDS, EXTENSIONS, ManifestSchema, VerificationSchema } from "./manifest";
export type { SourceKind, Manifest, Verification } from "./manifest";
export { JOB_ENV_PREFIX, parseJobTable } from "./jobTable";
export type { JobTable, JobTableInput } from "./jobTable";
export { formatRetention, LOCK_MODES } from "./lock";
export type { LockMode } from "./lock";
export { ASSERTION_NAME, COLUMN_FORM, splitColumn } from "./drill";
