/**
 * Every option of every `lifeboat-runner` command, declared once: the spec field the Pulumi
 * components and tests set, the flag, its value placeholder, its environment variable, kind,
 * choices, default and help. The argv builders (./args.ts) emit command lines from these rows
 * and the runner's CLI (runner/src/cli.ts) declares its commander options from the same rows,
 * so a builder cannot emit a flag the CLI does not take, nor with another meaning.
 *
 * A command's rows are in the order its argv builder has always emitted them (deployed
 * container commands and ECS task definitions stay byte-identical); `--help` lists them in the
 * same order. Pure data: no commander here (core keeps its few runtime dependencies).
 */
import type {
  BackupSpec,
  BasebackupSpec,
  BucketEventsSpec,
  CommonSpec,
  DestinationSpec,
  ListSpec,
  LockSpec,
  ReplicateSpec,
  ReportSpec,
  RestoreSpec,
  RunSpec,
  ScheduleSpec,
  SelectSpec,
  StatusSpec,
  VerifySpec,
  WalFetchSpec,
  WalStreamSpec,
} from "./args";
import { ENV } from "./env";
import { SOURCE_KINDS } from "./sourceKinds";

/**
 * How a spec value becomes argv (and what commander hands the command):
 * - `string`, `number`: `--flag VALUE` (the command receives the string; it parses numbers itself);
 * - `boolean`: `--flag` when true;
 * - `negated`: `--no-x` when the spec field (`noX`) is true; commander's `x` defaults to true;
 * - `repeatable`: `--flag V` once per array item (the environment variable, when there is one,
 *   is one comma-separated value the command splits);
 * - `assertions`: repeatable `--assert NAME=SQL`, one per `{ name, sql }` of the spec.
 */
export type OptionKind = "string" | "number" | "boolean" | "negated" | "repeatable" | "assertions";

export type EnvVar = (typeof ENV)[keyof typeof ENV];

export interface RunnerOption<F extends string = string> {
  /** The spec field (./args.ts) that holds this option's value. */
  readonly field: F;
  /** The long flag, e.g. `--part-size` (`--no-x` for a negated option). */
  readonly flag: `--${string}`;
  /** The value placeholder shown in help, e.g. `mib` for `--part-size <mib>`; none for booleans. */
  readonly value?: string;
  readonly kind: OptionKind;
  /** The environment variable commander reads when the flag is absent. */
  readonly env?: EnvVar;
  readonly choices?: readonly string[];
  /** The runner's default, as the string the command receives. */
  readonly default?: string;
  /** Commander refuses the command without it (wal-fetch's --dir). */
  readonly required?: boolean;
  readonly help: string;
}

/** The commands, each with the spec its argv builder takes. */
export interface RunnerSpecs {
  backup: BackupSpec;
  list: ListSpec;
  restore: RestoreSpec;
  verify: VerifySpec;
  status: StatusSpec;
  report: ReportSpec;
  replicate: ReplicateSpec;
  "wal-stream": WalStreamSpec;
  basebackup: BasebackupSpec;
  "wal-fetch": WalFetchSpec;
  "bucket-events": BucketEventsSpec;
  schedule: ScheduleSpec;
}
export type RunnerCommand = keyof RunnerSpecs;

type Rows<S> = readonly RunnerOption<Extract<keyof S, string>>[];

/** How a Postgres connection may be given (the runner's pgconn.ts parses all of them). */
const PG_FORMS = "postgres://USER:PASSWORD@HOST:PORT/DB URL, password percent-encoded or as ?password=, or a libpq key=value string; with no password, PGPASSWORD or PGPASSFILE";
const R2_ENDPOINT = "(R2: https://ACCOUNT.r2.cloudflarestorage.com; a bucket in a jurisdiction: https://ACCOUNT.JURISDICTION.r2.cloudflarestorage.com, JURISDICTION eu, fedramp or us)";

const DEST: Rows<DestinationSpec> = [
  { field: "dest", flag: "--dest", value: "s3url", kind: "string", env: ENV.dest, help: "destination s3://BUCKET/PREFIX" },
  { field: "endpoint", flag: "--endpoint", value: "url", kind: "string", env: ENV.endpoint, help: `S3-compatible endpoint ${R2_ENDPOINT}` },
  { field: "region", flag: "--region", value: "region", kind: "string", env: ENV.region, help: "region; `auto` for R2" },
  { field: "localDir", flag: "--local-dir", value: "dir", kind: "string", env: ENV.localDir, help: "a local directory instead of a bucket (local mode)" },
  { field: "partSizeMiB", flag: "--part-size", value: "mib", kind: "number", default: "16", help: "multipart part size in MiB, the same for every part" },
  { field: "concurrency", flag: "--concurrency", value: "n", kind: "number", default: "3", help: "parts uploaded in parallel" },
  { field: "maxAttempts", flag: "--max-attempts", value: "n", kind: "number", default: "4", help: "attempts per S3 request, including the first (retries back off exponentially)" },
  {
    field: "timeoutSeconds", flag: "--timeout", value: "seconds", kind: "number", default: "120",
    help: "idle timeout per S3 request attempt: no byte sent or received for this long ends the attempt (it is retried up to --max-attempts)",
  },
  { field: "requestTimeoutSeconds", flag: "--request-timeout", value: "seconds", kind: "number", default: "900", help: "total time per S3 request attempt until its answer arrives (a part upload included)" },
];

const RUN_TIMEOUT: RunnerOption<"runTimeout"> = {
  field: "runTimeout", flag: "--run-timeout", value: "duration", kind: "string", env: ENV.runTimeout, default: "6h",
  help: "the whole run's bound (e.g. 6h): past it every S3 request is aborted and the run fails (and alerts)",
};
/** The bound of a command that runs to an end (everything but wal-stream, bucket-events and schedule). */
const RUN: Rows<RunSpec> = [RUN_TIMEOUT];

const LOCK_MODE: RunnerOption<"lockMode"> = {
  field: "lockMode", flag: "--lock-mode", value: "mode", kind: "string", env: ENV.lockMode, choices: ["governance", "compliance"],
  help: "S3 Object Lock mode of each object, with --retention",
};
/** backup and basebackup: S3 Object Lock on each object until its tier expires. */
const LOCK: Rows<LockSpec> = [
  {
    field: "retention", flag: "--retention", value: "tiers", kind: "string", env: ENV.retention,
    help: "lock each object until its tier expires: daily=30d,weekly=12w,monthly=12m,yearly=7y (the bucket's retention; add floor=365d under a compliance prefix). S3 only; default none: the bucket's default retention",
  },
  LOCK_MODE,
];

const STATE_FILE: RunnerOption<"stateFile"> = { field: "stateFile", flag: "--state-file", value: "file", kind: "string", env: ENV.stateFile, help: "runner state file read by status --local" };
const COMMON: Rows<CommonSpec> = [
  STATE_FILE,
  {
    field: "workDir", flag: "--work-dir", value: "dir", kind: "string", env: ENV.workDir,
    help: "work directory for SQLite snapshots, restores and verify's scratch extraction of archives; a postgres restore decodes the whole dump here first and checks it has room (default: the OS temp dir)",
  },
  { field: "alertWebhook", flag: "--alert-webhook", value: "url", kind: "string", env: ENV.alertWebhook, help: "Slack-compatible webhook for failures (secret)" },
  { field: "pingUrl", flag: "--ping-url", value: "url", kind: "string", env: ENV.pingUrl, help: "healthcheck ping URL: URL/start, URL, URL/fail (secret)" },
  { field: "json", flag: "--json", kind: "boolean", help: "print the result as JSON on stdout" },
];

/** `--name`: what it selects is said per command. */
const NAME: RunnerOption<"name"> = { field: "name", flag: "--name", value: "name", kind: "string", help: "only this source" };
const SOURCE_NAME: RunnerOption<"name"> = { ...NAME, help: "source name: the key prefix segment (lowercase, digits, hyphens)" };

const SELECT: Rows<SelectSpec> = [
  { ...NAME, help: "source name" },
  {
    field: "at", flag: "--at", value: "time", kind: "string", default: "latest",
    help: "newest backup taken at or before TIME (ISO 8601 with a zone, e.g. 2026-11-22T12:00:00Z or 2026-11-22 13:00:00+01:00, microseconds kept; or a key timestamp; for point-in-time recovery it must not be after the newest WAL unless --allow-partial-target), `latest`, or `latest-verified` (newest with a passing verification); backups whose key time disagrees with the store's are never chosen",
  },
  { field: "key", flag: "--key", value: "key", kind: "string", help: "an exact backup key instead of --at (the only way to pick an UNTRUSTED backup)" },
  { field: "identity", flag: "--identity", value: "keyfile", kind: "string", env: ENV.identity, help: "age private key file" },
];

const RECIPIENTS: RunnerOption<"recipients"> = { field: "recipients", flag: "--recipient", value: "age1...", kind: "repeatable", env: ENV.recipients, help: "age public key; repeatable" };
const ZSTD_LEVEL: RunnerOption<"zstdLevel"> = { field: "zstdLevel", flag: "--zstd-level", value: "n", kind: "number", default: "3", help: "zstd compression level" };
const REPLICATION_URL: RunnerOption<"url"> = {
  field: "url", flag: "--url", value: "url", kind: "string", env: ENV.url, help: `postgres connection of a user with the REPLICATION attribute (${PG_FORMS}) (secret)`,
};
const BUCKET_URL: RunnerOption<"bucketUrl"> = {
  field: "bucketUrl", flag: "--bucket-url", value: "s3url", kind: "string", env: ENV.bucketUrl,
  help: "bucket source: the app bucket s3://APPBUCKET[/PREFIX], read with LIFEBOAT_BUCKET_ACCESS_KEY_ID/LIFEBOAT_BUCKET_SECRET_ACCESS_KEY",
};
const BUCKET_ENDPOINT: RunnerOption<"bucketEndpoint"> = {
  field: "bucketEndpoint", flag: "--bucket-endpoint", value: "url", kind: "string", env: ENV.bucketEndpoint, help: `bucket source: the app bucket's S3-compatible endpoint ${R2_ENDPOINT}`,
};
const BUCKET_REGION: RunnerOption<"bucketRegion"> = { field: "bucketRegion", flag: "--bucket-region", value: "region", kind: "string", env: ENV.bucketRegion, help: "bucket source: the app bucket's region; `auto` for R2" };
const WINDOW: RunnerOption<"window"> = {
  field: "window", flag: "--window", value: "days", kind: "string", env: ENV.bucketWindow,
  help: "bucket source: the restore window (e.g. 30d): copies older than this are made again, so lifecycle (objects/ 2 x window, snapshots/ window) never expires one a kept snapshot needs",
};

const RTO: RunnerOption<"rto"> = { field: "rto", flag: "--rto", value: "duration", kind: "string", env: ENV.rto, help: "the source's declared RTO (e.g. 4h)" };
const MAX_AGE: RunnerOption<"maxAge"> = { field: "maxAge", flag: "--max-age", value: "duration", kind: "string", default: "26h", help: "newest backup must be younger than this (e.g. 26h)" };
const MIN_SIZE: RunnerOption<"minSize"> = { field: "minSize", flag: "--min-size", value: "size", kind: "string", help: "size floor for the newest backup (default 1m for postgres, none otherwise)" };
const MAX_SHRINK: RunnerOption<"maxShrink"> = {
  field: "maxShrink", flag: "--max-shrink", value: "fraction", kind: "number", default: "0.5", help: "unhealthy when a backup is smaller than the previous by more than this fraction",
};
const MAX_TABLE_SHRINK: RunnerOption<"maxTableShrink"> = {
  field: "maxTableShrink", flag: "--max-table-shrink", value: "fraction", kind: "number", env: ENV.maxTableShrink, default: "0.5",
  help: "unhealthy when a Postgres table lost more than this fraction of its rows since the previous backup (emptied or vanished tables always count)",
};

/** Every command's options, in argv order (see the top of this file). */
export const RUNNER_OPTIONS: { readonly [C in RunnerCommand]: Rows<RunnerSpecs[C]> } = {
  backup: [
    { field: "source", flag: "--source", value: "kind", kind: "string", choices: SOURCE_KINDS, help: "what to back up" },
    SOURCE_NAME,
    { field: "url", flag: "--url", value: "url", kind: "string", env: ENV.url, help: `redis:// URL or postgres source (${PG_FORMS}) (secret)` },
    { field: "path", flag: "--path", value: "path", kind: "string", env: ENV.path, help: "directory, volume mount point or SQLite file" },
    RECIPIENTS,
    { field: "noUpload", flag: "--no-upload", kind: "negated", help: "local mode: write to --local-dir instead of uploading (each run also removes this source's partial files left by killed runs)" },
    {
      field: "keepLocal", flag: "--keep-local", value: "n", kind: "number", env: ENV.keepLocal,
      help: "local mode: keep only the newest N backups of this source (removed files, stale partials included, are listed as pruned)",
    },
    ZSTD_LEVEL,
    BUCKET_URL,
    BUCKET_ENDPOINT,
    BUCKET_REGION,
    WINDOW,
    { field: "copyConcurrency", flag: "--copy-concurrency", value: "n", kind: "number", default: "8", help: "bucket source: objects copied at once" },
    ...LOCK,
    ...DEST,
    ...RUN,
    ...COMMON,
  ],

  list: [NAME, ...DEST, ...RUN, ...COMMON],

  restore: [
    ...SELECT,
    { field: "targetUrl", flag: "--target-url", value: "url", kind: "string", env: ENV.targetUrl, help: `postgres database to restore into (${PG_FORMS}) (secret)` },
    { field: "targetDir", flag: "--target-dir", value: "dir", kind: "string", help: "directory to restore an archive into (or to put a redis/sqlite file in)" },
    { field: "targetFile", flag: "--target-file", value: "file", kind: "string", help: "file to restore a redis RDB or SQLite database to" },
    {
      field: "force", flag: "--force", kind: "boolean",
      help: "restore into a non-empty target, keeping what it holds aside (printed), never deleting or merging (a bucket restore with --to: overwrite and delete in the target, as --dry-run lists): a database is renamed to DB_before_restore_TIME and the backup restored into a new, empty DB (needs its owner with CREATEDB and no other session on it, else refused); with --table, existing tables of a restored name are moved with their indexes and sequences to schema lifeboat_before_restore_TIME; a directory's contents are moved to DIR.before-restore-TIME (inside DIR, as .before-restore-TIME, when DIR is a mount point); a file is kept as FILE.before-restore-TIME",
    },
    {
      field: "paths", flag: "--path", value: "glob", kind: "repeatable",
      help: "archives: restore only the members matching GLOB (relative to the archive root, shell wildcards, a directory with everything under it; repeatable), into an empty or new --target-dir",
    },
    {
      field: "tables", flag: "--table", value: "name", kind: "repeatable",
      help: "postgres: restore only this table (repeatable), with its indexes, constraints, triggers, owned sequences and grants, into any database (e.g. a staging one); a same-named table there is refused unless --force; row counts are checked",
    },
    { field: "schemas", flag: "--schema", value: "name", kind: "repeatable", help: "postgres: with --table, only tables in this schema (repeatable); alone, every table in it" },
    { field: "allowSpecial", flag: "--allow-special", kind: "boolean", help: "archives: also recreate device nodes and FIFOs, setuid/setgid bits and file capabilities (refused or cleared by default)" },
    { field: "jobs", flag: "--jobs", value: "n", kind: "number", default: "2", help: "pg_restore parallel jobs; bucket: objects restored at once" },
    {
      field: "timeline", flag: "--timeline", value: "tli", kind: "string",
      help: "point-in-time recovery: recovery_target_timeline, a number, `latest` or `current` (the base backup's); default: the timeline --at lies on (the newest that existed then), the newest for --at latest",
    },
    {
      field: "base", flag: "--base", value: "key|time", kind: "string",
      help: "point-in-time recovery: start from this base backup (its key, or its key time such as 20261122T133000.123Z) instead of the newest that fits --at and the timeline",
    },
    { field: "allowPartialTarget", flag: "--allow-partial-target", kind: "boolean", help: "point-in-time recovery: a --at after the newest WAL replays all WAL there is, with a warning, instead of being refused" },
    { field: "prefetch", flag: "--prefetch", value: "n", kind: "number", help: "point-in-time recovery: WAL segments fetched ahead of the one PostgreSQL replays (0-64; default 8)" },
    { field: "source", flag: "--source", value: "kind", kind: "string", choices: ["bucket"], help: "bucket: restore a bucket source (see --to); other kinds need no --source" },
    { field: "prefix", flag: "--prefix", value: "p", kind: "string", help: "bucket: only the app keys starting with P (relative to the source's bucket prefix)" },
    {
      field: "to", flag: "--to", value: "s3url", kind: "string",
      help: "bucket: the bucket to rebuild the objects in, s3://BUCKET[/PREFIX] (keys LIFEBOAT_TARGET_ACCESS_KEY_ID/LIFEBOAT_TARGET_SECRET_ACCESS_KEY, default the LIFEBOAT_BUCKET_* ones); --key K is then one app key",
    },
    { field: "toEndpoint", flag: "--to-endpoint", value: "url", kind: "string", help: "bucket: the target bucket's S3-compatible endpoint" },
    { field: "toRegion", flag: "--to-region", value: "region", kind: "string", help: "bucket: the target bucket's region; `auto` for R2" },
    { field: "dryRun", flag: "--dry-run", kind: "boolean", help: "bucket: print what would be created, overwritten and deleted; write nothing" },
    ...DEST,
    ...RUN,
    ...COMMON,
  ],

  verify: [
    ...SELECT,
    { field: "scratchUrl", flag: "--scratch-url", value: "url", kind: "string", env: ENV.scratchUrl, help: `postgres database to CREATE/DROP scratch databases from (${PG_FORMS}) (secret)` },
    { field: "noRecord", flag: "--no-record", kind: "negated", help: "do not write the verification record" },
    {
      field: "noOlder", flag: "--no-older", kind: "negated",
      help: "restore only the chosen backup; by default a drill (not --key) also restores a randomly chosen older backup, of another tier when one exists",
    },
    {
      field: "seed", flag: "--seed", value: "n", kind: "number", env: ENV.drillSeed,
      help: "seed of the older backup's random choice (default random; the record keeps it, so the same seed repeats the choice)",
    },
    { ...RTO, help: "the source's declared RTO (e.g. 4h): the report gives the restore time as a share of it and the record keeps it" },
    {
      field: "freshnessColumn", flag: "--freshness-column", value: "schema.table.column", kind: "string", env: ENV.freshnessColumn,
      help: "postgres: a timestamp column whose newest value in the restored database must be within --freshness-within before the backup was taken (a stale or emptied database fails the drill)",
    },
    { field: "freshnessWithin", flag: "--freshness-within", value: "duration", kind: "string", env: ENV.freshnessWithin, help: "with --freshness-column, e.g. 1d (the source's RPO is a good choice)" },
    // No commander env: the command itself reads LIFEBOAT_ASSERTIONS, a JSON array (SQL holds commas).
    {
      field: "assertions", flag: "--assert", value: "name=sql", kind: "assertions",
      help: `postgres: a query run read-only in the restored database that must return one row whose first value is true (e.g. 'has users=SELECT count(*) > 0 FROM users'); repeatable; ${ENV.assertions} takes a JSON array of {"name","sql"}`,
    },
    {
      field: "assertTimeout", flag: "--assert-timeout", value: "duration", kind: "string", default: "5m",
      help: "postgres: each --assert query's bound (its statement_timeout, lock waits included; e.g. 30s): a slower or blocked query fails its assertion, named, instead of holding the drill until --run-timeout",
    },
    {
      field: "sample", flag: "--sample", value: "n", kind: "string", default: "20",
      help: "bucket source: stored objects of the snapshot to download, decrypt and check against its manifest (sha256, size), picked at random; `all` for every one",
    },
    ...DEST,
    ...RUN,
    ...COMMON,
  ],

  status: [
    NAME,
    MAX_AGE,
    MIN_SIZE,
    MAX_SHRINK,
    MAX_TABLE_SHRINK,
    {
      ...RTO,
      help: "the source's declared RTO (e.g. 4h): unhealthy when the latest restore drill took longer, used more than 80% of it, or the trend of the last 8 drills forecasts the next one over it",
    },
    {
      field: "format", flag: "--format", value: "format", kind: "string", default: "text",
      help: "text, json (same as --json) or prometheus (node_exporter textfile format: per source last success, newest recoverable point, bytes, last verified restore and its duration)",
    },
    { field: "local", flag: "--local", kind: "boolean", help: "report the last runs from this runner's state file (container healthcheck; no bucket access)" },
    {
      field: "maxWalLag", flag: "--max-wal-lag", value: "duration", kind: "string",
      help: "PITR sources: unhealthy when the bucket's WAL (by the sidecar's heartbeat, else the newest WAL object) is further behind than this plus the heartbeat interval (default: the sidecar's own --max-lag, else 5m)",
    },
    ...DEST,
    ...RUN,
    ...COMMON,
  ],

  report: [
    { field: "html", flag: "--html", value: "file", kind: "string", help: "where to write the page (replaced whole, atomically)" },
    {
      field: "upload", flag: "--upload", kind: "boolean",
      help: "also put a copy in the bucket, create-only: <prefix>/_verifications/<name>/status/<UTC time>-<random>.html (without --name: <prefix>/_verifications/_all/status/...); the newest is the last key listed",
    },
    NAME,
    { ...MAX_AGE, help: "the RPO: the newest backup must be younger than this (e.g. 26h)" },
    // report has never read LIFEBOAT_RTO: a status-page job's environment may carry another job's.
    { ...RTO, env: undefined, help: "the declared RTO: the latest verified restore must have taken no longer (e.g. 4h); default none" },
    { field: "trend", flag: "--trend", value: "n", kind: "number", default: "30", help: "newest kept backups plotted per source" },
    MIN_SIZE,
    { ...MAX_SHRINK, help: "a problem when a backup is smaller than the previous by more than this fraction" },
    { ...MAX_TABLE_SHRINK, help: "a problem when a Postgres table lost more than this fraction of its rows since the previous backup" },
    ...DEST,
    ...RUN,
    ...COMMON,
  ],

  replicate: [
    { ...NAME, help: "this source only" },
    { field: "all", flag: "--all", kind: "boolean", help: "every source under --dest" },
    { field: "to", flag: "--to", value: "s3url", kind: "string", env: ENV.replicaDest, help: "replica s3://BUCKET/PREFIX" },
    { field: "toEndpoint", flag: "--to-endpoint", value: "url", kind: "string", env: ENV.replicaEndpoint, help: `replica S3-compatible endpoint ${R2_ENDPOINT}` },
    { field: "toRegion", flag: "--to-region", value: "region", kind: "string", env: ENV.replicaRegion, help: "replica region; `auto` for R2" },
    {
      field: "maxLag", flag: "--max-lag", value: "duration", kind: "string", env: ENV.maxLag, default: "26h",
      help: "alert and exit 1 when the newest backup is older than this and not on the replica (the RPO)",
    },
    { field: "noCopy", flag: "--no-copy", kind: "negated", help: "copy nothing: only compare both sides and report lag" },
    ...DEST,
    ...RUN,
    ...COMMON,
  ],

  "wal-stream": [
    SOURCE_NAME,
    REPLICATION_URL,
    { field: "slot", flag: "--slot", value: "name", kind: "string", env: ENV.walSlot, help: "physical replication slot (default lifeboat_<name>)" },
    {
      field: "spoolDir", flag: "--spool-dir", value: "dir", kind: "string", env: ENV.walSpoolDir,
      help: "local spool for WAL not yet uploaded; keep it on a persistent volume (default <work-dir>/lifeboat-wal-<name>)",
    },
    RECIPIENTS,
    {
      field: "flushInterval", flag: "--flush-interval", value: "duration", kind: "string", env: ENV.walFlushInterval, default: "60s",
      help: "upload the partial segment this often: the recovery point objective",
    },
    {
      field: "maxLag", flag: "--max-lag", value: "duration", kind: "string", env: ENV.walMaxLag,
      help: "alert (measured continuously, also during a slow upload) before the WAL in the bucket is older than this (longer than --flush-interval)",
    },
    { field: "statusIntervalSeconds", flag: "--status-interval", value: "seconds", kind: "number", default: "10", help: "pg_receivewal status interval" },
    ZSTD_LEVEL,
    {
      field: "walRetention", flag: "--wal-retention", value: "days", kind: "string", env: ENV.walRetention,
      help: "S3: lock each WAL object and manifest this many days, e.g. 16d (the bucket's WAL lifecycle rule: the PITR window plus a base-backup interval); with --lock-mode. Default none: the bucket's default retention",
    },
    { ...LOCK_MODE, help: "S3 Object Lock mode of each WAL object, with --wal-retention" },
    {
      field: "onNewTimeline", flag: "--on-new-timeline", value: "action", kind: "string", choices: ["basebackup", "alert"], default: "basebackup",
      help: "when WAL on a new timeline appears (a promotion): basebackup = alert and take a base backup (fast checkpoint, WAL in the tar) with this sidecar's bucket and key; alert = alert only",
    },
    {
      field: "heartbeatInterval", flag: "--heartbeat-interval", value: "duration", kind: "string", env: ENV.walHeartbeatInterval, default: "60s",
      help: "put a heartbeat object (<prefix>/<source>/wal/heartbeat/) this often: remote status tells an idle server from a dead sidecar by it",
    },
    ...DEST,
    ...COMMON,
  ],

  basebackup: [
    { ...NAME, help: "source name: the same as wal-stream's" },
    REPLICATION_URL,
    RECIPIENTS,
    {
      field: "walMethod", flag: "--wal-method", value: "method", kind: "string", choices: ["fetch", "none"], default: "fetch",
      help: "fetch: WAL needed for consistency inside the tar; none: it comes from wal-stream",
    },
    { field: "fastCheckpoint", flag: "--fast-checkpoint", kind: "boolean", help: "start with an immediate checkpoint instead of a spread one" },
    ZSTD_LEVEL,
    ...LOCK,
    ...DEST,
    ...RUN,
    ...COMMON,
  ],

  // PostgreSQL's restore_command during a point-in-time restore; its FILE and PATH are arguments.
  "wal-fetch": [
    { field: "dir", flag: "--dir", value: "dir", kind: "string", required: true, help: "the lifeboat_restore directory that restore wrote into the data directory" },
    { field: "prefetcher", flag: "--prefetch", kind: "boolean", help: "internal: run as the background prefetcher" },
  ],

  "bucket-events": [
    { ...NAME, help: "the bucket source's name (the same as its backup's)" },
    { ...BUCKET_URL, help: "the app bucket s3://APPBUCKET[/PREFIX] (keys LIFEBOAT_BUCKET_ACCESS_KEY_ID/LIFEBOAT_BUCKET_SECRET_ACCESS_KEY)" },
    { ...BUCKET_ENDPOINT, help: "the app bucket's endpoint" },
    { ...BUCKET_REGION, help: "the app bucket's region; `auto` for R2" },
    { field: "queue", flag: "--queue", value: "account/queue", kind: "string", env: ENV.queue, help: "the queue the bucket's notifications go to: ACCOUNT_ID/QUEUE_ID (token LIFEBOAT_QUEUE_TOKEN)" },
    { field: "cloudflareApi", flag: "--cloudflare-api", value: "url", kind: "string", default: "https://api.cloudflare.com/client/v4", help: "Cloudflare API base" },
    RECIPIENTS,
    { ...WINDOW, help: "the restore window (as the backup's)" },
    { field: "pollIntervalSeconds", flag: "--poll-interval", value: "seconds", kind: "number", default: "5", help: "wait this long after an empty pull" },
    ...DEST,
    ...COMMON,
  ],

  // The command to run on a cron follows `--` (scheduleArgs); a job table needs none.
  schedule: [
    { field: "cron", flag: "--cron", value: "expr", kind: "string", help: "cron expression, UTC: 5 fields, or 6 with seconds first" },
    { field: "runAtStart", flag: "--run-at-start", kind: "boolean", help: "also run once at start" },
    { field: "jobsFile", flag: "--jobs", value: "file", kind: "string", env: ENV.jobsFile, help: "job table (JSON): {version: 1, jobs: [{name, cron, argv, env?, runAtStart?, maxAge?}]}" },
    { field: "maxConcurrent", flag: "--max-concurrent", value: "n", kind: "number", env: ENV.maxConcurrent, default: "1", help: "runs at once across all jobs" },
    {
      ...RUN_TIMEOUT,
      help: "each run's default bound (LIFEBOAT_RUN_TIMEOUT in its environment), and a backstop: a run still going this long plus a grace (a minute, or this bound if shorter) is killed, so later runs happen",
    },
    { ...STATE_FILE, help: "runner state file (each job's state, for status --local)" },
  ],
};
