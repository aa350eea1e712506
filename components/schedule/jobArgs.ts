import type { SourceKind } from "lifeboat-core";
import * as pulumi from "@pulumi/pulumi";
import { DockerRuntimeArgs } from "./docker";
import { DockerSchedulerMode } from "./scheduler";
import { EcsRuntimeArgs, TaskRoleSpec } from "./ecs";

/**
 * The args every runner job component shares (ScheduledBackup, ScheduledVerification,
 * ScheduledReplication, FailoverRestore), one concept per interface. Each job runs as one
 * identity from `BackupAccess`: the writer for backups, the restorer for drills and restores,
 * the replicator for replication.
 */

/** What a source is: the runner's source kinds (lifeboat-core's SOURCE_KINDS). */
export type ScheduledSourceKind = SourceKind;
/** Where the runner runs: a container on a Docker host, or scheduled Fargate tasks. */
export type RunnerRuntime = "docker" | "ecs";

/** The bucket a job reads or writes. */
export interface JobBucketArgs {
  /** Bucket name. */
  bucketName: pulumi.Input<string>;
  /** Key prefix inside the bucket. @default "backups" */
  prefix?: pulumi.Input<string>;
  /** S3 API endpoint (R2's account endpoint; AWS's regional endpoint). @default the SDK's for region */
  endpoint?: pulumi.Input<string>;
  /** Bucket region, `auto` for R2. @default the runner's AWS_REGION */
  region?: pulumi.Input<string>;
}

/** The job identity's S3 key (BackupAccess `accessKeyId`/`secretAccessKey`). */
export interface JobKeyArgs {
  /** S3 access key id (secret). Required on docker; on ECS only for R2 (else the task role). */
  accessKeyId?: pulumi.Input<string>;
  /** S3 secret access key (secret). Given together with accessKeyId. */
  secretAccessKey?: pulumi.Input<string>;
}

/** ECS: the task role the job runs as. */
export interface JobTaskRoleArgs {
  /** ECS: an existing task role (BackupAccess `roleArn`). @default one declared from taskRolePolicy or bucketArn */
  taskRoleArn?: pulumi.Input<string>;
  /** ECS: the IAM policy document (JSON) of a declared task role. @default the job's policy built from bucketArn */
  taskRolePolicy?: pulumi.Input<string>;
  /** ECS on S3: bucket ARN, to declare a task role with the job's least-privilege policy. @default none */
  bucketArn?: pulumi.Input<string>;
  /** ECS on S3: the bucket's KMS key ARN, for that policy. @default none */
  kmsKeyArn?: pulumi.Input<string>;
}

/** Where a job reports failures. */
export interface JobAlertArgs {
  /** Slack-compatible webhook for failed runs (secret). @default none */
  alertWebhookUrl?: pulumi.Input<string>;
  /** Healthcheck ping base URL: /start, success and /fail pings (secret). @default none */
  healthcheckUrl?: pulumi.Input<string>;
}

/** Where the runner runs, with that runtime's settings. */
export interface JobRuntimeArgs extends DockerRuntimeArgs, EcsRuntimeArgs {
  /** Where the runner runs. @default "docker" */
  runtime?: RunnerRuntime;
  /**
   * Docker: `component` declares this component's own scheduler container; `host` declares
   * none: a host-level scheduler (as `DisasterRecovery` declares) runs the component's `jobs`.
   * @default "component"
   */
  dockerScheduler?: DockerSchedulerMode;
  /**
   * Docker: the runner image already declared for this host (a `RemoteImage`'s `imageId`): no
   * provider or image resource is declared for the component; give the host's docker provider
   * through the resource options. @default the component declares its own from dockerHost/image/build
   */
  imageId?: pulumi.Input<string>;
  /** Docker: runs at once in the component's own scheduler. @default 1 */
  maxConcurrent?: number;
}

/**
 * The ECS task role a job runs as: the role given, else a role with the policy given, else a
 * role with `policyFor(bucketArn, kmsKeyArn)`, the job's own least-privilege document; none
 * without a bucket ARN (the job then needs S3 keys).
 */
export function jobTaskRole(
  args: JobTaskRoleArgs,
  policyFor: (bucketArn: string, kmsKeyArn: string | undefined) => pulumi.Output<string>,
): TaskRoleSpec {
  if (args.taskRoleArn !== undefined) return { arn: args.taskRoleArn };
  if (args.taskRolePolicy !== undefined) return { policy: args.taskRolePolicy };
  if (args.bucketArn === undefined) return {};
  return { policy: pulumi.all([pulumi.output(args.bucketArn), pulumi.output(args.kmsKeyArn)]).apply(([arn, key]) => policyFor(arn, key)) };
}

/** Throws `fail(...)` when an ECS job would have neither a task role nor S3 keys. */
export function requireEcsCredentials(role: TaskRoleSpec, keys: JobKeyArgs, policyName: string, fail: (msg: string) => Error): void {
  if (role.arn === undefined && role.policy === undefined && keys.accessKeyId === undefined) {
    throw fail(`runtime ecs needs S3 credentials: taskRoleArn, taskRolePolicy, bucketArn (${policyName} policy) or accessKeyId/secretAccessKey`);
  }
}
