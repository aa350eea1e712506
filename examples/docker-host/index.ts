// Backups from one Docker host to Cloudflare R2: a Postgres database and the n8n data volume,
// each in its own scheduler container, plus a weekly restore drill and an hourly health check
// (two jobs of one scheduler container). `DisasterRecovery` runs every job of a host in two.
import * as pulumi from "@pulumi/pulumi";
import { BackupBucket, ScheduledBackup, ScheduledVerification } from "lifeboat";

const config = new pulumi.Config();
const dockerHost = config.require("dockerHost"); // ssh://backup@app-host
const accountId = config.require("accountId");
const ageRecipient = config.require("ageRecipient"); // age1… (public: the host can write, never read)

const bucket = new BackupBucket("app-backups", { provider: "r2", accountId, sources: ["app-db", "n8n-data"] });
const destination = { bucketName: bucket.bucketName, prefix: bucket.prefix, endpoint: bucket.endpoint, region: bucket.region };

// An R2 API token scoped to the bucket, as S3 keys (`pulumi config set --secret`).
// BackupAccess can create and rotate these for you.
const writer = { accessKeyId: config.requireSecret("writerAccessKeyId"), secretAccessKey: config.requireSecret("writerSecretAccessKey") };
const restorer = { accessKeyId: config.requireSecret("restorerAccessKeyId"), secretAccessKey: config.requireSecret("restorerSecretAccessKey") };
const alertWebhookUrl = config.getSecret("slackWebhookUrl");
const runtime = { dockerHost, network: "app-net", labels: { app: "crm" } };

new ScheduledBackup("app-db", {
  sourceName: "app-db",
  sourceKind: "postgres",
  sourceUrl: config.requireSecret("databaseUrl"), // postgres://user:password@postgres:5432/app
  ...destination,
  ...writer,
  ageRecipients: [ageRecipient],
  schedule: "0 3 * * *",
  ...(alertWebhookUrl ? { alertWebhookUrl } : {}),
  ...runtime,
});

new ScheduledBackup("n8n-data", {
  sourceName: "n8n-data",
  sourceKind: "volume",
  volume: "n8n_data", // mounted read-only into the runner
  ...destination,
  ...writer,
  ageRecipients: [ageRecipient],
  schedule: "30 3 * * *",
  ...(alertWebhookUrl ? { alertWebhookUrl } : {}),
  ...runtime,
});

const drill = new ScheduledVerification("app-db-drill", {
  sourceName: "app-db",
  sourceKind: "postgres",
  ...destination,
  ...restorer,
  ageIdentity: config.requireSecret("ageIdentity"), // AGE-SECRET-KEY-1…, uploaded as a file
  scratchUrl: config.requireSecret("scratchUrl"), // a server where the drill may CREATE/DROP DATABASE
  schedule: "0 5 * * 0", // Sundays 05:00 UTC
  backupSchedule: "0 3 * * *", // an hourly status check alerts when a backup is overdue, small or shrunk
  ...(alertWebhookUrl ? { alertWebhookUrl } : {}),
  ...runtime,
});

export const bucketName = bucket.bucketName;
export const drillContainer = drill.containerName;
