import * as pulumi from "@pulumi/pulumi";
import { ENV, replicateArgs, scheduleJobsArgs } from "lifeboat-core";
import { BackupAccess, BackupBucket, ScheduledReplication, bucketAccessFields, replicatorSide, toEventBridgeCron } from "../../components";
import { replicatorPolicy } from "../../components/access/iamDocuments";
import { CONTAINER_PATHS, RUNNER_EXEC } from "../../components/schedule/commands";
import { declare, Declared, expectNoPlainSecrets, installMocks, jobTableOf, ofType, one, redacted, scheduledJob, unwrap, valueOf } from "./mockHarness";

installMocks();

const SECRETS = {
  accessKeyId: "R2SOURCEKEYID0000example",
  secretAccessKey: "r2-source-secret-3f9a1c7e",
  replicaAccessKeyId: "AKIAREPLICA00EXAMPLE",
  replicaSecretAccessKey: "replica-secret-key-8d2b6e40",
  webhook: "https://hooks.slack.com/services/T000/B000/hook-secret-5e8f",
  ping: "https://hc-ping.com/ping-secret-0d6b",
};
const R2_ENDPOINT = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com";
const R2_EU_ENDPOINT = "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com";
const S3_DR_ENDPOINT = "https://s3.us-east-2.amazonaws.com";
const CLUSTER = "arn:aws:ecs:us-east-2:123456789012:cluster/dr";
const arnOf = (name: string) => `arn:aws:iam::123456789012:role/${name}`;

/** R2 (primary) -> S3 in another region, two identities. */
const R2_TO_S3 = {
  bucketName: "prod-backups",
  prefix: "backups",
  endpoint: R2_ENDPOINT,
  region: "auto",
  replicaBucketName: "prod-replica-1",
  replicaPrefix: "dr/backups",
  replicaEndpoint: S3_DR_ENDPOINT,
  replicaRegion: "us-east-2",
};
const KEYS = {
  accessKeyId: pulumi.secret(SECRETS.accessKeyId),
  secretAccessKey: pulumi.secret(SECRETS.secretAccessKey),
  replicaAccessKeyId: pulumi.secret(SECRETS.replicaAccessKeyId),
  replicaSecretAccessKey: pulumi.secret(SECRETS.replicaSecretAccessKey),
};
/** The runner argv of one run of R2_TO_S3 with `maxLag`. */
const expectedRun = (maxLag: string) =>
  replicateArgs({
    all: true,
    to: "s3://prod-replica-1/dr/backups",
    toEndpoint: S3_DR_ENDPOINT,
    toRegion: "us-east-2",
    maxLag,
    dest: "s3://prod-backups/backups",
    endpoint: R2_ENDPOINT,
    region: "auto",
    json: true,
  });

describe("ScheduledReplication on a Docker host (R2 -> S3)", () => {
  let resources: Declared[];
  let component: ScheduledReplication;
  beforeAll(async () => {
    resources = await declare(() => {
      component = new ScheduledReplication("prod-replicate", {
        ...R2_TO_S3,
        ...KEYS,
        rpo: "4h",
        schedule: "*/30 * * * *",
        alertWebhookUrl: pulumi.secret(SECRETS.webhook),
        healthcheckUrl: pulumi.secret(SECRETS.ping),
        dockerHost: "ssh://backup@dr-host",
      });
    });
  });
  const declared = () => one(resources, "docker:index/container:Container");
  const container = () => declared().inputs;

  it("runs `replicate --all` built by the runner's replicateArgs, as a job of its scheduler on its cron", async () => {
    const run = expectedRun("4h");
    expect(await valueOf(component.command)).toEqual(run);
    expect(container().entrypoints).toEqual(["node", "/app/runner/bin/lifeboat-runner.js"]);
    expect(container().command).toEqual(scheduleJobsArgs({ jobsFile: CONTAINER_PATHS.jobs, maxConcurrent: 1, stateFile: CONTAINER_PATHS.stateFile }));
    expect(jobTableOf(declared()).jobs.map((j) => [j.name, j.cron, j.argv, j.maxAge])).toEqual([["replicate-prod-replicate", "*/30 * * * *", run, "90m"]]);
    expect(container().name).toBe("lifeboat-prod-replicate-replicate");
    expect(await valueOf(component.containerName!)).toBe("lifeboat-prod-replicate-replicate");
    expect(component.schedule).toBe("*/30 * * * *");
  });

  it("alerts on lag beyond the given RPO: --max-lag is the rpo", async () => {
    const cmd = await valueOf(component.command);
    expect(cmd[cmd.indexOf("--max-lag") + 1]).toBe("4h");
    expect(component.maxLag).toBe("4h");
  });

  it("delivers both sides' credentials, webhook and ping only as secret env, under the runner's env names", () => {
    const env = scheduledJob(declared(), "replicate-prod-replicate").env;
    expect(env).toEqual({
      [ENV.accessKeyId]: SECRETS.accessKeyId,
      [ENV.secretAccessKey]: SECRETS.secretAccessKey,
      LIFEBOAT_REPLICA_ACCESS_KEY_ID: SECRETS.replicaAccessKeyId,
      LIFEBOAT_REPLICA_SECRET_ACCESS_KEY: SECRETS.replicaSecretAccessKey,
      [ENV.alertWebhook]: SECRETS.webhook,
      [ENV.pingUrl]: SECRETS.ping,
    });
    expect(ENV.replicaAccessKeyId).toBe("LIFEBOAT_REPLICA_ACCESS_KEY_ID");
    expect(ENV.replicaSecretAccessKey).toBe("LIFEBOAT_REPLICA_SECRET_ACCESS_KEY");
    expectNoPlainSecrets(resources, SECRETS);
  });

  it("healthchecks the job's last exit from the scheduler's state on its volume, mounts nothing else", () => {
    expect(container().healthcheck.tests).toEqual(["CMD", ...RUNNER_EXEC, "status", "--local", "--state-file", CONTAINER_PATHS.stateFile]);
    expect(container().mounts).toEqual([expect.objectContaining({ type: "volume", target: CONTAINER_PATHS.stateDir, readOnly: false })]);
    expect(ofType(resources, "docker:index/volume:Volume")).toHaveLength(1);
    expect(container()).toMatchObject({ restart: "unless-stopped", init: true, logDriver: "json-file" });
    expect(container().labels).toContainEqual({ label: "lifeboat.job", value: "replicate" });
  });

  it("uses the runner image on the given Docker host", () => {
    const provider = one(resources, "pulumi:providers:docker");
    expect(provider.inputs.host).toBe("ssh://backup@dr-host");
    expect(one(resources, "docker:index/remoteImage:RemoteImage").inputs.name).toMatch(/lifeboat-runner/);
  });

  it("registers its non-secret args (with defaults and maxLag) as props, and no secret arg", () => {
    const self = one(resources, "lifeboat:index:ScheduledReplication").inputs;
    expect(self).toMatchObject({
      runtime: "docker",
      schedule: "*/30 * * * *",
      rpo: "4h",
      maxLag: "4h",
      bucketName: "prod-backups",
      replicaBucketName: "prod-replica-1",
      replicaRegion: "us-east-2",
      prefix: "backups",
      replicaPrefix: "dr/backups",
    });
    for (const k of ["accessKeyId", "secretAccessKey", "replicaAccessKeyId", "replicaSecretAccessKey", "alertWebhookUrl", "healthcheckUrl"]) expect(self).not.toHaveProperty(k);
  });

  it("defaults: hourly, --max-lag 26h, replica prefix = source prefix", async () => {
    let c!: ScheduledReplication;
    const r = await declare(() => {
      c = new ScheduledReplication("defaults", {
        bucketName: "a-backups",
        replicaBucketName: "a-replica",
        accessKeyId: pulumi.secret(SECRETS.accessKeyId),
        secretAccessKey: pulumi.secret(SECRETS.secretAccessKey),
      });
    });
    expect(c.schedule).toBe("0 * * * *");
    expect(await valueOf(c.command)).toEqual(replicateArgs({ all: true, to: "s3://a-replica/backups", maxLag: "26h", dest: "s3://a-backups/backups", json: true }));
    // One identity for both sides: only AWS_* in the env.
    expect(Object.keys(scheduledJob(one(r, "docker:index/container:Container"), "replicate-defaults").env).sort()).toEqual([ENV.accessKeyId, ENV.secretAccessKey]);
  });
});

describe("ScheduledReplication on ECS Fargate (R2 -> R2 in another jurisdiction, keys on both sides)", () => {
  let resources: Declared[];
  let component: ScheduledReplication;
  beforeAll(async () => {
    resources = await declare(() => {
      component = new ScheduledReplication("prod-replicate", {
        bucketName: "prod-backups",
        endpoint: R2_ENDPOINT,
        region: "auto",
        replicaBucketName: "prod-replica-1",
        replicaEndpoint: R2_EU_ENDPOINT,
        replicaRegion: "auto",
        ...KEYS,
        rpo: "2h",
        schedule: "15 * * * *",
        alertWebhookUrl: pulumi.secret(SECRETS.webhook),
        runtime: "ecs",
        clusterArn: CLUSTER,
        subnetIds: ["subnet-0a1b2c3d"],
        ecsRegion: "us-east-2",
      });
    });
  });
  const taskDef = () => one(resources, "aws:ecs/taskDefinition:TaskDefinition");
  const container = () => JSON.parse(taskDef().inputs.containerDefinitions)[0];
  const rolePolicy = (name: string) => resources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.name === name)!;

  it("runs one plain `replicate --all` per task, built by replicateArgs, with --max-lag = rpo", async () => {
    const run = replicateArgs({
      all: true,
      to: "s3://prod-replica-1/backups",
      toEndpoint: R2_EU_ENDPOINT,
      toRegion: "auto",
      maxLag: "2h",
      dest: "s3://prod-backups/backups",
      endpoint: R2_ENDPOINT,
      region: "auto",
      json: true,
    });
    expect(container().entryPoint).toEqual(["node", "/app/runner/bin/lifeboat-runner.js"]);
    expect(container().command).toEqual(run);
    expect(await valueOf(component.command)).toEqual(run);
    expect(taskDef().inputs.family).toBe("lifeboat-prod-replicate-replicate");
    expect(await valueOf(component.taskDefinitionArn!)).toBe("arn:aws:ecs:us-east-2:123456789012:task-definition/lifeboat-prod-replicate-replicate:1");
    expect(ofType(resources, "aws:ecs/service:Service")).toHaveLength(0);
  });

  it("schedules it on EventBridge Scheduler with the cron in EventBridge form", () => {
    const s = one(resources, "aws:scheduler/schedule:Schedule").inputs;
    expect(s.scheduleExpression).toBe("cron(15 * * * ? *)");
    expect(s.scheduleExpression).toBe(toEventBridgeCron("15 * * * *"));
    expect(component.scheduleExpression).toBe("cron(15 * * * ? *)");
    expect(s.scheduleExpressionTimezone).toBe("UTC");
    expect(s.target.ecsParameters.taskDefinitionArn).toBe("arn:aws:ecs:us-east-2:123456789012:task-definition/lifeboat-prod-replicate-replicate:1");
  });

  it("keeps both sides' keys and the webhook in Secrets Manager under the runner's env names, none in plain inputs", () => {
    const refs = Object.fromEntries(container().secrets.map((s: any) => [s.name, s.valueFrom]));
    expect(Object.keys(refs).sort()).toEqual([ENV.accessKeyId, ENV.secretAccessKey, ENV.alertWebhook, "LIFEBOAT_REPLICA_ACCESS_KEY_ID", "LIFEBOAT_REPLICA_SECRET_ACCESS_KEY"].sort());
    for (const [k, v] of Object.entries(refs)) expect(v).toMatch(new RegExp(`:${k}::$`));
    expect(container()).not.toHaveProperty("environment");
    const stored = JSON.parse(unwrap(one(resources, "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString));
    expect(stored).toEqual({
      AWS_ACCESS_KEY_ID: SECRETS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SECRETS.secretAccessKey,
      LIFEBOAT_REPLICA_ACCESS_KEY_ID: SECRETS.replicaAccessKeyId,
      LIFEBOAT_REPLICA_SECRET_ACCESS_KEY: SECRETS.replicaSecretAccessKey,
      LIFEBOAT_ALERT_WEBHOOK: SECRETS.webhook,
    });
    expectNoPlainSecrets(resources, SECRETS);
  });

  it("declares no task role (keys on both sides) and scopes the scheduler role to this task definition, cluster and roles", () => {
    expect(taskDef().inputs.taskRoleArn).toBeUndefined();
    expect(resources.filter((r) => r.type === "aws:iam/role:Role").map((r) => r.name).sort()).toEqual(["prod-replicate-execution", "prod-replicate-scheduler"]);
    const policy = JSON.parse(rolePolicy("prod-replicate-scheduler").inputs.policy);
    expect(policy.Statement).toEqual([
      {
        Sid: "RunOnlyTheseTasks",
        Effect: "Allow",
        Action: "ecs:RunTask",
        Resource: ["arn:aws:ecs:us-east-2:123456789012:task-definition/lifeboat-prod-replicate-replicate:1"],
        Condition: { ArnEquals: { "ecs:cluster": CLUSTER } },
      },
      {
        Sid: "PassOnlyTheseRoles",
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: [arnOf("prod-replicate-execution")],
        Condition: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
      },
    ]);
    expect(JSON.stringify(policy)).not.toContain('"*"');
  });

  it("registers the ECS settings and maxLag as props, without secrets", () => {
    const self = one(resources, "lifeboat:index:ScheduledReplication").inputs;
    expect(self).toMatchObject({ runtime: "ecs", schedule: "15 * * * *", maxLag: "2h", clusterArn: CLUSTER, replicaEndpoint: R2_EU_ENDPOINT });
    expect(self).not.toHaveProperty("replicaSecretAccessKey");
    expect(self).not.toHaveProperty("alertWebhookUrl");
  });
});

describe("ScheduledReplication on ECS with a task role", () => {
  const SRC_ARN = "arn:aws:s3:::prod-backups-a1b2c3";
  const DST_ARN = "arn:aws:s3:::prod-replica-d4e5f6";
  const SRC_KMS = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555";
  const DST_KMS = "arn:aws:kms:us-east-2:123456789012:key/66666666-7777-8888-9999-000000000000";
  const ecs = { runtime: "ecs" as const, clusterArn: CLUSTER, subnetIds: ["subnet-0a1b2c3d"], ecsRegion: "us-east-2" };
  const s3ToS3 = {
    bucketName: "prod-backups-a1b2c3",
    region: "eu-west-1",
    replicaBucketName: "prod-replica-d4e5f6",
    replicaRegion: "us-east-2",
    rpo: "1h",
  };
  const taskPolicy = (r: Declared[], name: string) => JSON.parse(r.find((x) => x.type === "aws:iam/rolePolicy:RolePolicy" && x.name === `${name}-task`)!.inputs.policy);

  it("S3 -> S3: declares the replicator role from both bucket ARNs (replicatorPolicy), no keys in Secrets Manager", async () => {
    const r = await declare(() => new ScheduledReplication("s3s3", { ...s3ToS3, ...ecs, bucketArn: SRC_ARN, kmsKeyArn: SRC_KMS, replicaBucketArn: DST_ARN, replicaKmsKeyArn: DST_KMS }));
    expect(taskPolicy(r, "s3s3")).toEqual(
      replicatorPolicy({ source: { bucketArn: SRC_ARN, prefix: "backups", kmsKeyArn: SRC_KMS }, replica: { bucketArn: DST_ARN, prefix: "backups", kmsKeyArn: DST_KMS } }),
    );
    expect(one(r, "aws:ecs/taskDefinition:TaskDefinition").inputs.taskRoleArn).toBe(arnOf("s3s3-task"));
    expect(ofType(r, "aws:secretsmanager/secret:Secret")).toHaveLength(0);
    const pass = JSON.parse(r.find((x) => x.name === "s3s3-scheduler" && x.type === "aws:iam/rolePolicy:RolePolicy")!.inputs.policy).Statement[1];
    expect(pass.Resource).toEqual([arnOf("s3s3-execution"), arnOf("s3s3-task")]);
  });

  it("S3 -> R2: the declared role covers the source side only, the replica's R2 keys travel as LIFEBOAT_REPLICA_*", async () => {
    const r = await declare(
      () =>
        new ScheduledReplication("s3r2", {
          ...s3ToS3, replicaEndpoint: R2_ENDPOINT, replicaRegion: "auto", ...ecs, bucketArn: SRC_ARN, kmsKeyArn: SRC_KMS,
          replicaAccessKeyId: KEYS.replicaAccessKeyId, replicaSecretAccessKey: KEYS.replicaSecretAccessKey,
        }),
    );
    const full = replicatorPolicy({ source: { bucketArn: SRC_ARN, prefix: "backups", kmsKeyArn: SRC_KMS }, replica: { bucketArn: "arn:aws:s3:::lifeboat-r2-replica-placeholder", prefix: "backups" } });
    const policy = taskPolicy(r, "s3r2");
    expect(policy).toEqual(replicatorSide(full, SRC_ARN, SRC_KMS));
    expect(JSON.stringify(policy)).not.toContain("placeholder");
    const def = JSON.parse(one(r, "aws:ecs/taskDefinition:TaskDefinition").inputs.containerDefinitions)[0];
    expect(def.secrets.map((s: any) => s.name).sort()).toEqual(["LIFEBOAT_REPLICA_ACCESS_KEY_ID", "LIFEBOAT_REPLICA_SECRET_ACCESS_KEY"]);
    expectNoPlainSecrets(r, SECRETS);
  });

  it("uses an existing task role (BackupAccess identity role) and declares none", async () => {
    const existing = "arn:aws:iam::123456789012:role/prod-replicator";
    const r = await declare(() => new ScheduledReplication("given", { ...s3ToS3, ...ecs, taskRoleArn: existing }));
    expect(one(r, "aws:ecs/taskDefinition:TaskDefinition").inputs.taskRoleArn).toBe(existing);
    expect(r.filter((x) => x.type === "aws:iam/role:Role").map((x) => x.name).sort()).toEqual(["given-execution", "given-scheduler"]);
  });
});

describe("ScheduledReplication fed by BackupAccess (R2 -> S3 replicator, as DisasterRecovery wires it)", () => {
  it("puts the replicator's source token in AWS_* and its replica key in LIFEBOAT_REPLICA_*, secret", async () => {
    let access!: BackupAccess;
    const r = await declare(() => {
      const src = new BackupBucket("prod-backups", { provider: "r2", accountId: "0123456789abcdef0123456789abcdef", sources: ["app-db"] });
      const dst = new BackupBucket("prod-replica-1", { provider: "s3", region: "us-east-2", sources: ["app-db"] });
      access = new BackupAccess("prod-replicator", { ...bucketAccessFields(src), role: "replicator", replica: bucketAccessFields(dst), now: "2026-02-10T12:00:00Z" });
      new ScheduledReplication("prod-replicate", {
        bucketName: src.bucketName,
        prefix: src.prefix,
        endpoint: access.endpoint,
        region: access.region,
        replicaBucketName: dst.bucketName,
        replicaPrefix: dst.prefix,
        replicaEndpoint: access.replicaEndpoint!,
        replicaRegion: access.replicaRegion!,
        accessKeyId: access.accessKeyId!,
        secretAccessKey: access.secretAccessKey!,
        replicaAccessKeyId: access.replicaAccessKeyId!,
        replicaSecretAccessKey: access.replicaSecretAccessKey!,
        rpo: "24h",
      });
    });
    const { job, env } = scheduledJob(one(r, "docker:index/container:Container"), "replicate-prod-replicate");
    expect(env[ENV.accessKeyId]).toBe(await valueOf(access.accessKeyId!));
    expect(env[ENV.secretAccessKey]).toBe(await valueOf(access.secretAccessKey!));
    expect(env[ENV.replicaAccessKeyId]).toBe(await valueOf(access.replicaAccessKeyId!));
    expect(env[ENV.replicaSecretAccessKey]).toBe(await valueOf(access.replicaSecretAccessKey!));
    expect(env[ENV.replicaAccessKeyId]).not.toBe(env[ENV.accessKeyId]);
    const inner = job.argv;
    expect(inner.slice(0, 2)).toEqual(["replicate", "--all"]);
    expect(inner[inner.indexOf("--to-region") + 1]).toBe("us-east-2");
    expect(inner[inner.indexOf("--region") + 1]).toBe("auto");
    // No key material outside the secret env.
    const plain = JSON.stringify(redacted(one(r, "docker:index/container:Container").inputs));
    for (const v of Object.values(env)) expect(plain).not.toContain(v);
  });
});

describe("ScheduledReplication rejects what it cannot do", () => {
  const keys = { accessKeyId: "a", secretAccessKey: "b" };
  const base = { bucketName: "a-backups", replicaBucketName: "a-replica" };
  const ecs = { runtime: "ecs" as const, clusterArn: CLUSTER, subnetIds: ["subnet-1"] };
  it("a schedule slower than the RPO, a bad rpo or cron, one of two keys, docker without keys, R2 replica without endpoint, same bucket", () => {
    expect(() => new ScheduledReplication("e1", { ...base, ...keys, rpo: "1h", schedule: "0 */2 * * *" })).toThrow(/runs up to 2h apart, longer than the rpo 1h/);
    expect(() => new ScheduledReplication("e2", { ...base, ...keys, rpo: "soon" })).toThrow(/rpo must be a duration/);
    expect(() => new ScheduledReplication("e3", { ...base, ...keys, schedule: "hourly" })).toThrow(/schedule/);
    expect(() => new ScheduledReplication("e4", { ...base, accessKeyId: "a" })).toThrow(/together/);
    expect(() => new ScheduledReplication("e5", { ...base, ...keys, replicaAccessKeyId: "c" })).toThrow(/together/);
    expect(() => new ScheduledReplication("e6", { ...base })).toThrow(/runtime docker needs/);
    expect(() => new ScheduledReplication("e7", { ...base, ...keys, replicaRegion: "auto" })).toThrow(/replicaEndpoint/);
    expect(() => new ScheduledReplication("e8", { ...keys, bucketName: "same", replicaBucketName: "same" })).toThrow(/must differ/);
  });
  it("on ECS: no credentials at all, source keys shadowing the task role on the replica side, a declared role without a replica side", () => {
    expect(() => new ScheduledReplication("e9", { ...base, ...ecs })).toThrow(/needs S3 credentials/);
    expect(() => new ScheduledReplication("e10", { ...base, ...ecs, ...keys, taskRoleArn: "arn:aws:iam::1:role/r" })).toThrow(/replicaAccessKeyId/);
    expect(() => new ScheduledReplication("e11", { ...base, ...ecs, bucketArn: "arn:aws:s3:::a-backups" })).toThrow(/covers only the source side/);
    expect(() => new ScheduledReplication("e12", { ...base, ...ecs, ...keys, replicaBucketArn: "arn:aws:s3:::a-replica" })).toThrow(/needs bucketArn/);
  });
});
