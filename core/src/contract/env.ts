/**
 * Environment variables the runner reads, by flag. The Pulumi components pass secrets
 * (source URLs, webhook URLs, S3 keys) through these rather than on the command line.
 */
export const ENV = {
  dest: "LIFEBOAT_DEST",
  endpoint: "LIFEBOAT_S3_ENDPOINT",
  region: "AWS_REGION",
  recipients: "LIFEBOAT_AGE_RECIPIENTS",
  identity: "LIFEBOAT_AGE_IDENTITY_FILE",
  url: "LIFEBOAT_SOURCE_URL",
  path: "LIFEBOAT_SOURCE_PATH",
  localDir: "LIFEBOAT_LOCAL_DIR",
  keepLocal: "LIFEBOAT_KEEP_LOCAL",
  alertWebhook: "LIFEBOAT_ALERT_WEBHOOK",
  pingUrl: "LIFEBOAT_PING_URL",
  stateFile: "LIFEBOAT_STATE_FILE",
  workDir: "LIFEBOAT_WORK_DIR",
  scratchUrl: "LIFEBOAT_SCRATCH_URL",
  targetUrl: "LIFEBOAT_TARGET_URL",
  accessKeyId: "AWS_ACCESS_KEY_ID",
  secretAccessKey: "AWS_SECRET_ACCESS_KEY",
  /** replicate: the replica side, with its own identity (R2 <-> S3 pairs use two). */
  replicaDest: "LIFEBOAT_REPLICA_DEST",
  replicaEndpoint: "LIFEBOAT_REPLICA_S3_ENDPOINT",
  replicaRegion: "LIFEBOAT_REPLICA_REGION",
  replicaAccessKeyId: "LIFEBOAT_REPLICA_ACCESS_KEY_ID",
  replicaSecretAccessKey: "LIFEBOAT_REPLICA_SECRET_ACCESS_KEY",
  replicaSessionToken: "LIFEBOAT_REPLICA_SESSION_TOKEN",
  maxLag: "LIFEBOAT_REPLICA_MAX_LAG",
  /** wal-stream: physical replication slot, local spool directory, partial flush interval, upload lag alert. */
  walSlot: "LIFEBOAT_WAL_SLOT",
  walSpoolDir: "LIFEBOAT_WAL_SPOOL_DIR",
  walFlushInterval: "LIFEBOAT_WAL_FLUSH_INTERVAL",
  walMaxLag: "LIFEBOAT_WAL_MAX_LAG",
  /** wal-stream on S3: days each WAL object is locked (with LIFEBOAT_LOCK_MODE). */
  walRetention: "LIFEBOAT_WAL_RETENTION",
  walHeartbeatInterval: "LIFEBOAT_WAL_HEARTBEAT_INTERVAL",
  /** schedule: the job table file, and how many runs at once. */
  jobsFile: "LIFEBOAT_JOBS_FILE",
  maxConcurrent: "LIFEBOAT_MAX_CONCURRENT",
  /** The whole run's bound (every command that runs to an end; schedule's backstop too). */
  runTimeout: "LIFEBOAT_RUN_TIMEOUT",
  /** backup/basebackup: per-object S3 Object Lock. */
  retention: "LIFEBOAT_RETENTION",
  lockMode: "LIFEBOAT_LOCK_MODE",
  /** backup --source bucket / bucket-events: the app's bucket, its endpoint and region, the restore window, its read-only key (secret). */
  bucketUrl: "LIFEBOAT_BUCKET_URL",
  bucketEndpoint: "LIFEBOAT_BUCKET_ENDPOINT",
  bucketRegion: "LIFEBOAT_BUCKET_REGION",
  bucketWindow: "LIFEBOAT_BUCKET_WINDOW",
  bucketAccessKeyId: "LIFEBOAT_BUCKET_ACCESS_KEY_ID",
  bucketSecretAccessKey: "LIFEBOAT_BUCKET_SECRET_ACCESS_KEY",
  /** bucket-events: the Cloudflare Queue (`ACCOUNT_ID/QUEUE_ID`) and the token that pulls from it (secret). */
  queue: "LIFEBOAT_QUEUE",
  queueToken: "LIFEBOAT_QUEUE_TOKEN",
  /** status: the share of a table's rows it may lose between two backups. */
  maxTableShrink: "LIFEBOAT_MAX_TABLE_SHRINK",
  /** verify and status: the source's declared RTO (restore drill times are judged against it). */
  rto: "LIFEBOAT_RTO",
  /** verify: the seed of the older backup's random choice. */
  drillSeed: "LIFEBOAT_DRILL_SEED",
  /** verify (postgres): the freshness check's column and window, and the SQL assertions (a JSON array of {name, sql}). */
  freshnessColumn: "LIFEBOAT_FRESHNESS_COLUMN",
  freshnessWithin: "LIFEBOAT_FRESHNESS_WITHIN",
  assertions: "LIFEBOAT_ASSERTIONS",
  /** restore --source bucket: the target bucket's identity (default: the app bucket's). */
  targetAccessKeyId: "LIFEBOAT_TARGET_ACCESS_KEY_ID",
  targetSecretAccessKey: "LIFEBOAT_TARGET_SECRET_ACCESS_KEY",
} as const;
