/**
 * The `lifeboat-runner` argv and environment of the jobs, as pure functions of resolved values
 * (`…JobArgv`: the argv a job's container runs; the runner's own `backupCommand` etc. execute
 * it). `ScheduledBackup`, `ScheduledVerification`, `ScheduledReplication` and `FailoverRestore`
 * put exactly these into their containers and task definitions, the runbook prints restores
 * built by {@link restoreSpec}, and test/runner/commandParity.test.ts parses them with the
 * runner's own CLI against the command lines the runner's end-to-end tests run.
 *
 * Only non-secret settings go on the command line. Secrets (source and scratch URLs, S3 keys,
 * webhook and ping URLs) travel as the environment variables the runner reads ({@link ENV}),
 * which the components deliver as Pulumi secrets (Docker env, ECS Secrets Manager references);
 * the age identity travels as a file.
 */
import { drTargetIn } from "../runbook/targets";
import { backupArgs, BackupSpec, basebackupArgs, bucketEventsArgs, BucketEventsSpec, ENV, replicateArgs, ReplicateSpec, reportArgs, ReportSpec, restoreArgs, RestoreSpec, SourceKind, statusArgs, StatusSpec, verifyArgs, VerifySpec, walStreamArgs } from "lifeboat-core";

/** How the runner image (runner/Dockerfile) starts the runner: its ENTRYPOINT, which the containers set explicitly. */
export const RUNNER_EXEC: readonly string[] = ["node", "/app/runner/bin/lifeboat-runner.js"];
/** The uid:gid the runner image runs as (the `node` user); uploaded files are owned by it. */
export const RUNNER_UID = "1000";

/** Fixed paths inside the runner container. */
export const CONTAINER_PATHS = {
  /** Runner state (last runs), read by the `status --local` healthcheck; a named volume on Docker. */
  stateDir: "/var/lib/lifeboat",
  /** The image's LIFEBOAT_STATE_FILE; passed explicitly too, so that a custom image agrees. */
  stateFile: "/var/lib/lifeboat/runner-state.json",
  /** Under it, `<source name>`: where a volume, directory or the directory holding a SQLite file is mounted, read-only. */
  source: "/source",
  /** A scheduler's job table (`schedule --jobs`). */
  jobs: "/etc/lifeboat/jobs.json",
  /** The age identity file (verification and restores only). */
  identity: "/run/lifeboat/age-identity.txt",
  /** Where a failover restore writes a directory, volume, Redis or SQLite source, read-write. */
  target: "/target",
} as const;

/** Where the backups of one source live. */
export interface JobDestination {
  bucket: string;
  /** Bucket-level key prefix, e.g. `backups`. */
  prefix: string;
  /** S3 API endpoint (R2's account endpoint, or AWS's regional one). */
  endpoint?: string;
  /** Bucket region; `auto` for R2. */
  region?: string;
}

/** A `bucket` source's app bucket as the runner reaches it (credentials travel as secret env). */
interface AppBucketJob {
  /** `s3://APPBUCKET[/PREFIX]`. */
  bucketUrl: string;
  bucketEndpoint?: string;
  bucketRegion?: string;
}

/** One source's backup run, as the container sees it. */
export interface BackupJob extends JobDestination, Partial<AppBucketJob> {
  source: SourceKind;
  name: string;
  /** Path inside the container (volume, directory or SQLite file); see {@link containerSourcePath}. */
  path?: string;
  recipients: string[];
  stateFile?: string;
  /** S3 only: `--retention` (see the runner's `formatRetention`), locking each object until its tier expires. */
  retention?: string;
  /** S3 only, with `retention` (or a bucket source's `window`): the Object Lock mode of each object. */
  lockMode?: "governance" | "compliance";
  /** bucket: the restore window, e.g. `30d`; on S3 the runner locks each object until it expires. */
  window?: string;
}

/** What a drill checks in a restored Postgres database besides the manifest's row counts (not secret: argv). */
interface DrillChecks {
  /** `schema.table.column` whose newest value must be within `within` (a duration) before the backup's time. */
  freshness?: { column: string; within: string };
  /** Queries that must return one row whose first value is true. */
  assertions?: { name: string; sql: string }[];
}

/** One source's restore drill. */
export interface VerifyJob extends JobDestination, DrillChecks {
  name: string;
  /** Path of the age identity file inside the container. */
  identity: string;
  /** The source's declared RTO: the drill reports its restore time against it and records it. */
  rto?: string;
}

/** One source's health check against the bucket. */
export interface StatusJob extends JobDestination {
  name: string;
  maxAge: string;
  /** Size floor, e.g. `1m` or a byte count. */
  minSize?: string;
  maxShrink?: number;
  /** Share of a Postgres table's rows one backup may lose. */
  maxTableShrink?: number;
  /** The source's declared RTO: drills over, near or trending over it are unhealthy. */
  rto?: string;
}

/** `s3://BUCKET/PREFIX`. */
export function destUrl(d: JobDestination): string {
  const prefix = d.prefix.replace(/^\/+|\/+$/g, "");
  return prefix ? `s3://${d.bucket}/${prefix}` : `s3://${d.bucket}`;
}

/** The runner's destination fields (`--dest`, `--endpoint`, `--region`) of one bucket and prefix. */
export function destinationSpec(d: JobDestination): Pick<BackupSpec, "dest" | "endpoint" | "region"> {
  return { dest: destUrl(d), ...(d.endpoint ? { endpoint: d.endpoint } : {}), ...(d.region ? { region: d.region } : {}) };
}

/** The runner spec of one backup run: non-secret fields only (the source URL comes from the environment). */
function backupSpec(job: BackupJob): BackupSpec {
  return {
    source: job.source,
    name: job.name,
    ...(job.path ? { path: job.path } : {}),
    recipients: [...job.recipients],
    ...destinationSpec(job),
    ...(job.stateFile ? { stateFile: job.stateFile } : {}),
    ...(job.retention && job.lockMode ? { retention: job.retention, lockMode: job.lockMode } : {}),
    ...appBucket(job),
    // A bucket source locks each object until its expiry from the window (runner), in this mode.
    ...(job.window ? { window: job.window, ...(job.lockMode && !job.retention ? { lockMode: job.lockMode } : {}) } : {}),
    json: true,
  };
}

function appBucket(j: Partial<AppBucketJob>): Partial<AppBucketJob> {
  return {
    ...(j.bucketUrl ? { bucketUrl: j.bucketUrl } : {}),
    ...(j.bucketEndpoint ? { bucketEndpoint: j.bucketEndpoint } : {}),
    ...(j.bucketRegion ? { bucketRegion: j.bucketRegion } : {}),
  };
}

/**
 * `bucket-events …`: the long-running consumer of an R2 bucket's event notifications (the queue
 * token and both buckets' keys come from the environment).
 */
export function bucketEventsJobArgv(job: BackupJob & AppBucketJob, queue: string): string[] {
  const spec: BucketEventsSpec = { name: job.name, ...appBucket(job), bucketUrl: job.bucketUrl, queue, ...destinationSpec(job), json: true };
  return bucketEventsArgs(spec);
}

/** `backup …` for one run: the ECS task's command, and what the Docker container's scheduler runs. */
export function backupJobArgv(job: BackupJob): string[] {
  return backupArgs(backupSpec(job));
}

/** `basebackup …` for one run of a point-in-time-recovery source (the physical base backup). */
export function basebackupJobArgv(job: BackupJob): string[] {
  const { source: _kind, path: _path, ...spec } = backupSpec(job);
  return basebackupArgs(spec);
}

/** Where the WAL sidecar spools segments before upload: on the job's persistent state volume. */
const WAL_SPOOL_DIR = `${CONTAINER_PATHS.stateDir}/wal-spool`;

/**
 * `wal-stream …`: the long-running point-in-time-recovery sidecar (pg_receivewal over a
 * replication slot; the source URL comes from the environment).
 */
export function walStreamJobArgv(job: BackupJob, o: { flushInterval: string; maxLag?: string; walRetentionDays?: number }): string[] {
  // S3 with per-object lock: each WAL object is locked for as long as the bucket keeps WAL.
  const lock = job.lockMode && o.walRetentionDays ? { walRetention: `${o.walRetentionDays}d`, lockMode: job.lockMode } : {};
  return walStreamArgs({
    name: job.name,
    recipients: [...job.recipients],
    spoolDir: WAL_SPOOL_DIR,
    flushInterval: o.flushInterval,
    ...(o.maxLag ? { maxLag: o.maxLag } : {}),
    ...lock,
    ...destinationSpec(job),
    json: true,
  });
}

function verifySpec(job: VerifyJob): VerifySpec {
  return {
    name: job.name,
    identity: job.identity,
    ...(job.rto !== undefined ? { rto: job.rto } : {}),
    ...(job.freshness ? { freshnessColumn: job.freshness.column, freshnessWithin: job.freshness.within } : {}),
    ...(job.assertions?.length ? { assertions: job.assertions.map((a) => ({ ...a })) } : {}),
    ...destinationSpec(job),
    json: true,
  };
}

/** `verify …` for one restore drill (the scratch database URL comes from the environment). */
export function verifyJobArgv(job: VerifyJob): string[] {
  return verifyArgs(verifySpec(job));
}

function statusSpec(job: StatusJob): StatusSpec {
  return {
    name: job.name,
    maxAge: job.maxAge,
    ...(job.minSize !== undefined ? { minSize: job.minSize } : {}),
    ...(job.maxShrink !== undefined ? { maxShrink: job.maxShrink } : {}),
    ...(job.maxTableShrink !== undefined ? { maxTableShrink: job.maxTableShrink } : {}),
    ...(job.rto !== undefined ? { rto: job.rto } : {}),
    ...destinationSpec(job),
    json: true,
  };
}

/** `status …` against the bucket for one source. */
export function statusJobArgv(job: StatusJob): string[] {
  return statusArgs(statusSpec(job));
}

/** Where the status job's page of one source is kept current on its host: the job's state volume. */
function statusPagePath(name: string): string {
  return `${CONTAINER_PATHS.stateDir}/status/${name}.html`;
}

/**
 * The status page of one source, beside each health check: the same limits as `status`, the page
 * written to {@link statusPagePath} and a copy put in the bucket under the verifier's prefix.
 */
function reportSpec(job: StatusJob): ReportSpec {
  return { ...statusSpec(job), html: statusPagePath(job.name), upload: true, ...(job.rto !== undefined ? { rto: job.rto } : {}) };
}

/** `report --html … --upload` for one source. */
export function reportJobArgv(job: StatusJob): string[] {
  return reportArgs(reportSpec(job));
}

/** One source's restore. */
export interface RestoreJob extends JobDestination {
  name: string;
  kind: SourceKind;
  identity: string;
}

/** The restore flag a source kind takes: a database for postgres, a directory for archives, a file for Redis and SQLite snapshots. */
export function restoreTargetField(kind: SourceKind): "targetUrl" | "targetDir" | "targetFile" {
  return kind === "postgres" ? "targetUrl" : kind === "volume" || kind === "directory" ? "targetDir" : "targetFile";
}

/**
 * The runner spec of a restore of one source into `target`, on the flag its kind takes
 * ({@link restoreTargetField}). The failover job and the runbook both build their restores here.
 * Without a target (a failover's postgres database), the runner reads LIFEBOAT_TARGET_URL.
 */
export function restoreSpec(job: RestoreJob, target?: string): RestoreSpec {
  return { name: job.name, identity: job.identity, ...(target === undefined ? {} : { [restoreTargetField(job.kind)]: target }), ...destinationSpec(job) };
}

/**
 * `restore --at latest-verified …` of a failover: into the database named by LIFEBOAT_TARGET_URL
 * (postgres), or under CONTAINER_PATHS.target where {@link drTargetIn} places the source (the host
 * directory mounted there is the one the runbook names).
 */
export function restoreJobArgv(job: RestoreJob): string[] {
  const target = job.kind === "postgres" ? undefined : drTargetIn(job.kind, CONTAINER_PATHS.target, job.name);
  return restoreArgs({ ...restoreSpec(job, target), at: "latest-verified", json: true });
}

/** Every source's copy from one bucket to a replica bucket. */
export interface ReplicateJob extends JobDestination {
  /** Where the copies go (its own endpoint and region; R2 <-> S3 pairs differ). */
  replica: JobDestination;
  /** Lag alert threshold (`--max-lag`): the RPO, e.g. `1h`. */
  maxLag: string;
}

/** The runner spec of one replication run: `--all` sources, non-secret fields only (both sides' keys come from the environment). */
export function replicateSpec(job: ReplicateJob): ReplicateSpec {
  return {
    all: true,
    to: destUrl(job.replica),
    ...(job.replica.endpoint ? { toEndpoint: job.replica.endpoint } : {}),
    ...(job.replica.region ? { toRegion: job.replica.region } : {}),
    maxLag: job.maxLag,
    ...destinationSpec(job),
    json: true,
  };
}

/** `replicate --all …` for one run: the ECS task's command, and what the Docker container's scheduler runs. */
export function replicateJobArgv(job: ReplicateJob): string[] {
  return replicateArgs(replicateSpec(job));
}

/** Where a source's data appears inside the container, and what is mounted there. */
export interface SourceMount {
  /** `volume` (a named Docker volume) or `bind` (a host path). */
  type: "volume" | "bind";
  /** Volume name or host directory. */
  source: string;
  /** Mount point in the container. */
  target: string;
  /** `--path` for the runner. */
  path: string;
}

/**
 * The read-only mount and `--path` of a volume, directory or SQLite source; undefined for
 * sources reached over the network (postgres, redis). Each source has its own mount point,
 * `/source/<name>`, so one scheduler container can hold every source of a host. A SQLite
 * file's directory is mounted so that its `-wal` file is visible to the snapshot.
 */
export function sourceMount(kind: SourceKind, name: string, s: { volume?: string; path?: string }): SourceMount | undefined {
  const target = `${CONTAINER_PATHS.source}/${name}`;
  switch (kind) {
    case "volume":
      if (!s.volume) throw new Error("a volume source needs `volume` (the Docker volume name)");
      return { type: "volume", source: s.volume, target, path: target };
    case "directory":
      if (!s.path?.startsWith("/")) throw new Error("a directory source needs `path`, an absolute host path");
      return { type: "bind", source: s.path, target, path: target };
    case "sqlite": {
      if (!s.path?.startsWith("/")) throw new Error("a sqlite source needs `path`, the absolute host path of the database file");
      const slash = s.path.lastIndexOf("/");
      const dir = s.path.slice(0, slash) || "/";
      const file = s.path.slice(slash + 1);
      return { type: "bind", source: dir, target, path: `${target}/${file}` };
    }
    default:
      return undefined;
  }
}

/** Secret values a job may receive, by what they are. */
interface JobSecrets {
  sourceUrl?: string;
  scratchUrl?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  alertWebhookUrl?: string;
  pingUrl?: string;
  /** replicate: the replica side's own S3 key (R2 <-> S3 and R2 -> R2 pairs use one identity per side). */
  replicaAccessKeyId?: string;
  replicaSecretAccessKey?: string;
  /** restore: the PostgreSQL database a failover restore writes into. */
  targetUrl?: string;
  /** bucket: the app bucket's read-only key. */
  bucketAccessKeyId?: string;
  bucketSecretAccessKey?: string;
  /** bucket-events: the token that pulls from and acknowledges on the queue. */
  queueToken?: string;
}

/** The environment variable (name from the runner's {@link ENV}) that carries each secret. */
export const SECRET_ENV: Readonly<Record<keyof JobSecrets, string>> = {
  sourceUrl: ENV.url,
  scratchUrl: ENV.scratchUrl,
  accessKeyId: ENV.accessKeyId,
  secretAccessKey: ENV.secretAccessKey,
  alertWebhookUrl: ENV.alertWebhook,
  pingUrl: ENV.pingUrl,
  replicaAccessKeyId: ENV.replicaAccessKeyId,
  replicaSecretAccessKey: ENV.replicaSecretAccessKey,
  targetUrl: ENV.targetUrl,
  bucketAccessKeyId: ENV.bucketAccessKeyId,
  bucketSecretAccessKey: ENV.bucketSecretAccessKey,
  queueToken: ENV.queueToken,
};

/** The environment that carries `secrets`; unset and empty values are left out. */
export function secretEnv(secrets: JobSecrets): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secrets) as [keyof JobSecrets, string | undefined][]) {
    if (typeof v === "string" && v !== "") out[SECRET_ENV[k]] = v;
  }
  return out;
}

/** `KEY=value` lines for Docker's `envs`. */
export function dockerEnvs(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}
