import * as pulumi from "@pulumi/pulumi";
import { NAME_PATTERN } from "lifeboat-core";
import { drTargetIn } from "./runbook/targets";
import { CONTAINER_PATHS, RestoreJob, SECRET_ENV, restoreJobArgv } from "./schedule/commands";
import { dockerJobContainer } from "./schedule/docker";
import { componentRunner } from "./schedule/scheduler";
import { AGE_IDENTITY_ENV, ECS_IDENTITY_FILE, EcsGrants, ecsJobs } from "./schedule/ecs";
import { JobAlertArgs, JobBucketArgs, JobKeyArgs, JobRuntimeArgs, JobTaskRoleArgs, RunnerRuntime, ScheduledSourceKind } from "./schedule/jobArgs";

export interface FailoverRestoreArgs extends JobRuntimeArgs, JobBucketArgs, JobKeyArgs, Pick<JobTaskRoleArgs, "taskRoleArn">, Pick<JobAlertArgs, "alertWebhookUrl"> {
  /** Source whose newest verified backup is restored. */
  sourceName: string;
  /** The source's kind: what the restore writes (a database, a directory, a file). */
  /** A bucket source is restored by hand into a bucket (runbook), never by failover. */
  sourceKind: Exclude<ScheduledSourceKind, "bucket">;

  /** The age private key (secret): a file in the container, never on a command line. */
  ageIdentity: pulumi.Input<string>;

  /** postgres: the database to restore into (secret). Required for postgres. */
  targetUrl?: pulumi.Input<string>;
  /** Other kinds, docker only: host directory the restore writes `<source>`, `<source>.rdb` or `<source>.sqlite` into. */
  targetPath?: string;

  /** ECS: when the one-time task runs (ISO). Kept from the first deployment. @default five minutes after the program runs */
  runAt?: string;
}

const SECRET_ARGS = ["accessKeyId", "secretAccessKey", "ageIdentity", "targetUrl", "alertWebhookUrl"] as const;

/**
 * One source's failover restore: a one-shot job that restores the newest backup a
 * verification passed (`lifeboat-runner restore --at latest-verified`) from the DR bucket into
 * the DR target. Docker: a container that runs once when the failover is deployed and stays
 * stopped. ECS: a Fargate task on a one-time EventBridge schedule. The runner refuses a
 * non-empty target, so a repeated run never overwrites a database the DR region already uses.
 */
export class FailoverRestore extends pulumi.ComponentResource {
  /** The runner argv of the restore. */
  readonly command: pulumi.Output<string[]>;
  /** Where the backup comes from: `s3://bucket/prefix/source` (newest verified). */
  readonly from: pulumi.Output<string>;
  /** Where it goes (a database URL is shown as `postgres target (secret)`). */
  readonly to: string;
  readonly runtime: RunnerRuntime;
  /** ECS: what the environment's shared roles must allow for this job (see `ecsShared`). */
  readonly ecsGrants?: EcsGrants;

  constructor(name: string, args: FailoverRestoreArgs, opts?: pulumi.ComponentResourceOptions) {
    const runtime = args.runtime ?? "docker";
    const prefix = args.prefix ?? "backups";
    const props: Record<string, unknown> = { ...args, runtime, prefix };
    for (const k of SECRET_ARGS) delete props[k];
    super("lifeboat:index:FailoverRestore", name, props, opts);
    this.runtime = runtime;
    const fail = (msg: string) => new pulumi.ResourceError(`FailoverRestore ${name}: ${msg}`, this);
    if (!NAME_PATTERN.test(args.sourceName)) throw fail(`sourceName ${JSON.stringify(args.sourceName)} must match ${NAME_PATTERN}`);
    const postgres = args.sourceKind === "postgres";
    if (postgres && args.targetUrl === undefined) throw fail("a postgres source needs targetUrl, the database to restore into");
    if (!postgres && !args.targetPath?.startsWith("/")) throw fail(`a ${args.sourceKind} source needs targetPath, an absolute host directory`);
    if (!postgres && runtime === "ecs") throw fail(`runtime ecs can restore only postgres sources (a Fargate task cannot write to a host path)`);
    if ((args.accessKeyId === undefined) !== (args.secretAccessKey === undefined)) throw fail("give accessKeyId and secretAccessKey together");

    const identity = runtime === "ecs" ? ECS_IDENTITY_FILE : CONTAINER_PATHS.identity;
    const job = pulumi.all([pulumi.output(args.bucketName), pulumi.output(prefix), pulumi.output(args.endpoint), pulumi.output(args.region)])
      .apply(([bucket, p, endpoint, region]): RestoreJob => ({
        bucket, prefix: p, ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}),
        name: args.sourceName, kind: args.sourceKind, identity,
      }));
    this.command = job.apply(restoreJobArgv);
    this.from = job.apply((j) => `s3://${j.bucket}/${j.prefix ? j.prefix + "/" : ""}${j.name} (newest verified backup)`);
    this.to = postgres ? "postgres target (secret)" : drTargetIn(args.sourceKind as Exclude<ScheduledSourceKind, "postgres" | "bucket">, args.targetPath!, args.sourceName);

    const secrets: Record<string, pulumi.Input<string>> = {};
    const put = (k: keyof typeof SECRET_ENV, v: pulumi.Input<string> | undefined) => {
      if (v !== undefined) secrets[SECRET_ENV[k]] = v;
    };
    put("accessKeyId", args.accessKeyId);
    put("secretAccessKey", args.secretAccessKey);
    put("targetUrl", args.targetUrl);
    put("alertWebhookUrl", args.alertWebhookUrl);

    if (runtime === "docker") {
      if (args.accessKeyId === undefined) throw fail("runtime docker needs accessKeyId/secretAccessKey");
      const runner = componentRunner(name, args, this);
      dockerJobContainer(name, args, runner, {
        role: "restore",
        source: args.sourceName,
        command: this.command,
        secretEnv: pulumi.all(secrets),
        identity: args.ageIdentity,
        oneShot: true,
        ...(args.targetPath ? { targetMount: { type: "bind", source: args.targetPath, target: CONTAINER_PATHS.target, path: CONTAINER_PATHS.target } } : {}),
      }, this);
    } else {
      if (args.taskRoleArn === undefined && args.accessKeyId === undefined) throw fail("runtime ecs needs taskRoleArn or accessKeyId/secretAccessKey");
      const runAt = args.runAt ?? new Date(Date.now() + 5 * 60_000).toISOString();
      const envKeys = Object.fromEntries(Object.keys(secrets).map((k) => [k, k]));
      this.ecsGrants = ecsJobs(name, args, [
        { role: "restore", cron: "once", runAt, command: this.command, secretEnv: { ...envKeys, [AGE_IDENTITY_ENV]: AGE_IDENTITY_ENV }, identityFile: true },
      ], { ...secrets, [AGE_IDENTITY_ENV]: args.ageIdentity }, args.taskRoleArn !== undefined ? { arn: args.taskRoleArn } : {}, this).grants;
    }
    this.registerOutputs({ command: this.command, from: this.from, to: this.to, runtime });
  }
}
