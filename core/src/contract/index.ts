/**
 * The contract between the Pulumi components and `lifeboat-runner`: the command lines and
 * environment variables of every runner command, the source kinds, the job table and the lock
 * flags. Pure: the library builds container commands with it without installing the runner
 * (its AWS SDK, pg, pino).
 */
export * from "./args";
export * from "./options";
export * from "./env";
export * from "./sourceKinds";
export * from "./jobTable";
export * from "./retentionFlag";
export * from "./drillChecks";
