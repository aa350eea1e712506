/**
 * The ECS Fargate runtime of the jobs: one task definition per job, run by an EventBridge
 * Scheduler schedule, on a cron or once at a time (a failover restore); no long-running service,
 * so Fargate costs nothing idle. What every job of an environment shares (log group, execution
 * role, scheduler role; the cluster is given) is declared once ({@link ecsRuntime}) and passed to
 * the jobs as plain identifiers ({@link EcsRuntimeArgs}); each component keeps its own task role
 * and one Secrets Manager secret for its jobs, injected as environment variables (the age
 * identity through a shim that writes it to a file). Pure document builders first, then the
 * resources.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PolicyDocument, ecsTasksAssumeRolePolicy } from "../access/iamDocuments";
import { RUNNER_EXEC } from "./commands";
import { toEventBridgeCron } from "./cron";
import { DEFAULT_RUNNER_IMAGE } from "./docker";
import { physicalName } from "../naming";

/** ECS runtime settings, as plain component args. */
export interface EcsRuntimeArgs {
  /** ECS cluster the tasks run in. Required for runtime ecs. */
  clusterArn?: pulumi.Input<string>;
  /** Subnets for the tasks (awsvpc). Required for runtime ecs. */
  subnetIds?: pulumi.Input<string>[];
  /** Security groups for the tasks. @default the VPC's default */
  securityGroupIds?: pulumi.Input<string>[];
  /** Give tasks a public IP (subnets without a NAT gateway). @default false */
  assignPublicIp?: boolean;
  /** Fargate CPU units: 256, 512, 1024, 2048 or 4096. @default 512 */
  cpu?: number;
  /** Fargate memory in MiB. @default 1024 */
  memory?: number;
  /** Days CloudWatch keeps the task logs. @default 30 */
  logRetentionDays?: number;
  /** AWS region of the ECS resources. @default the aws provider's region */
  ecsRegion?: string;
  /** Runner image reference Fargate pulls. @default DEFAULT_RUNNER_IMAGE */
  image?: string;
  /**
   * The environment's shared ECS pieces ({@link ecsRuntime}), by identifier: the job declares
   * none of them, and leaves granting its task definitions, roles and secret to whoever declared
   * them (its `ecsGrants`). @default the job declares its own and grants them itself
   */
  ecsShared?: EcsSharedIds;
}

/** Identifiers of an environment's shared ECS pieces. */
export interface EcsSharedIds {
  logGroupName: pulumi.Input<string>;
  executionRoleArn: pulumi.Input<string>;
  executionRoleName: pulumi.Input<string>;
  schedulerRoleArn: pulumi.Input<string>;
  schedulerRoleName: pulumi.Input<string>;
}

/** What jobs need granted on the shared roles: the scheduler runs these tasks and passes these roles; the execution role reads these secrets. */
export interface EcsGrants {
  taskDefinitionArns: pulumi.Output<string>[];
  passRoleArns: pulumi.Output<string>[];
  secretArns: pulumi.Output<string>[];
}

/** Managed policy every Fargate execution role needs (image pull, awslogs). */
export const ECS_TASK_EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

/** Name of the container inside every task definition. */
const ECS_CONTAINER_NAME = "lifeboat-runner";

/**
 * Env var that carries the age identity's text into an ECS task. ECS can inject secrets only
 * as environment variables, and the runner reads the identity from a file, so a shim writes
 * the variable to a 0600 file, unsets it and execs the runner.
 */
export const AGE_IDENTITY_ENV = "LIFEBOAT_AGE_IDENTITY";
/** Where the shim writes the identity inside the task. */
export const ECS_IDENTITY_FILE = "/tmp/lifeboat-age-identity.txt";

/** Entry point of a task that needs the identity as a file: `sh -c '<write file; unset; exec runner "$@">' lifeboat-runner`. */
function identityShimEntryPoint(): string[] {
  const script = `umask 077 && printf '%s\\n' "$${AGE_IDENTITY_ENV}" > ${ECS_IDENTITY_FILE} && unset ${AGE_IDENTITY_ENV} && exec ${RUNNER_EXEC.join(" ")} "$@"`;
  return ["sh", "-c", script, "lifeboat-runner"];
}

/** `valueFrom` of one JSON key of a Secrets Manager secret. */
function secretKeyRef(secretArn: string, key: string): string {
  return `${secretArn}:${key}::`;
}

interface ContainerDefinitionSpec {
  image: string;
  entryPoint: string[];
  command: string[];
  /** Env var name → `valueFrom`. */
  secrets: Record<string, string>;
  logGroup: string;
  region: string;
  streamPrefix: string;
}

/** The task's one container definition, as ECS's JSON. */
export function containerDefinitions(s: ContainerDefinitionSpec): string {
  return JSON.stringify([
    {
      name: ECS_CONTAINER_NAME,
      image: s.image,
      essential: true,
      entryPoint: s.entryPoint,
      command: s.command,
      secrets: Object.keys(s.secrets).sort().map((name) => ({ name, valueFrom: s.secrets[name] })),
      logConfiguration: {
        logDriver: "awslogs",
        options: { "awslogs-group": s.logGroup, "awslogs-region": s.region, "awslogs-stream-prefix": s.streamPrefix },
      },
      stopTimeout: 120,
    },
  ]);
}

/** Trust policy for the EventBridge Scheduler role. */
function schedulerAssumeRolePolicy(): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "scheduler.amazonaws.com" }, Action: "sts:AssumeRole" }],
  };
}

/** What the scheduler may do: run exactly these task definitions in this cluster, and pass exactly these roles to ECS tasks. */
function schedulerPolicy(args: { taskDefinitionArns: string[]; clusterArn: string; passRoleArns: string[] }): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "RunOnlyTheseTasks",
        Effect: "Allow",
        Action: "ecs:RunTask",
        Resource: [...args.taskDefinitionArns],
        Condition: { ArnEquals: { "ecs:cluster": args.clusterArn } },
      },
      {
        Sid: "PassOnlyTheseRoles",
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: [...args.passRoleArns],
        Condition: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
      },
    ],
  };
}

/** What the execution role may read beyond the managed policy: exactly these secrets (the jobs'). */
function executionSecretsPolicy(secretArns: string[]): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{ Sid: "ReadJobSecrets", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secretArns.length === 1 ? secretArns[0]! : [...secretArns] }],
  };
}

/** EventBridge Scheduler's one-time form: `at(yyyy-mm-ddThh:mm:ss)`, in the schedule's time zone (UTC). */
export function eventBridgeAt(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) throw new RangeError(`not an ISO time: ${JSON.stringify(iso)}`);
  return `at(${t.toISOString().slice(0, 19)})`;
}

/** One job as a scheduled Fargate task. */
interface EcsJob {
  role: string;
  /** When it runs: a 5-field cron (UTC), or `once` with {@link EcsJob.runAt}. */
  cron: string;
  /**
   * One-time job: run once at this ISO time instead of on `cron`. The schedule keeps the time it
   * was created with (later updates ignore it), so re-running the program does not re-run the job.
   */
  runAt?: string;
  /** The runner argv of one run. */
  command: pulumi.Input<string[]>;
  /** The env vars this task receives from the component's secret: env var name → JSON key in the secret. */
  secretEnv: Record<string, string>;
  /** Deliver AGE_IDENTITY_ENV as a file through the shim. */
  identityFile?: boolean;
}

/** The task role: an existing one, or one declared with this inline policy (JSON). */
export interface TaskRoleSpec {
  arn?: pulumi.Input<string>;
  policy?: pulumi.Input<string>;
}

interface EcsJobsResult {
  logGroupName: pulumi.Output<string>;
  /** What the shared roles must allow for these jobs (granted here unless the environment's are shared). */
  grants: EcsGrants;
  taskRole?: aws.iam.Role;
  taskRoleArn?: pulumi.Output<string>;
  secret?: aws.secretsmanager.Secret;
  taskDefinitions: Record<string, aws.ecs.TaskDefinition>;
  schedules: Record<string, aws.scheduler.Schedule>;
}

/**
 * Declares what every job of an environment shares, once: the log group, the execution role
 * (image pull, logs; each job's secret is granted by {@link grantEcsJobs}) and the role
 * EventBridge Scheduler runs tasks as.
 */
export function ecsRuntime(name: string, args: Pick<EcsRuntimeArgs, "logRetentionDays" | "ecsRegion">, parent: pulumi.Resource, provider?: aws.Provider): EcsSharedIds {
  const opts: pulumi.CustomResourceOptions = { parent, ...(provider ? { provider } : {}) };
  const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, {
    name: physicalName("logGroup", `/lifeboat/${name}`),
    retentionInDays: args.logRetentionDays ?? 30,
    ...(args.ecsRegion ? { region: args.ecsRegion } : {}),
  }, opts);
  const executionRole = new aws.iam.Role(`${name}-execution`, {
    name: physicalName("iamRole", name, "execution"),
    description: `Lifeboat ${name}: pulls the runner image, writes logs, reads the job secrets`,
    assumeRolePolicy: JSON.stringify(ecsTasksAssumeRolePolicy()),
  }, opts);
  new aws.iam.RolePolicyAttachment(`${name}-execution`, { role: executionRole.name, policyArn: ECS_TASK_EXECUTION_POLICY_ARN }, opts);
  const schedulerRole = new aws.iam.Role(`${name}-scheduler`, {
    name: physicalName("iamRole", name, "scheduler"),
    description: `Lifeboat ${name}: EventBridge Scheduler runs the job's tasks`,
    assumeRolePolicy: JSON.stringify(schedulerAssumeRolePolicy()),
  }, opts);
  return {
    logGroupName: logGroup.name,
    executionRoleArn: executionRole.arn,
    executionRoleName: executionRole.name,
    schedulerRoleArn: schedulerRole.arn,
    schedulerRoleName: schedulerRole.name,
  };
}

/**
 * Grants the shared roles exactly what `grants` lists, as one inline policy each: the scheduler
 * role may run these task definitions in this cluster and pass these roles; the execution role
 * may read these secrets. One policy per role for a whole environment (not one per job) stays
 * well under IAM's 10,240-character limit on a role's inline policies.
 */
export function grantEcsJobs(name: string, shared: EcsSharedIds, clusterArn: pulumi.Input<string>, grants: EcsGrants, parent: pulumi.Resource, provider?: aws.Provider): void {
  const opts: pulumi.CustomResourceOptions = { parent, ...(provider ? { provider } : {}) };
  if (grants.secretArns.length) {
    new aws.iam.RolePolicy(`${name}-execution-secrets`, {
      name: physicalName("iamPolicy", name, "execution-secrets"),
      role: shared.executionRoleName,
      policy: pulumi.all(grants.secretArns).apply((arns) => JSON.stringify(executionSecretsPolicy(arns))),
    }, opts);
  }
  new aws.iam.RolePolicy(`${name}-scheduler`, {
    name: physicalName("iamPolicy", name, "scheduler"),
    role: shared.schedulerRoleName,
    policy: pulumi
      .all([pulumi.all(grants.taskDefinitionArns), pulumi.output(clusterArn), pulumi.all(grants.passRoleArns)])
      .apply(([taskDefinitionArns, c, passRoleArns]) => JSON.stringify(schedulerPolicy({ taskDefinitionArns, clusterArn: c, passRoleArns: [...new Set(passRoleArns)] }))),
  }, opts);
}

/**
 * Declares the secret (one Secrets Manager secret holding `secrets`, a JSON object), the task
 * role, the task definitions and the schedules of `jobs`; and, unless `args.ecsShared` names the
 * environment's, the log group and roles they share, with their grants.
 */
export function ecsJobs(
  name: string,
  args: EcsRuntimeArgs,
  jobs: EcsJob[],
  secrets: Record<string, pulumi.Input<string>>,
  taskRole: TaskRoleSpec,
  parent: pulumi.Resource,
): EcsJobsResult {
  if (!args.clusterArn) throw new pulumi.ResourceError(`${name}: runtime ecs needs clusterArn`, parent);
  if (!args.subnetIds?.length) throw new pulumi.ResourceError(`${name}: runtime ecs needs at least one subnet id`, parent);
  const opts: pulumi.CustomResourceOptions = { parent };
  const regional = args.ecsRegion ? { region: args.ecsRegion } : {};
  const region: pulumi.Output<string> = args.ecsRegion
    ? pulumi.output(args.ecsRegion)
    : aws.getRegionOutput({}, { parent }).apply((r) => r.region);

  const shared = args.ecsShared ?? ecsRuntime(name, args, parent);

  let secret: aws.secretsmanager.Secret | undefined;
  const secretNames = Object.keys(secrets).sort();
  if (secretNames.length) {
    secret = new aws.secretsmanager.Secret(`${name}-secrets`, {
      namePrefix: physicalName("secretPrefix", `lifeboat/${name}/`),
      description: `Lifeboat ${name}: ${secretNames.join(", ")}`,
      recoveryWindowInDays: 7,
      ...regional,
    }, opts);
    new aws.secretsmanager.SecretVersion(`${name}-secrets`, {
      secretId: secret.id,
      secretString: pulumi.secret(pulumi.all(secrets).apply((v) => JSON.stringify(Object.fromEntries(secretNames.map((k) => [k, v[k]]))))),
      ...regional,
    }, opts);
  }

  let declaredTaskRole: aws.iam.Role | undefined;
  let taskRoleArn: pulumi.Output<string> | undefined;
  if (taskRole.arn !== undefined) taskRoleArn = pulumi.output(taskRole.arn);
  else if (taskRole.policy !== undefined) {
    declaredTaskRole = new aws.iam.Role(`${name}-task`, {
      name: physicalName("iamRole", name, "task"),
      description: `Lifeboat ${name}: the job's own S3 access`,
      assumeRolePolicy: JSON.stringify(ecsTasksAssumeRolePolicy()),
    }, opts);
    new aws.iam.RolePolicy(`${name}-task`, { name: physicalName("iamPolicy", name, "task"), role: declaredTaskRole.id, policy: taskRole.policy }, opts);
    taskRoleArn = declaredTaskRole.arn;
  }

  const image = args.image ?? DEFAULT_RUNNER_IMAGE;
  const taskDefinitions: Record<string, aws.ecs.TaskDefinition> = {};
  for (const job of jobs) {
    const refs = secret
      ? secret.arn.apply((arn) => Object.fromEntries(Object.entries(job.secretEnv).map(([env, key]) => [env, secretKeyRef(arn, key)])))
      : pulumi.output({} as Record<string, string>);
    taskDefinitions[job.role] = new aws.ecs.TaskDefinition(`${name}-${job.role}`, {
      family: physicalName("ecsFamily", "lifeboat", name, job.role),
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: String(args.cpu ?? 512),
      memory: String(args.memory ?? 1024),
      runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
      executionRoleArn: shared.executionRoleArn,
      ...(taskRoleArn ? { taskRoleArn } : {}),
      containerDefinitions: pulumi.all([pulumi.output(job.command), refs, pulumi.output(shared.logGroupName), region]).apply(([command, secretRefs, group, r]) =>
        containerDefinitions({
          image,
          entryPoint: job.identityFile ? identityShimEntryPoint() : [...RUNNER_EXEC],
          command,
          secrets: secretRefs,
          logGroup: group,
          region: r,
          // The log group may be the environment's: then the prefix also names the component.
          streamPrefix: args.ecsShared ? `${name}-${job.role}` : job.role,
        }),
      ),
      ...regional,
    }, opts);
  }

  const grants: EcsGrants = {
    taskDefinitionArns: Object.values(taskDefinitions).map((t) => t.arn),
    passRoleArns: [pulumi.output(shared.executionRoleArn), ...(taskRoleArn ? [taskRoleArn] : [])],
    secretArns: secret ? [secret.arn] : [],
  };
  if (!args.ecsShared) grantEcsJobs(name, shared, args.clusterArn, grants, parent);

  const schedules: Record<string, aws.scheduler.Schedule> = {};
  for (const job of jobs) {
    schedules[job.role] = new aws.scheduler.Schedule(`${name}-${job.role}`, {
      name: physicalName("schedule", name, job.role),
      description: job.runAt ? `Lifeboat ${name}: ${job.role} once` : `Lifeboat ${name}: ${job.role} on "${job.cron}" (UTC)`,
      scheduleExpression: job.runAt ? eventBridgeAt(job.runAt) : toEventBridgeCron(job.cron),
      scheduleExpressionTimezone: "UTC",
      flexibleTimeWindow: { mode: "OFF" },
      target: {
        arn: args.clusterArn,
        roleArn: shared.schedulerRoleArn,
        ecsParameters: {
          taskDefinitionArn: taskDefinitions[job.role]!.arn,
          launchType: "FARGATE",
          taskCount: 1,
          networkConfiguration: {
            subnets: args.subnetIds,
            ...(args.securityGroupIds?.length ? { securityGroups: args.securityGroupIds } : {}),
            assignPublicIp: args.assignPublicIp ?? false,
          },
        },
        retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
      },
      ...regional,
    }, job.runAt ? { ...opts, ignoreChanges: ["scheduleExpression"] } : opts);
  }

  return {
    logGroupName: pulumi.output(shared.logGroupName),
    grants,
    ...(declaredTaskRole ? { taskRole: declaredTaskRole } : {}),
    ...(taskRoleArn ? { taskRoleArn } : {}),
    ...(secret ? { secret } : {}),
    taskDefinitions,
    schedules,
  };
}
