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
} as const;
