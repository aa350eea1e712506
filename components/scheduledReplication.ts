import * as pulumi from "@pulumi/pulumi";
import { assertCron, humanDuration, parseDuration, worstCaseIntervalSeconds } from "lifeboat-core";
import { replicatorPolicy } from "./access/iamDocuments";
import { replicatorSide } from "./backupAccess";
import { JobDestination, ReplicateJob, SECRET_ENV, replicateJobArgv } from "./schedule/commands";
import { maxAgeFor, toEventBridgeCron } from "./schedule/cron";
import { HostJob, componentRunner, dockerScheduler } from "./schedule/scheduler";
import { EcsGrants, ecsJobs } from "./schedule/ecs";
import { JobAlertArgs, JobBucketArgs, JobKeyArgs, JobRuntimeArgs, JobTaskRoleArgs, RunnerRuntime, jobTaskRole, requireEcsCredentials } from "./schedule/jobArgs";

/** Default replication schedule (cron, UTC): hourly. */
export const DEFAULT_REPLICATE_SCHEDULE = "0 * * * *";
/** Default lag alert threshold: the runner's own `--max-lag` default. */
export const DEFAULT_REPLICATION_RPO = "26h";

/** Stand-in replica ARN when only the source side of the replicator policy is wanted (replica on R2, with its own keys). */
const R2_REPLICA_PLACEHOLDER_ARN = "arn:aws:s3:::lifeboat-r2-replica-placeholder";

export interface ScheduledReplicationArgs extends JobRuntimeArgs, JobBucketArgs, JobKeyArgs, JobTaskRoleArgs, JobAlertArgs {
  /** Replica bucket the backups are copied to. */
  replicaBucketName: pulumi.Input<string>;
  /** Key prefix inside the replica bucket. @default the source prefix */
  replicaPrefix?: pulumi.Input<string>;
  /** Replica S3 API endpoint. @default the SDK's for replicaRegion */
  replicaEndpoint?: pulumi.Input<string>;
  /** Replica bucket region, `auto` for R2 (then replicaEndpoint is required). @default "us-east-1" (the runner's) */
  replicaRegion?: pulumi.Input<string>;

  /** Replica-side (list + put) S3 access key id (secret), LIFEBOAT_REPLICA_ACCESS_KEY_ID. @default the source side's identity */
  replicaAccessKeyId?: pulumi.Input<string>;
  /** Replica-side S3 secret access key (secret). Given together with replicaAccessKeyId. */
  replicaSecretAccessKey?: pulumi.Input<string>;

  /** When to replicate (5-field cron, UTC); must run at least once per rpo. @default "0 * * * *" */
  schedule?: string;
  /** Recovery point objective: alert (and fail the run) when the newest backup is older than this and not on the replica (`--max-lag`). @default "26h" */
  rpo?: string;

  /** ECS on S3 -> S3: replica bucket ARN for the declared task role; without it the role covers the source side only (replica keys given). @default none */
  replicaBucketArn?: pulumi.Input<string>;
  /** ECS on S3 -> S3: the replica bucket's KMS key ARN (in the DR region). @default none */
  replicaKmsKeyArn?: pulumi.Input<string>;
}

/** Args that hold secrets; they never reach the component's registered props. */
const SECRET_ARGS = ["accessKeyId", "secretAccessKey", "replicaAccessKeyId", "replicaSecretAccessKey", "alertWebhookUrl", "healthcheckUrl"] as const;

/**
 * Scheduled cross-bucket replication for pairs without native replication (R2 -> R2 in another
 * location or jurisdiction, R2 <-> S3): `lifeboat-runner replicate --all` on a cron schedule
 * copies every new backup (object first, sha256-checked against its manifest, manifest last) and
 * verification record from the source prefix to the replica, with create-only puts and never a
 * delete there (the replica bucket's own lifecycle does retention); it alerts and fails the run
 * when the newest backup of a source is older than the RPO and not on the replica.
 *
 * - docker (default): a `replicate` job in a long-running `lifeboat-runner schedule --jobs`
 *   container: its own, or with `dockerScheduler: "host"` the host's verify side, which already
 *   holds read credentials on the primary and never a source's password (restart
 *   unless-stopped, rotated json-file logs, secrets only in secret env, healthcheck on the job's
 *   last exit); lag and failures also reach the webhook and the healthcheck pings.
 * - ecs: a Fargate task definition running one `replicate` per task, started by an EventBridge
 *   Scheduler schedule; secrets from Secrets Manager; an S3 side may use the task role instead
 *   of keys (the source side, or both sides of S3 -> S3 with one identity).
 *
 * Credentials: the source side's in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the replica side's
 * in LIFEBOAT_REPLICA_ACCESS_KEY_ID/LIFEBOAT_REPLICA_SECRET_ACCESS_KEY; without replica keys the
 * replica side uses the source side's identity.
 */
export class ScheduledReplication extends pulumi.ComponentResource {
  /** The runner argv of one replication run (after the `lifeboat-runner` entrypoint). */
  readonly command: pulumi.Output<string[]>;
  /** The replication schedule (5-field cron, UTC). */
  readonly schedule: string;
  /** The lag alert threshold passed as --max-lag (the RPO). */
  readonly maxLag: string;
  readonly runtime: RunnerRuntime;
  /** Docker: the container's name on the host. */
  readonly containerName?: pulumi.Output<string>;
  /** ECS: the EventBridge Scheduler expression. */
  readonly scheduleExpression?: string;
  /** ECS: the task definition ARN. */
  readonly taskDefinitionArn?: pulumi.Output<string>;
  /** ECS: the task role ARN (the replicator), when one is used. */
  readonly taskRoleArn?: pulumi.Output<string>;
  /** ECS: the CloudWatch log group. */
  readonly logGroupName?: pulumi.Output<string>;
  /** ECS: what the environment's shared roles must allow for this job (see `ecsShared`). */
  readonly ecsGrants?: EcsGrants;
  /** Docker: the replicate job, for a scheduler (its own, or the host's verify side). */
  readonly jobs: HostJob[] = [];

  constructor(name: string, args: ScheduledReplicationArgs, opts?: pulumi.ComponentResourceOptions) {
    const runtime = args.runtime ?? "docker";
    const schedule = args.schedule ?? DEFAULT_REPLICATE_SCHEDULE;
    const rpo = args.rpo ?? DEFAULT_REPLICATION_RPO;
    const prefix = args.prefix ?? "backups";
    const replicaPrefix = args.replicaPrefix ?? prefix;
    const props: Record<string, unknown> = { ...args, runtime, schedule, rpo, maxLag: rpo, prefix, replicaPrefix };
    for (const k of SECRET_ARGS) delete props[k];
    super("lifeboat:index:ScheduledReplication", name, props, opts);
    this.runtime = runtime;
    this.schedule = schedule;
    this.maxLag = rpo;

    const fail = (msg: string) => new pulumi.ResourceError(`ScheduledReplication ${name}: ${msg}`, this);
    try {
      assertCron(schedule);
    } catch (e) {
      throw fail(`schedule ${(e as Error).message}`);
    }
    let rpoSeconds: number;
    try {
      rpoSeconds = parseDuration(rpo);
    } catch (e) {
      throw fail(`rpo ${(e as Error).message}`);
    }
    const interval = worstCaseIntervalSeconds(schedule);
    if (interval > rpoSeconds) {
      throw fail(`schedule ${JSON.stringify(schedule)} runs up to ${humanDuration(interval)} apart, longer than the rpo ${rpo}: the replica would lag beyond it; replicate more often`);
    }
    if ((args.accessKeyId === undefined) !== (args.secretAccessKey === undefined)) throw fail("give accessKeyId and secretAccessKey together");
    if ((args.replicaAccessKeyId === undefined) !== (args.replicaSecretAccessKey === undefined)) throw fail("give replicaAccessKeyId and replicaSecretAccessKey together");

    if (args.replicaRegion === "auto" && args.replicaEndpoint === undefined) throw fail("replicaRegion auto (R2) needs replicaEndpoint (https://ACCOUNT.r2.cloudflarestorage.com)");
    if (typeof args.bucketName === "string" && args.bucketName === args.replicaBucketName && args.endpoint === args.replicaEndpoint) {
      throw fail(`the replica bucket must differ from the source bucket (${args.bucketName})`);
    }

    const secrets: Record<string, pulumi.Input<string>> = {};
    const put = (k: keyof typeof SECRET_ENV, v: pulumi.Input<string> | undefined) => {
      if (v !== undefined) secrets[SECRET_ENV[k]] = v;
    };
    put("accessKeyId", args.accessKeyId);
    put("secretAccessKey", args.secretAccessKey);
    put("replicaAccessKeyId", args.replicaAccessKeyId);
    put("replicaSecretAccessKey", args.replicaSecretAccessKey);
    put("alertWebhookUrl", args.alertWebhookUrl);
    put("pingUrl", args.healthcheckUrl);

    const side = (bucket: pulumi.Input<string>, p: pulumi.Input<string>, endpoint?: pulumi.Input<string>, region?: pulumi.Input<string>) =>
      pulumi.all([pulumi.output(bucket), pulumi.output(p), pulumi.output(endpoint), pulumi.output(region)])
        .apply(([b, pre, e, r]): JobDestination => ({ bucket: b, prefix: pre, ...(e ? { endpoint: e } : {}), ...(r ? { region: r } : {}) }));
    const job = pulumi
      .all([side(args.bucketName, prefix, args.endpoint, args.region), side(args.replicaBucketName, replicaPrefix, args.replicaEndpoint, args.replicaRegion)])
      .apply(([source, replica]): ReplicateJob => ({ ...source, replica, maxLag: rpo }));
    this.command = job.apply(replicateJobArgv);

    if (runtime === "docker") {
      if (args.accessKeyId === undefined) throw fail("runtime docker needs the source side's accessKeyId/secretAccessKey (there is no task role on a Docker host)");
      // The job's name carries the component's: an environment replicates to each replica.
      this.jobs = [{ name: `replicate-${name}`, cron: schedule, argv: this.command, secrets, maxAge: maxAgeFor(schedule) }];
      if (args.dockerScheduler !== "host") this.containerName = dockerScheduler(name, "replicate", args, componentRunner(name, args, this), this.jobs, this).name;
    } else {
      this.scheduleExpression = toEventBridgeCron(schedule);
      const taskRole = jobTaskRole(args, (bucketArn, kmsKeyArn) =>
        pulumi
          .all([pulumi.output(prefix), pulumi.output(args.replicaBucketArn), pulumi.output(replicaPrefix), pulumi.output(args.replicaKmsKeyArn)])
          .apply(([p, replicaArn, rp, replicaKey]) => {
            const doc = replicatorPolicy({
              source: { bucketArn, prefix: p, ...(kmsKeyArn ? { kmsKeyArn } : {}) },
              replica: { bucketArn: replicaArn ?? R2_REPLICA_PLACEHOLDER_ARN, prefix: rp, ...(replicaArn && replicaKey ? { kmsKeyArn: replicaKey } : {}) },
            });
            return JSON.stringify(replicaArn ? doc : replicatorSide(doc, bucketArn, kmsKeyArn));
          }));
      requireEcsCredentials(taskRole, args, "replicator", fail);
      const hasRole = taskRole.arn !== undefined || taskRole.policy !== undefined;
      if (hasRole && args.accessKeyId !== undefined && args.replicaAccessKeyId === undefined) {
        // The replica client falls back to the default chain, where AWS_* (the source keys) win over the task role.
        throw fail("with source keys in AWS_*, the replica side would use them too, never the task role: give replicaAccessKeyId/replicaSecretAccessKey (R2 -> S3 needs a key on the S3 side), or drop the task role");
      }
      if (args.bucketArn === undefined && taskRole.policy === undefined && args.replicaBucketArn !== undefined) {
        throw fail("replicaBucketArn needs bucketArn (the declared replicator role covers the source side)");
      }
      if (taskRole.policy !== undefined && args.taskRolePolicy === undefined && args.replicaBucketArn === undefined && args.replicaAccessKeyId === undefined) {
        throw fail("a declared task role from bucketArn alone covers only the source side: give replicaBucketArn (S3 -> S3) or the replica's keys (S3 -> R2)");
      }
      const same = Object.fromEntries(Object.keys(secrets).map((k) => [k, k]));
      const ecs = ecsJobs(name, args, [{ role: "replicate", cron: schedule, command: this.command, secretEnv: same }], secrets, taskRole, this);
      this.taskDefinitionArn = ecs.taskDefinitions["replicate"]!.arn;
      if (ecs.taskRoleArn) this.taskRoleArn = ecs.taskRoleArn;
      this.logGroupName = ecs.logGroupName;
      this.ecsGrants = ecs.grants;
    }

    this.registerOutputs({
      command: this.command,
      schedule: this.schedule,
      maxLag: this.maxLag,
      runtime: this.runtime,
      ...(this.containerName ? { containerName: this.containerName } : {}),
      ...(this.scheduleExpression ? { scheduleExpression: this.scheduleExpression } : {}),
      ...(this.taskDefinitionArn ? { taskDefinitionArn: this.taskDefinitionArn } : {}),
      ...(this.taskRoleArn ? { taskRoleArn: this.taskRoleArn } : {}),
      ...(this.logGroupName ? { logGroupName: this.logGroupName } : {}),
    });
  }
}
