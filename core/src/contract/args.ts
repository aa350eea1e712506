/**
 * Pure builders of `lifeboat-runner` command lines from plain spec objects. The Pulumi
 * components build container commands with these, and the end-to-end tests run exactly the
 * command lines these return, so the two cannot drift. Each spec field's flag, kind and
 * environment variable is declared once, in ./options.ts, which the runner's CLI is built from.
 *
 * Secrets do not belong on a command line (they show in `ps` and in container specs): pass
 * source URLs with passwords, webhook and ping URLs and S3 keys through the environment
 * variables in `ENV` (./env.ts) instead of the optional fields marked "secret" here.
 */
import { RUNNER_OPTIONS, RunnerCommand, RunnerSpecs } from "./options";
import { SourceKind } from "./sourceKinds";

/** Where backups live: S3/R2, or a local directory. */
export interface DestinationSpec {
  /** `s3://BUCKET/PREFIX` (LIFEBOAT_DEST). */
  dest?: string;
  /** S3-compatible endpoint URL, e.g. R2's (LIFEBOAT_S3_ENDPOINT). */
  endpoint?: string;
  /** Region; `auto` for R2 (AWS_REGION). */
  region?: string;
  /** Local directory instead of a bucket (LIFEBOAT_LOCAL_DIR). */
  localDir?: string;
  /** Multipart part size in MiB (fixed for every part; R2 requires equal parts). */
  partSizeMiB?: number;
  /** Parts uploaded in parallel. */
  concurrency?: number;
  /** Attempts per S3 request including the first (bounded retries with backoff). */
  maxAttempts?: number;
  /** Per-request-attempt idle timeout in seconds. */
  timeoutSeconds?: number;
  /** Per-request-attempt total time until the answer, in seconds. */
  requestTimeoutSeconds?: number;
}

/** Commands that run to an end (all but wal-stream): the whole run's bound, e.g. `6h` (LIFEBOAT_RUN_TIMEOUT). */
export interface RunSpec {
  runTimeout?: string;
}

/** backup and basebackup on S3: lock each object until its tier expires. */
export interface LockSpec {
  /** `daily=30d,weekly=12w,monthly=12m,yearly=7y[,floor=365d]` (LIFEBOAT_RETENTION); see `formatRetention`. */
  retention?: string;
  /** S3 Object Lock mode (LIFEBOAT_LOCK_MODE); with `retention`. */
  lockMode?: "governance" | "compliance";
}

export interface CommonSpec {
  json?: boolean;
  /** Runner state file (LIFEBOAT_STATE_FILE). */
  stateFile?: string;
  /** Work directory for SQLite snapshots and restores (LIFEBOAT_WORK_DIR). */
  workDir?: string;
  /** Secret: prefer LIFEBOAT_ALERT_WEBHOOK. */
  alertWebhook?: string;
  /** Secret: prefer LIFEBOAT_PING_URL. */
  pingUrl?: string;
}

export interface BackupSpec extends DestinationSpec, CommonSpec, RunSpec, LockSpec {
  source: SourceKind;
  name: string;
  /** Secret when it holds a password: prefer LIFEBOAT_SOURCE_URL. */
  url?: string;
  /** Directory, volume mount point or SQLite file. */
  path?: string;
  /** age public keys (LIFEBOAT_AGE_RECIPIENTS). */
  recipients?: string[];
  /** Local mode: `--no-upload --local-dir DIR`. */
  noUpload?: boolean;
  /** Local mode: keep only the newest N backups of this source. */
  keepLocal?: number;
  zstdLevel?: number;
  /** bucket: the app's bucket, `s3://APPBUCKET[/PREFIX]` (LIFEBOAT_BUCKET_URL). */
  bucketUrl?: string;
  /** bucket: the app bucket's S3 endpoint (LIFEBOAT_BUCKET_ENDPOINT). */
  bucketEndpoint?: string;
  /** bucket: the app bucket's region, `auto` for R2 (LIFEBOAT_BUCKET_REGION). */
  bucketRegion?: string;
  /** bucket: the restore window, e.g. `30d` (LIFEBOAT_BUCKET_WINDOW). */
  window?: string;
  /** bucket: objects copied at once. */
  copyConcurrency?: number;
}

export interface SelectSpec {
  name: string;
  /** `latest` (default), an ISO time, or a key timestamp. */
  at?: string;
  /** An exact backup key. */
  key?: string;
  /** age private key file (LIFEBOAT_AGE_IDENTITY_FILE). */
  identity?: string;
}

export interface VerifySpec extends DestinationSpec, CommonSpec, RunSpec, SelectSpec {
  /** Secret when it holds a password: prefer LIFEBOAT_SCRATCH_URL. */
  scratchUrl?: string;
  /** Do not write a verification record. */
  noRecord?: boolean;
  /** Restore only the chosen backup, not also a randomly chosen older one. */
  noOlder?: boolean;
  /** Seed of the older backup's random choice (LIFEBOAT_DRILL_SEED). */
  seed?: number;
  /** The source's declared RTO, e.g. `4h` (LIFEBOAT_RTO). */
  rto?: string;
  /** Postgres: `schema.table.column` whose newest value must be within `freshnessWithin` of the backup's time. */
  freshnessColumn?: string;
  freshnessWithin?: string;
  /** Postgres: queries that must return one row with a true first value in the restored database. */
  assertions?: { name: string; sql: string }[];
  /** Postgres: each assertion query's bound, e.g. `30s` (the runner's default: 5m). */
  assertTimeout?: string;
  /** bucket: stored objects of the snapshot checked, or `all`. */
  sample?: number | "all";
}

export interface RestoreSpec extends DestinationSpec, CommonSpec, RunSpec, SelectSpec {
  /** Secret when it holds a password: prefer LIFEBOAT_TARGET_URL. */
  targetUrl?: string;
  targetDir?: string;
  targetFile?: string;
  force?: boolean;
  /** Archives: recreate device nodes/FIFOs and keep setuid/setgid bits and file capabilities. */
  allowSpecial?: boolean;
  /** Archives: restore only the members matching these globs (`--path`, repeatable). */
  paths?: string[];
  /** Postgres: restore only these tables (`--table`, repeatable) ... */
  tables?: string[];
  /** ... in these schemas (`--schema`, repeatable; alone: every table in them). */
  schemas?: string[];
  jobs?: number;
  /** Point-in-time recovery: `--timeline N|latest|current`. */
  timeline?: number | "latest" | "current";
  /** Point-in-time recovery: `--base KEY|TIME`. */
  base?: string;
  /** Point-in-time recovery: replay all WAL (warned) when --at is after the newest WAL. */
  allowPartialTarget?: boolean;
  /** Point-in-time recovery: WAL segments fetched ahead. */
  prefetch?: number;
  /** bucket: restore a bucket source (`--source bucket`) ... */
  source?: "bucket";
  /** ... only the app keys under this prefix ... */
  prefix?: string;
  /** ... into this bucket, `s3://BUCKET[/PREFIX]` (keys LIFEBOAT_TARGET_*), its endpoint and region ... */
  to?: string;
  toEndpoint?: string;
  toRegion?: string;
  /** ... or only print what would change. */
  dryRun?: boolean;
}

export interface StatusSpec extends DestinationSpec, CommonSpec, RunSpec {
  name?: string;
  /** e.g. `26h` */
  maxAge?: string;
  minSize?: string;
  maxShrink?: number;
  /** e.g. 0.5: a table may lose at most half its rows between two backups. */
  maxTableShrink?: number;
  /** The source's declared RTO, e.g. `4h`: restore drills near or over it, or trending over it, are unhealthy. */
  rto?: string;
  /** `text` (default), `json` or `prometheus`. */
  format?: "text" | "json" | "prometheus";
  /** From the runner's own state file (container healthcheck). */
  local?: boolean;
  /** PITR sources: the WAL lag status tolerates (default: the sidecar's own --max-lag, else 5m). */
  maxWalLag?: string;
}

export interface ReportSpec extends DestinationSpec, CommonSpec, RunSpec {
  /** Where the page is written. */
  html: string;
  /** Also put a copy in the bucket (create-only, timestamped key under the verifier's prefix). */
  upload?: boolean;
  name?: string;
  /** The RPO, e.g. `26h`. */
  maxAge?: string;
  /** The declared RTO, e.g. `4h`. */
  rto?: string;
  /** Newest kept backups plotted per source. */
  trend?: number;
  minSize?: string;
  maxShrink?: number;
  maxTableShrink?: number;
}

export interface ListSpec extends DestinationSpec, CommonSpec, RunSpec {
  name?: string;
}

/**
 * `lifeboat-runner COMMAND ...` for `spec`, one flag per set field in the command's table order
 * (./options.ts): unset, `false` and empty-string fields are left out, so the runner's default
 * (or environment variable) applies.
 */
export function argvFor<C extends RunnerCommand>(command: C, spec: RunnerSpecs[C]): string[] {
  const argv: string[] = [command];
  const values = spec as unknown as Record<string, unknown>;
  for (const o of RUNNER_OPTIONS[command]) {
    const v = values[o.field];
    if (v === undefined || v === false || v === "") continue;
    switch (o.kind) {
      case "boolean":
      case "negated":
        argv.push(o.flag);
        break;
      case "repeatable":
        for (const item of v as unknown[]) argv.push(o.flag, String(item));
        break;
      case "assertions":
        // `--assert NAME=SQL`: the runner splits at the first `=` (a name holds none).
        for (const a of v as { name: string; sql: string }[]) argv.push(o.flag, `${a.name}=${a.sql}`);
        break;
      default:
        argv.push(o.flag, String(v));
    }
  }
  return argv;
}

export function backupArgs(s: BackupSpec): string[] {
  return argvFor("backup", s);
}

export function verifyArgs(s: VerifySpec): string[] {
  return argvFor("verify", s);
}

export function restoreArgs(s: RestoreSpec): string[] {
  return argvFor("restore", s);
}

export function statusArgs(s: StatusSpec): string[] {
  return argvFor("status", s);
}

export function reportArgs(s: ReportSpec): string[] {
  return argvFor("report", s);
}

export function listArgs(s: ListSpec): string[] {
  return argvFor("list", s);
}

export interface ReplicateSpec extends DestinationSpec, CommonSpec, RunSpec {
  /** One source; or `all: true` for every source under `dest`. */
  name?: string;
  all?: boolean;
  /** Replica `s3://BUCKET/PREFIX` (LIFEBOAT_REPLICA_DEST). */
  to?: string;
  /** Replica S3-compatible endpoint (LIFEBOAT_REPLICA_S3_ENDPOINT). */
  toEndpoint?: string;
  /** Replica region; `auto` for R2 (LIFEBOAT_REPLICA_REGION). */
  toRegion?: string;
  /** Lag alert threshold, e.g. the source's RPO `1h` (LIFEBOAT_REPLICA_MAX_LAG; default 26h). */
  maxLag?: string;
  /** Copy nothing; only compare both sides and report lag. */
  noCopy?: boolean;
}

/**
 * `replicate`: source side from the destination fields (credentials AWS_*), replica side from
 * `to*` (credentials LIFEBOAT_REPLICA_ACCESS_KEY_ID / LIFEBOAT_REPLICA_SECRET_ACCESS_KEY).
 */
export function replicateArgs(s: ReplicateSpec): string[] {
  // The runner refuses both and neither at run time; a deployed job must not get that far.
  if (!!s.name === !!s.all) throw new Error("replicateArgs: give exactly one of name and all");
  return argvFor("replicate", s);
}

/** `schedule`: one command on a cron, or a job table; `stateFile` is where the runs' state is kept. */
export interface ScheduleSpec {
  cron?: string;
  runAtStart?: boolean;
  /** The job table file (LIFEBOAT_JOBS_FILE). */
  jobsFile?: string;
  /** Runs at once across all jobs (LIFEBOAT_MAX_CONCURRENT). */
  maxConcurrent?: number;
  /** Each run's default bound and the scheduler's backstop (LIFEBOAT_RUN_TIMEOUT). */
  runTimeout?: string;
  stateFile?: string;
}

/** `schedule --cron EXPR -- <command...>`: the long-running container command. */
export function scheduleArgs(cron: string, command: string[], opts: Pick<ScheduleSpec, "runAtStart" | "stateFile" | "runTimeout"> = {}): string[] {
  // After `--` the scheduled command's own flags are not schedule's (commander passes them through).
  return [...argvFor("schedule", { ...opts, cron }), "--", ...command];
}

/**
 * `schedule --jobs FILE [--max-concurrent N] [--state-file FILE]`: a container's scheduler of a
 * job table (see jobTable.ts; each job's argv is built with the builders here).
 */
export function scheduleJobsArgs(o: Pick<ScheduleSpec, "maxConcurrent" | "stateFile"> & { jobsFile: string }): string[] {
  return argvFor("schedule", o);
}

export interface WalStreamSpec extends DestinationSpec, CommonSpec {
  name: string;
  /** Secret when it holds a password: prefer LIFEBOAT_SOURCE_URL. A user with REPLICATION. */
  url?: string;
  /** Physical replication slot (LIFEBOAT_WAL_SLOT); default `lifeboat_<name>`. */
  slot?: string;
  /** Local spool for WAL not yet uploaded (LIFEBOAT_WAL_SPOOL_DIR); a persistent volume. */
  spoolDir?: string;
  /** age public keys (LIFEBOAT_AGE_RECIPIENTS). Never an identity. */
  recipients?: string[];
  /** How often the partial segment is uploaded, e.g. `60s` (LIFEBOAT_WAL_FLUSH_INTERVAL). */
  flushInterval?: string;
  /** Alert when WAL in the bucket lags more than this, e.g. `5m` (LIFEBOAT_WAL_MAX_LAG). */
  maxLag?: string;
  statusIntervalSeconds?: number;
  zstdLevel?: number;
  /** S3: lock each WAL object this long, e.g. `16d` (LIFEBOAT_WAL_RETENTION); with `lockMode`. */
  walRetention?: string;
  /** S3 Object Lock mode of each WAL object (LIFEBOAT_LOCK_MODE); with `walRetention`. */
  lockMode?: "governance" | "compliance";
  /** On WAL from a new timeline (a promotion): `basebackup` (default) or `alert` only. */
  onNewTimeline?: "basebackup" | "alert";
  /** How often a heartbeat object goes to the bucket (LIFEBOAT_WAL_HEARTBEAT_INTERVAL; default 60s). */
  heartbeatInterval?: string;
}

/** `wal-stream`: the long-running PITR sidecar. */
export function walStreamArgs(s: WalStreamSpec): string[] {
  return argvFor("wal-stream", s);
}

export interface BasebackupSpec extends DestinationSpec, CommonSpec, RunSpec, LockSpec {
  name: string;
  /** Secret when it holds a password: prefer LIFEBOAT_SOURCE_URL. A user with REPLICATION. */
  url?: string;
  /** age public keys (LIFEBOAT_AGE_RECIPIENTS). */
  recipients?: string[];
  /** `fetch` (default): the WAL for consistency inside the tar; `none`: from wal-stream. */
  walMethod?: "fetch" | "none";
  fastCheckpoint?: boolean;
  zstdLevel?: number;
}

/** `basebackup`: a pg_basebackup tar into the tier layout (schedule it like a backup). */
export function basebackupArgs(s: BasebackupSpec): string[] {
  return argvFor("basebackup", s);
}

export interface BucketEventsSpec extends DestinationSpec, CommonSpec {
  name: string;
  /** The app's bucket, `s3://APPBUCKET[/PREFIX]` (LIFEBOAT_BUCKET_URL). */
  bucketUrl: string;
  bucketEndpoint?: string;
  bucketRegion?: string;
  /** `ACCOUNT_ID/QUEUE_ID` (LIFEBOAT_QUEUE); the token comes from LIFEBOAT_QUEUE_TOKEN. */
  queue: string;
  /** Cloudflare API base, e.g. `https://api.cloudflare.com/client/v4`. */
  cloudflareApi?: string;
  /** age public keys (LIFEBOAT_AGE_RECIPIENTS). */
  recipients?: string[];
  /** The restore window, as the backup's (LIFEBOAT_BUCKET_WINDOW). */
  window?: string;
  /** Wait this long after an empty pull. */
  pollIntervalSeconds?: number;
}

/** `bucket-events`: the long-running consumer of an R2 bucket's event notifications. */
export function bucketEventsArgs(s: BucketEventsSpec): string[] {
  return argvFor("bucket-events", s);
}

/** `wal-fetch --dir DIR FILE PATH`: PostgreSQL's restore_command, written by a point-in-time restore. */
export interface WalFetchSpec {
  /** The lifeboat_restore directory restore wrote into the data directory. */
  dir: string;
  /** Internal: run as the background prefetcher (`--prefetch`). */
  prefetcher?: boolean;
}
