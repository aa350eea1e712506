import * as pulumi from "@pulumi/pulumi";
import { NAME_PATTERN, assertCron } from "lifeboat-core";
import { restorerPolicy } from "./access/iamDocuments";
import { CONTAINER_PATHS, SECRET_ENV, StatusJob, VerifyJob, reportJobArgv, statusJobArgv, verifyJobArgv } from "./schedule/commands";
import { maxAgeFor, toEventBridgeCron } from "./schedule/cron";
import { HostJob, componentRunner, dockerScheduler } from "./schedule/scheduler";
import { AGE_IDENTITY_ENV, ECS_IDENTITY_FILE, EcsGrants, ecsJobs } from "./schedule/ecs";
import { JobAlertArgs, JobBucketArgs, JobKeyArgs, JobRuntimeArgs, JobTaskRoleArgs, RunnerRuntime, ScheduledSourceKind, jobTaskRole, requireEcsCredentials } from "./schedule/jobArgs";
import { DEFAULT_BACKUP_SCHEDULE } from "./scheduledBackup";

/** Default restore-drill schedule (cron, UTC): Sundays at 05:00. */
export const DEFAULT_VERIFY_SCHEDULE = "0 5 * * 0";
/** Default health-check schedule (cron, UTC): hourly. */
export const DEFAULT_STATUS_SCHEDULE = "0 * * * *";

export interface ScheduledVerificationArgs extends JobRuntimeArgs, JobBucketArgs, JobKeyArgs, JobTaskRoleArgs, JobAlertArgs {
  /** Source name whose backups are verified. */
  sourceName: string;
  /** The source's kind (postgres drills restore into a scratch database). */
  sourceKind: ScheduledSourceKind;

  /** The age private key, AGE-SECRET-KEY-1… (secret): a file in the verify container, never on a command line. */
  ageIdentity: pulumi.Input<string>;
  /** PostgreSQL URL of a server where drills create and drop a scratch database (secret). Required for postgres. */
  scratchUrl?: pulumi.Input<string>;

  /** Restore-drill schedule (5-field cron, UTC). @default "0 5 * * 0" */
  schedule?: string;
  /** Health-check (overdue, small, shrunk, failed verification) schedule. @default "0 * * * *" */
  statusSchedule?: string;
  /** The source's backup schedule, from which the health check's --max-age follows. @default "0 3 * * *" */
  backupSchedule?: string;
  /** Newest backup must be younger than this (e.g. 26h). @default the backup schedule's longest gap plus 1h */
  maxAge?: string;
  /** Size floor for the newest backup, e.g. 1m. @default the runner's (1m for postgres) */
  minBackupSize?: string;
  /** Alert when a backup is smaller than the previous by more than this fraction. @default 0.5 */
  maxShrink?: number;
  /** Alert when a Postgres table lost more than this fraction of its rows since the previous backup. @default the runner's (0.5) */
  maxTableShrink?: number;
  /** The source's declared RTO (e.g. 4h): status alerts when drills take, near or trend over it. @default none */
  rto?: string;
  /** Postgres: the drill fails when the newest `column` (`schema.table.column`) value is older than `within` before the backup. @default none */
  freshness?: { column: string; within: string };
  /** Postgres: SQL queries the drill runs read-only in the restored database; each must return one row whose first value is true. @default none */
  assertions?: { name: string; sql: string }[];

  /** Healthcheck ping base URL for the hourly status check (secret). @default none */
  statusHealthcheckUrl?: pulumi.Input<string>;
}

const SECRET_ARGS = ["accessKeyId", "secretAccessKey", "ageIdentity", "scratchUrl", "alertWebhookUrl", "healthcheckUrl", "statusHealthcheckUrl"] as const;

/**
 * One source's scheduled verification: a restore drill (`lifeboat-runner verify`: checksum,
 * decrypt, restore into a scratch database, compare row counts with the manifest) on its own
 * schedule, holding the restorer credentials and the age identity; and `lifeboat-runner status`
 * on a short schedule (hourly by default) so an overdue, small or shrunken backup alerts within
 * the hour rather than at the next drill.
 *
 * Two jobs, on the same runtimes as {@link ScheduledBackup}: two jobs of one `schedule --jobs`
 * container on a Docker host (its own, or the host's verify side), or two Fargate task
 * definitions on EventBridge Scheduler.
 */
export class ScheduledVerification extends pulumi.ComponentResource {
  /** The runner argv of one drill. */
  readonly verifyCommand: pulumi.Output<string[]>;
  /** The runner argv of one health check. */
  readonly statusCommand: pulumi.Output<string[]>;
  /** The runner argv that writes the status page (on the status schedule): to the state volume and a copy in the bucket. */
  readonly reportCommand: pulumi.Output<string[]>;
  readonly schedule: string;
  readonly statusSchedule: string;
  /** The health check's --max-age. */
  readonly maxAge: string;
  readonly runtime: RunnerRuntime;
  /** ECS: EventBridge Scheduler expressions of the drill and the health check. */
  readonly scheduleExpressions?: { verify: string; status: string };
  /** ECS: task definition ARNs. */
  readonly taskDefinitionArns?: { verify: pulumi.Output<string>; status: pulumi.Output<string> };
  /** ECS: the task role ARN (the restorer). */
  readonly taskRoleArn?: pulumi.Output<string>;
  /** ECS: what the environment's shared roles must allow for these jobs (see `ecsShared`). */
  readonly ecsGrants?: EcsGrants;
  /** Docker: the scheduler container running both jobs (none with `dockerScheduler: "host"`). */
  readonly containerName?: pulumi.Output<string>;
  /** Docker: the drill and the health check, as jobs of a scheduler (its own, or the host's verify side). */
  readonly jobs: HostJob[] = [];

  constructor(name: string, args: ScheduledVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    const runtime = args.runtime ?? "docker";
    const schedule = args.schedule ?? DEFAULT_VERIFY_SCHEDULE;
    const statusSchedule = args.statusSchedule ?? DEFAULT_STATUS_SCHEDULE;
    const backupSchedule = args.backupSchedule ?? DEFAULT_BACKUP_SCHEDULE;
    const prefix = args.prefix ?? "backups";
    const fail = (msg: string) => new Error(`ScheduledVerification ${name}: ${msg}`);
    for (const [key, expr] of [["schedule", schedule], ["statusSchedule", statusSchedule], ["backupSchedule", backupSchedule]] as const) {
      try {
        assertCron(expr);
      } catch (e) {
        throw fail(`${key} ${(e as Error).message}`);
      }
    }
    const maxAge = args.maxAge ?? maxAgeFor(backupSchedule);
    const props: Record<string, unknown> = { ...args, runtime, schedule, statusSchedule, backupSchedule, maxAge, prefix };
    for (const k of SECRET_ARGS) delete props[k];
    super("lifeboat:index:ScheduledVerification", name, props, opts);
    this.runtime = runtime;
    this.schedule = schedule;
    this.statusSchedule = statusSchedule;
    this.maxAge = maxAge;

    if (!NAME_PATTERN.test(args.sourceName)) throw fail(`sourceName ${JSON.stringify(args.sourceName)} must match ${NAME_PATTERN}`);
    if (args.sourceKind === "postgres" && args.scratchUrl === undefined) throw fail("a postgres source needs scratchUrl, where the drill restores");
    if ((args.accessKeyId === undefined) !== (args.secretAccessKey === undefined)) throw fail("give accessKeyId and secretAccessKey together");
    if (args.sourceKind !== "postgres" && (args.freshness || args.assertions?.length)) throw fail("freshness and assertions check a restored PostgreSQL database: only for a postgres source");
    const checked = { ...(args.rto !== undefined ? { rto: args.rto } : {}), ...(args.freshness ? { freshness: args.freshness } : {}), ...(args.assertions ? { assertions: args.assertions } : {}) };

    const destination = pulumi.all([pulumi.output(args.bucketName), pulumi.output(prefix), pulumi.output(args.endpoint), pulumi.output(args.region)])
      .apply(([bucket, p, endpoint, region]) => ({ bucket, prefix: p, ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}) }));
    const identityPath = runtime === "ecs" ? ECS_IDENTITY_FILE : CONTAINER_PATHS.identity;
    this.verifyCommand = destination.apply((d) => verifyJobArgv({ ...d, name: args.sourceName, identity: identityPath, ...checked } satisfies VerifyJob));
    const statusJob = destination.apply((d) => ({
      ...d,
      name: args.sourceName,
      maxAge,
      ...(args.minBackupSize !== undefined ? { minSize: args.minBackupSize } : {}),
      ...(args.maxShrink !== undefined ? { maxShrink: args.maxShrink } : {}),
      ...(args.maxTableShrink !== undefined ? { maxTableShrink: args.maxTableShrink } : {}),
      ...(args.rto !== undefined ? { rto: args.rto } : {}),
    } satisfies StatusJob));
    this.statusCommand = statusJob.apply(statusJobArgv);
    this.reportCommand = statusJob.apply(reportJobArgv);

    // Shared by both jobs: restorer keys, the alert webhook. The drill alone: scratch URL, its ping, the identity.
    const shared: Record<string, pulumi.Input<string>> = {};
    const verifyOnly: Record<string, pulumi.Input<string>> = {};
    const statusOnly: Record<string, pulumi.Input<string>> = {};
    const put = (into: Record<string, pulumi.Input<string>>, k: keyof typeof SECRET_ENV, v: pulumi.Input<string> | undefined) => {
      if (v !== undefined) into[SECRET_ENV[k]] = v;
    };
    put(shared, "accessKeyId", args.accessKeyId);
    put(shared, "secretAccessKey", args.secretAccessKey);
    const keysOnly = { ...shared };
    put(shared, "alertWebhookUrl", args.alertWebhookUrl);
    put(verifyOnly, "scratchUrl", args.scratchUrl);
    put(verifyOnly, "pingUrl", args.healthcheckUrl);
    put(statusOnly, "pingUrl", args.statusHealthcheckUrl);

    if (runtime === "docker") {
      this.jobs = [
        {
          name: `verify-${args.sourceName}`, cron: schedule, argv: this.verifyCommand, secrets: { ...shared, ...verifyOnly },
          maxAge: maxAgeFor(schedule), identity: args.ageIdentity,
        },
        { name: `status-${args.sourceName}`, cron: statusSchedule, argv: this.statusCommand, secrets: { ...shared, ...statusOnly }, maxAge: maxAgeFor(statusSchedule) },
        // The page is kept current with the health check; status alerts and pings, the page only shows.
        { name: `report-${args.sourceName}`, cron: statusSchedule, argv: this.reportCommand, secrets: keysOnly, maxAge: maxAgeFor(statusSchedule) },
      ];
      if (args.dockerScheduler !== "host") this.containerName = dockerScheduler(name, "verify", args, componentRunner(name, args, this), this.jobs, this).name;
    } else {
      const taskRole = jobTaskRole(args, (bucketArn, kmsKeyArn) =>
        pulumi.output(prefix).apply((p) => JSON.stringify(restorerPolicy({ bucketArn, prefix: p, source: args.sourceName, ...(kmsKeyArn ? { kmsKeyArn } : {}) }))));
      requireEcsCredentials(taskRole, args, "restorer", fail);
      // One Secrets Manager secret holds every value; the two ping URLs need distinct keys in it.
      const STATUS_PING_KEY = "STATUS_PING_URL";
      const same = (m: Record<string, unknown>) => Object.fromEntries(Object.keys(m).map((k) => [k, k]));
      const statusSecrets = Object.fromEntries(Object.entries(statusOnly).map(([k, v]) => [k === SECRET_ENV.pingUrl ? STATUS_PING_KEY : k, v]));
      const secrets = { ...shared, ...verifyOnly, ...statusSecrets, [AGE_IDENTITY_ENV]: args.ageIdentity };
      this.scheduleExpressions = { verify: toEventBridgeCron(schedule), status: toEventBridgeCron(statusSchedule) };
      const ecs = ecsJobs(name, args, [
        { role: "verify", cron: schedule, command: this.verifyCommand, secretEnv: { ...same(shared), ...same(verifyOnly), [AGE_IDENTITY_ENV]: AGE_IDENTITY_ENV }, identityFile: true },
        {
          role: "status",
          cron: statusSchedule,
          command: this.statusCommand,
          secretEnv: { ...same(shared), ...(statusOnly[SECRET_ENV.pingUrl] !== undefined ? { [SECRET_ENV.pingUrl]: STATUS_PING_KEY } : {}) },
        },
        // No state volume on Fargate: the page's copy in the bucket is the one to read.
        { role: "report", cron: statusSchedule, command: this.reportCommand, secretEnv: same(keysOnly) },
      ], secrets, taskRole, this);
      this.taskDefinitionArns = { verify: ecs.taskDefinitions["verify"]!.arn, status: ecs.taskDefinitions["status"]!.arn };
      this.ecsGrants = ecs.grants;
      if (ecs.taskRoleArn) this.taskRoleArn = ecs.taskRoleArn;
    }

    this.registerOutputs({
      verifyCommand: this.verifyCommand,
      statusCommand: this.statusCommand,
      reportCommand: this.reportCommand,
      schedule,
      statusSchedule,
      maxAge,
      runtime,
      ...(this.scheduleExpressions ? { scheduleExpressions: this.scheduleExpressions } : {}),
      ...(this.taskDefinitionArns ? { taskDefinitionArns: this.taskDefinitionArns } : {}),
      ...(this.taskRoleArn ? { taskRoleArn: this.taskRoleArn } : {}),
      ...(this.containerName ? { containerName: this.containerName } : {}),
    });
  }
}
