// Postgres backups as Fargate tasks on EventBridge Scheduler (no long-running service), into an
// S3 bucket with object lock and its own KMS key. The task roles are the least-privilege
// writer and restorer policies; secrets live in Secrets Manager.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BackupBucket, ScheduledBackup, ScheduledVerification } from "lifeboat";

const config = new pulumi.Config();
const region = aws.config.region ?? "eu-west-1";
const runtime = {
  runtime: "ecs" as const,
  clusterArn: config.require("clusterArn"),
  subnetIds: config.requireObject<string[]>("subnetIds"),
  securityGroupIds: [config.require("securityGroupId")],
  ecsRegion: region,
  logRetentionDays: 90,
};

const bucket = new BackupBucket("crm-backups", { provider: "s3", region, sources: ["crm-db"] });
const destination = {
  bucketName: bucket.bucketName,
  prefix: bucket.prefix,
  endpoint: bucket.endpoint,
  region: bucket.region,
  // The task roles get writerPolicy / restorerPolicy for this bucket, prefix and source.
  bucketArn: bucket.arn!,
  kmsKeyArn: bucket.kmsKeyArn!,
};
const alertWebhookUrl = config.getSecret("slackWebhookUrl");

const backup = new ScheduledBackup("crm-db", {
  sourceName: "crm-db",
  sourceKind: "postgres",
  sourceUrl: config.requireSecret("databaseUrl"),
  ...destination,
  ageRecipients: [config.require("ageRecipient")],
  schedule: "0 */6 * * *", // every six hours: cron(0 0/6 * * ? *) on EventBridge
  ...(alertWebhookUrl ? { alertWebhookUrl } : {}),
  ...runtime,
});

const drill = new ScheduledVerification("crm-db-drill", {
  sourceName: "crm-db",
  sourceKind: "postgres",
  ...destination,
  ageIdentity: config.requireSecret("ageIdentity"),
  scratchUrl: config.requireSecret("scratchUrl"),
  schedule: "0 5 * * 0",
  backupSchedule: "0 */6 * * *",
  ...(alertWebhookUrl ? { alertWebhookUrl } : {}),
  ...runtime,
});

export const backupTaskDefinition = backup.taskDefinitionArn;
export const backupSchedule = backup.scheduleExpression;
export const drillSchedules = drill.scheduleExpressions;
