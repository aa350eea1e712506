/** The runbook's input adapter: a validated stack config plus its buckets' resolved names, as a {@link RunbookInput}. */
import { isPlaceholder } from "../config/fields";
import type { Location } from "../config/schema";
import type { LifeboatConfig } from "../config/validate";
import { appBucketAddress } from "../bucket/appBucket";
import type { RunbookBucketSource } from "./bucketSection";
import type { RunbookBucket, RunbookInput, RunbookSource } from "./input";

/** The resolved names of one bucket (what the Pulumi resources give back). */
export interface ResolvedBucket {
  bucketName: string;
  endpoint: string;
  region: string;
}

/**
 * The runbook input of one environment from its validated config and the resolved names of
 * its buckets (`buckets.replicas` in the order of `config.replicas`). Pure: call it inside a
 * `pulumi.all(...).apply(...)` over the buckets' names, endpoints and regions.
 */
export function runbookInputFromConfig(
  config: LifeboatConfig,
  buckets: { primary: ResolvedBucket; replicas: ResolvedBucket[] },
  extra: Pick<RunbookInput, "credentialsOutput" | "replicaCredentialsOutput" | "runnerCommand"> = {},
): RunbookInput {
  const bucket = (loc: Location, b: ResolvedBucket): RunbookBucket => ({
    provider: loc.provider,
    bucketName: b.bucketName,
    endpoint: b.endpoint,
    region: b.region,
    ...(loc.provider === "r2"
      ? { accountId: loc.accountId, jurisdiction: loc.jurisdiction, ...(loc.location ? { location: loc.location } : {}) }
      : {}),
  });
  if (buckets.replicas.length !== config.replicas.length) {
    throw new Error(`runbookInputFromConfig: ${config.replicas.length} replicas configured, ${buckets.replicas.length} resolved`);
  }
  return {
    environment: config.environment,
    profile: config.profile,
    stack: config.stack,
    prefix: config.prefix,
    primary: bucket(config.storage, buckets.primary),
    replicas: config.replicas.map((r, n) => bucket(r, buckets.replicas[n]!)),
    bucketSources: config.sources.flatMap((s): RunbookBucketSource[] => s.kind !== "bucket" ? [] : [{
      name: s.name,
      ...appBucketAddress(s.bucket),
      windowDays: s.windowDays!,
      events: s.events,
      schedule: s.schedule,
      rpo: s.rpo,
      rto: s.rto,
    }]),
    // Bucket sources have their own section (above); every other section is about archives.
    sources: config.sources.flatMap((s, n): RunbookSource[] => s.kind === "bucket" ? [] : [{
      name: s.name,
      kind: s.kind,
      schedule: s.schedule,
      rpo: s.rpo,
      rto: s.rto,
      ...(s.kind === "volume" ? { volume: s.volume } : {}),
      ...(s.kind === "directory" || s.kind === "sqlite" ? { path: s.path } : {}),
      // An offline plan cannot decrypt a secret DR target; the runbook then names its config key.
      ...(s.kind === "postgres" && s.drTargetUrl
        ? isPlaceholder(s.drTargetUrl) ? { drTargetUrlKey: `lifeboat:sources[${n}].drTargetUrl` } : { drTargetUrl: s.drTargetUrl }
        : {}),
      ...(s.kind !== "postgres" && s.drTargetPath ? { drTargetPath: s.drTargetPath } : {}),
      ...(s.kind === "postgres" && s.pitr ? { pitr: true, walFlushInterval: s.walFlushInterval } : {}),
      ...(s.kind === "postgres" ? { maxTableShrink: s.maxTableShrink } : {}),
    }]),
    failover: config.failover,
    verification: { enabled: !!config.ageIdentity, schedule: config.verification.schedule, statusSchedule: config.verification.statusSchedule },
    alerting: {
      webhook: !!config.alerts.webhookUrl,
      healthcheck: !!config.alerts.healthcheckUrl,
      minBackupBytes: config.alerts.minBackupBytes,
      maxShrink: config.alerts.maxShrink,
      maxTableShrink: config.alerts.maxTableShrink,
    },
    ageRecipients: [...config.ageRecipients],
    ageIdentityInStack: !!config.ageIdentity,
    ...extra,
  };
}
