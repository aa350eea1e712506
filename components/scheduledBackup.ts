import * as pulumi from "@pulumi/pulumi";
import { assertCron, formatDuration, formatRetention, NAME_PATTERN, parseDuration, Retention } from "lifeboat-core";
import { bucketJobPolicy, writerPolicy } from "./access/iamDocuments";
import { BackupJob, CONTAINER_PATHS, SECRET_ENV, backupJobArgv, basebackupJobArgv, bucketEventsJobArgv, sourceMount, walStreamJobArgv } from "./schedule/commands";
import { maxAgeFor, toEventBridgeCron } from "./schedule/cron";
import { dockerJobContainer } from "./schedule/docker";
import { HostJob, componentRunner, dockerScheduler } from "./schedule/scheduler";
import { EcsGrants, ecsJobs } from "./schedule/ecs";
import { JobAlertArgs, JobBucketArgs, JobKeyArgs, JobRuntimeArgs, JobTaskRoleArgs, RunnerRuntime, ScheduledSourceKind, jobTaskRole, requireEcsCredentials } from "./schedule/jobArgs";

export type { RunnerRuntime, ScheduledSourceKind } from "./schedule/jobArgs";

/** Default backup schedule (cron, UTC): daily at 03:00. */
export const DEFAULT_BACKUP_SCHEDULE = "0 3 * * *";

export interface ScheduledBackupArgs extends JobRuntimeArgs, JobBucketArgs, JobKeyArgs, JobTaskRoleArgs, JobAlertArgs {
  /** Source name: the key segment under the prefix (lowercase letters, digits, hyphens). */
  sourceName: string;
  /** What to back up. */
  sourceKind: ScheduledSourceKind;
  /** postgres:// or redis:// URL of the source, with its password (secret). Required for postgres and redis. */
  sourceUrl?: pulumi.Input<string>;
  /** Docker volume name (volume sources). Required for volume. */
  volume?: string;
  /** Absolute host path of the directory or SQLite file (directory and sqlite sources). Required for those. */
  path?: string;

  /** age public keys (age1…) every backup is encrypted to. */
  ageRecipients: pulumi.Input<string>[];
  /** When to back up (5-field cron, UTC). @default "0 3 * * *" */
  schedule?: string;
  /** The source's recovery point objective (e.g. `24h`); the policy pack checks the schedule meets it. @default none declared */
  rpo?: string;
  /**
   * postgres on docker: point-in-time recovery. The schedule then takes physical base backups
   * (`basebackup`) and a `wal-stream` sidecar streams WAL continuously, so the recovery point
   * is within `walFlushInterval`. The database needs a replication user (see docs/runbook.md).
   * @default false
   */
  pitr?: boolean;
  /** With pitr: how often the partial WAL segment is uploaded (the worst-case RPO). @default "60s" */
  walFlushInterval?: string;
  /**
   * With pitr: days the bucket keeps (and locks) this source's WAL — the PITR window plus one
   * base-backup interval (`walRetentionDays` in lifeboat-core); pass the same to the
   * BackupBucket's `walRetentionDays`. On S3 with objectLockRetention each WAL object is locked
   * that long. @default none: WAL is kept as the bucket's rules say
   */
  walRetentionDays?: number;
  /** Docker: also back up once whenever the scheduler starts. @default false */
  runAtStart?: boolean;
  /**
   * S3 buckets with Object Lock: lock each backup object and manifest until its tier expires
   * (the bucket's retention), not only for the bucket's default retention (the shortest tier's).
   * Not for R2 (no per-object lock; its bucket-lock rules lock each tier). @default none
   */
  objectLockRetention?: Retention;
  /** With objectLockRetention: the lock mode. @default "COMPLIANCE" */
  objectLockMode?: "GOVERNANCE" | "COMPLIANCE";
  /** With objectLockRetention: lock every tier at least this many days (a source under a compliance prefix). */
  objectLockMinDays?: number;

  /** bucket: the app's bucket, `s3://APPBUCKET[/PREFIX]`. Required for bucket. */
  bucketUrl?: string;
  /** bucket: the app bucket's S3 endpoint (R2's account endpoint). @default the SDK's for bucketRegion */
  bucketEndpoint?: pulumi.Input<string>;
  /** bucket: the app bucket's region, `auto` for R2. */
  bucketRegion?: pulumi.Input<string>;
  /** bucket: the restore window in days, e.g. `30d` (snapshots kept this long, stored copies twice as long). Required for bucket. */
  window?: string;
  /** bucket: the app bucket's read-only key (BackupAccess role `appReader`; secret). Required for bucket. */
  appAccessKeyId?: pulumi.Input<string>;
  appSecretAccessKey?: pulumi.Input<string>;
  /**
   * bucket on R2, docker: consume the app bucket's event notifications (see `BucketEvents`) in a
   * long-running `bucket-events` container beside the scheduler. @default none
   */
  events?: {
    /** `ACCOUNT_ID/QUEUE_ID`. */
    queue: pulumi.Input<string>;
    /** Token that pulls from and acknowledges on the queue (secret). */
    queueToken: pulumi.Input<string>;
  };
}

/** Args that hold secrets; they never reach the component's registered props. */
const SECRET_ARGS = ["sourceUrl", "accessKeyId", "secretAccessKey", "alertWebhookUrl", "healthcheckUrl", "appAccessKeyId", "appSecretAccessKey", "events"] as const;

/** The args minus secrets, with the defaults filled: what the component registers (for policies and `lifeboat plan`). */
function publicProps(args: ScheduledBackupArgs, filled: Record<string, unknown>): Record<string, unknown> {
  const props: Record<string, unknown> = { ...args, ...filled };
  for (const k of SECRET_ARGS) delete props[k];
  return props;
}

/**
 * One source's scheduled backup: `lifeboat-runner backup` on a cron schedule, streaming the
 * source through zstd and age (public keys only) into the bucket with write-only credentials.
 * With `pitr` (postgres on docker) the schedule takes `basebackup`s instead and a `wal-stream`
 * sidecar container ships WAL continuously; a `bucket` source with events on gets a
 * `bucket-events` consumer container beside its snapshots.
 *
 * - docker (default): a `backup` job (see {@link jobs}) in a long-running `lifeboat-runner
 *   schedule --jobs` container: this component's own, or with `dockerScheduler: "host"` the
 *   host's backup scheduler that runs every backup of the host (restart unless-stopped,
 *   healthcheck `status --local` reporting each job, sources mounted read-only, rotated
 *   json-file logs, secrets only in secret env).
 * - ecs: a Fargate task definition running one `backup` per task, started by an EventBridge
 *   Scheduler schedule; task role = the writer, secrets from Secrets Manager, logs in CloudWatch.
 */
export class ScheduledBackup extends pulumi.ComponentResource {
  /** The runner argv of one backup run (after the `lifeboat-runner` entrypoint). */
  readonly command: pulumi.Output<string[]>;
  /** The backup schedule (5-field cron, UTC). */
  readonly schedule: string;
  readonly runtime: RunnerRuntime;
  /** Docker: the container's name on the host. */
  readonly containerName?: pulumi.Output<string>;
  /** ECS: the EventBridge Scheduler expression. */
  readonly scheduleExpression?: string;
  /** ECS: the task definition ARN. */
  readonly taskDefinitionArn?: pulumi.Output<string>;
  /** ECS: the task role ARN (the writer). */
  readonly taskRoleArn?: pulumi.Output<string>;
  /** ECS: the CloudWatch log group. */
  readonly logGroupName?: pulumi.Output<string>;
  /** ECS: what the environment's shared roles must allow for this job (see `ecsShared`). */
  readonly ecsGrants?: EcsGrants;
  /** pitr: the WAL sidecar's command line. */
  readonly walStreamCommand?: pulumi.Output<string[]>;
  /** pitr: the WAL sidecar's container name. */
  readonly walStreamContainerName?: pulumi.Output<string>;
  /** bucket with events: the events consumer's command line and container name. */
  readonly bucketEventsCommand?: pulumi.Output<string[]>;
  readonly bucketEventsContainerName?: pulumi.Output<string>;
  /** Docker: the job a scheduler runs (this component's own, or with `dockerScheduler: "host"` the host's backup scheduler). */
  readonly jobs: HostJob[] = [];

  constructor(name: string, args: ScheduledBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const runtime = args.runtime ?? "docker";
    const schedule = args.schedule ?? DEFAULT_BACKUP_SCHEDULE;
    const prefix = args.prefix ?? "backups";
    super("lifeboat:index:ScheduledBackup", name, publicProps(args, { runtime, schedule, prefix }), opts);
    this.runtime = runtime;
    this.schedule = schedule;

    const fail = (msg: string) => new pulumi.ResourceError(`ScheduledBackup ${name}: ${msg}`, this);
    if (!NAME_PATTERN.test(args.sourceName)) throw fail(`sourceName ${JSON.stringify(args.sourceName)} must match ${NAME_PATTERN}`);
    try {
      assertCron(schedule);
    } catch (e) {
      throw fail(`schedule ${(e as Error).message}`);
    }
    if (args.rpo !== undefined) {
      try {
        parseDuration(args.rpo);
      } catch (e) {
        throw fail(`rpo ${(e as Error).message}`);
      }
    }
    const walFlushInterval = args.walFlushInterval ?? "60s";
    if (args.pitr) {
      if (args.sourceKind !== "postgres") throw fail(`pitr is for postgres sources, not ${args.sourceKind}`);
      if (runtime !== "docker") throw fail("pitr needs runtime docker: the WAL sidecar runs continuously, and ECS jobs here are scheduled tasks");
      if (args.walRetentionDays !== undefined && !(Number.isInteger(args.walRetentionDays) && args.walRetentionDays >= 1)) {
        throw fail(`walRetentionDays must be a whole number of days >= 1, got ${args.walRetentionDays}`);
      }
      try {
        parseDuration(walFlushInterval);
      } catch (e) {
        throw fail(`walFlushInterval ${(e as Error).message}`);
      }
    }
    const networked = args.sourceKind === "postgres" || args.sourceKind === "redis";
    if (networked && args.sourceUrl === undefined) throw fail(`a ${args.sourceKind} source needs sourceUrl`);
    if (!args.ageRecipients.length) throw fail("needs at least one age recipient (age1…)");
    if ((args.accessKeyId === undefined) !== (args.secretAccessKey === undefined)) throw fail("give accessKeyId and secretAccessKey together");
    let mount;
    try {
      mount = sourceMount(args.sourceKind, args.sourceName, args);
    } catch (e) {
      throw fail((e as Error).message);
    }

    const bucketSource = args.sourceKind === "bucket";
    if (bucketSource) {
      if (!args.bucketUrl || !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9._/-]*)?$/.test(args.bucketUrl)) {
        throw fail(`a bucket source needs bucketUrl, s3://APPBUCKET[/PREFIX], got ${JSON.stringify(args.bucketUrl)}`);
      }
      if (args.window === undefined || !/^\d+[dw]$/.test(args.window)) throw fail(`a bucket source needs window in whole days or weeks, such as 30d, got ${JSON.stringify(args.window)}`);
      if (args.appAccessKeyId === undefined || args.appSecretAccessKey === undefined) throw fail("a bucket source needs appAccessKeyId and appSecretAccessKey (the app bucket's read-only key)");
      if (args.objectLockRetention) throw fail("objectLockRetention is for tiered sources: a bucket source locks each object from its window (give objectLockMode)");
      if (args.events && runtime !== "docker") throw fail("events need runtime docker: the events consumer runs continuously, and ECS jobs here are scheduled tasks");
    } else if (args.bucketUrl !== undefined || args.window !== undefined || args.events !== undefined) {
      throw fail(`bucketUrl, window and events are for bucket sources, not ${args.sourceKind}`);
    }
    if (args.objectLockRetention && args.region === "auto") throw fail("objectLockRetention is for S3: R2 has no per-object lock (its bucket-lock rules lock each tier)");
    const lockMode = (args.objectLockMode === "GOVERNANCE" ? "governance" : "compliance") as "governance" | "compliance";
    const lock = args.objectLockRetention
      ? { retention: formatRetention(args.objectLockRetention, args.objectLockMinDays ?? 0), lockMode }
      // S3 (not R2, which locks by bucket rules): the runner locks each object until it expires, from the window.
      : bucketSource && args.objectLockMode && args.region !== "auto" ? { lockMode } : {};

    const secrets: Record<string, pulumi.Input<string>> = {};
    const put = (k: keyof typeof SECRET_ENV, v: pulumi.Input<string> | undefined) => {
      if (v !== undefined) secrets[SECRET_ENV[k]] = v;
    };
    put("sourceUrl", args.sourceUrl);
    put("accessKeyId", args.accessKeyId);
    put("secretAccessKey", args.secretAccessKey);
    put("alertWebhookUrl", args.alertWebhookUrl);
    put("pingUrl", args.healthcheckUrl);
    put("bucketAccessKeyId", args.appAccessKeyId);
    put("bucketSecretAccessKey", args.appSecretAccessKey);

    const job = (stateFile?: string) =>
      pulumi.all([pulumi.output(args.bucketName), pulumi.output(prefix), pulumi.output(args.endpoint), pulumi.output(args.region), pulumi.all(args.ageRecipients), pulumi.output(args.bucketEndpoint), pulumi.output(args.bucketRegion)])
        .apply(([bucket, p, endpoint, region, recipients, bucketEndpoint, bucketRegion]): BackupJob => ({
          source: args.sourceKind,
          name: args.sourceName,
          ...(mount ? { path: mount.path } : {}),
          recipients,
          bucket,
          prefix: p,
          ...(endpoint ? { endpoint } : {}),
          ...(region ? { region } : {}),
          ...(stateFile ? { stateFile } : {}),
          ...lock,
          ...(bucketSource ? { bucketUrl: args.bucketUrl!, window: args.window!, ...(bucketEndpoint ? { bucketEndpoint } : {}), ...(bucketRegion ? { bucketRegion } : {}) } : {}),
        }));

    if (runtime === "docker") {
      const backupJob = job(CONTAINER_PATHS.stateFile);
      this.command = backupJob.apply(args.pitr ? basebackupJobArgv : backupJobArgv);
      this.jobs = [{
        name: `backup-${args.sourceName}`,
        cron: schedule,
        argv: this.command,
        secrets,
        maxAge: maxAgeFor(schedule),
        ...(args.runAtStart ? { runAtStart: true } : {}),
        ...(mount ? { mounts: [mount] } : {}),
      }];
      const host = args.dockerScheduler === "host";
      const runner = host && !args.pitr && !args.events ? undefined : componentRunner(name, args, this);
      if (args.pitr) {
        // Lag alerts fire past the RPO, but never before one flush interval has had time to upload.
        const flush = parseDuration(walFlushInterval);
        const maxLag = formatDuration(Math.max(args.rpo ? parseDuration(args.rpo) : 0, flush + 60));
        this.walStreamCommand = backupJob.apply((j) => walStreamJobArgv(j, { flushInterval: walFlushInterval, maxLag, walRetentionDays: args.walRetentionDays }));
        // Continuous, not scheduled: the WAL sidecar stays a container of its own.
        const sidecar = dockerJobContainer(name, args, runner!, {
          role: "wal-stream",
          source: args.sourceName,
          command: this.walStreamCommand,
          secretEnv: pulumi.all(secrets),
          // The spool lives on this volume: segments survive a restart until they are uploaded.
          stateVolume: true,
        }, this);
        this.walStreamContainerName = sidecar.name;
      }
      if (args.events) {
        const events = args.events;
        this.bucketEventsCommand = pulumi.all([backupJob, pulumi.output(events.queue)]).apply(([j, queue]) =>
          bucketEventsJobArgv({ ...j, bucketUrl: j.bucketUrl! }, queue));
        // Continuous, like the WAL sidecar: the writer key, the app bucket's read key, the webhook and the queue
        // token; not the backup's healthcheck URL (the consumer pinging it would mask a missed snapshot).
        const { [SECRET_ENV.pingUrl]: _ping, ...eventSecrets } = secrets;
        const consumer = dockerJobContainer(name, args, runner ?? componentRunner(name, args, this), {
          role: "bucket-events",
          source: args.sourceName,
          command: this.bucketEventsCommand,
          secretEnv: pulumi.all({ ...eventSecrets, [SECRET_ENV.queueToken]: events.queueToken }),
        }, this);
        this.bucketEventsContainerName = consumer.name;
      }
      if (!host) this.containerName = dockerScheduler(name, "backup", args, runner!, this.jobs, this).name;
    } else {
      if (mount) throw fail(`runtime ecs cannot reach a ${args.sourceKind} on a Docker host; use runtime docker for volumes, directories and SQLite files`);
      this.command = job().apply(backupJobArgv);
      this.scheduleExpression = toEventBridgeCron(schedule);
      const taskRole = jobTaskRole(args, (bucketArn, kmsKeyArn) =>
        pulumi.output(prefix).apply((p) => JSON.stringify((bucketSource ? bucketJobPolicy : writerPolicy)({ bucketArn, prefix: p, source: args.sourceName, ...(kmsKeyArn ? { kmsKeyArn } : {}) }))));
      requireEcsCredentials(taskRole, args, "writer", fail);
      const ecs = ecsJobs(name, args, [{ role: "backup", cron: schedule, command: this.command, secretEnv: Object.fromEntries(Object.keys(secrets).map((k) => [k, k])) }], secrets, taskRole, this);
      this.taskDefinitionArn = ecs.taskDefinitions["backup"]!.arn;
      if (ecs.taskRoleArn) this.taskRoleArn = ecs.taskRoleArn;
      this.logGroupName = ecs.logGroupName;
      this.ecsGrants = ecs.grants;
    }

    this.registerOutputs({
      command: this.command,
      schedule: this.schedule,
      runtime: this.runtime,
      ...(this.containerName ? { containerName: this.containerName } : {}),
      ...(this.walStreamContainerName ? { walStreamContainerName: this.walStreamContainerName, walStreamCommand: this.walStreamCommand } : {}),
      ...(this.bucketEventsContainerName ? { bucketEventsContainerName: this.bucketEventsContainerName, bucketEventsCommand: this.bucketEventsCommand } : {}),
      ...(this.scheduleExpression ? { scheduleExpression: this.scheduleExpression } : {}),
      ...(this.taskDefinitionArn ? { taskDefinitionArn: this.taskDefinitionArn } : {}),
      ...(this.taskRoleArn ? { taskRoleArn: this.taskRoleArn } : {}),
      ...(this.logGroupName ? { logGroupName: this.logGroupName } : {}),
    });
  }
}
