/**
 * What the runbook is rendered from: plain data (no Outputs, no secrets), and the shell variables
 * its commands use for what it must not or cannot know.
 */
import type { SourceKind } from "lifeboat-core";
import type { RunbookBucketSource } from "./bucketSection";

/** One bucket, as the runbook addresses it. */
export interface RunbookBucket {
  provider: "r2" | "s3";
  bucketName: string;
  /** S3 API endpoint: R2's account endpoint, or `https://s3.REGION.amazonaws.com`. */
  endpoint: string;
  /** `auto` for R2, the AWS region for S3. */
  region: string;
  /** R2 only. */
  accountId?: string;
  /** R2 only: `default`, `eu`, `fedramp`, `us` (`R2_JURISDICTIONS`). */
  jurisdiction?: string;
  /** R2 only: location hint. */
  location?: string;
}

/** One source, with its objectives as the config resolved them. */
export interface RunbookSource {
  name: string;
  kind: SourceKind;
  /** Backup schedule (cron, UTC). */
  schedule: string;
  /** Declared recovery point objective, e.g. `1h`. */
  rpo: string;
  /** Declared recovery time objective, e.g. `4h`. */
  rto: string;
  /** Docker volume name (volume sources). */
  volume?: string;
  /** Host path (directory and SQLite sources). */
  path?: string;
  /** Where failover restores this database. Any password in it is removed before rendering. */
  drTargetUrl?: string;
  /**
   * The config key of a DR target URL that is set but cannot be read here (a `secure:` value in
   * an offline plan), e.g. `lifeboat:sources[0].drTargetUrl`: the runbook names the key instead.
   */
  drTargetUrlKey?: string;
  /** Where failover restores this volume, directory or file. */
  drTargetPath?: string;
  /** Postgres with point-in-time recovery: base backups (`basebackup`) plus a `wal-stream` sidecar instead of dumps. */
  pitr?: boolean;
  /** With pitr: how often the partial WAL segment is uploaded (the worst-case RPO), e.g. `60s`. */
  walFlushInterval?: string;
  /** Postgres: this source's own `--max-table-shrink`. @default `alerting.maxTableShrink` */
  maxTableShrink?: number;
}

/** Everything the runbook needs, as plain data (no Outputs, no secrets). */
export interface RunbookInput {
  /** Environment name, e.g. `prod`. */
  environment: string;
  /** `production`, `staging` or `development`. */
  profile: string;
  /** Pulumi stack name, for `pulumi ... --stack`. */
  stack: string;
  /** Key prefix inside the buckets, e.g. `backups`. */
  prefix: string;
  primary: RunbookBucket;
  replicas: RunbookBucket[];
  sources: RunbookSource[];
  /** `bucket` sources (the app's own R2/S3 files): their own section. @default none */
  bucketSources?: RunbookBucketSource[];
  /** Whether the stack is in failover now (`lifeboat:failover`). */
  failover: boolean;
  verification: {
    /** Whether the stack runs scheduled restore drills (it holds an age identity). */
    enabled: boolean;
    /** Restore drill schedule (cron, UTC). */
    schedule: string;
    /** Health check schedule (cron, UTC). */
    statusSchedule: string;
  };
  alerting: {
    /** A Slack-compatible webhook is configured. */
    webhook: boolean;
    /** A healthcheck ping URL is configured. */
    healthcheck: boolean;
    /** A Postgres backup smaller than this is suspicious. */
    minBackupBytes: number;
    /** A backup smaller than (1 - maxShrink) of the previous one is suspicious. */
    maxShrink: number;
    /** A Postgres table that lost more than this share of its rows is named. @default the runner's */
    maxTableShrink?: number;
  };
  /** age public keys the backups are encrypted to (public; shown so the right private key can be found). */
  ageRecipients?: string[];
  /** Whether the stack config holds the age identity (`lifeboat:ageIdentity`, a secret). */
  ageIdentityInStack?: boolean;
  /** Stack output with per-source credentials. @default "credentials" */
  credentialsOutput?: string;
  /** Stack output with per-source read credentials for the replicas, when the stack exports one. */
  replicaCredentialsOutput?: string;
  /** How the runner is invoked. @default "npx lifeboat-runner" */
  runnerCommand?: string;
}

/** The runbook's placeholders for values it must not (or cannot) know. */
export const RUNBOOK_VARIABLES = {
  identity: "$IDENTITY",
  targetUrl: "$TARGET_URL",
  targetDir: "$TARGET_DIR",
  targetFile: "$TARGET_FILE",
  scratchUrl: "$SCRATCH_URL",
  /** Point-in-time recovery: the recovery target (`--at`). */
  at: "$AT",
} as const;
