import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Cron } from "croner";
import { backupArgs, scheduleJobsArgs, statusArgs } from "lifeboat-core";
import { ScheduledBackup, toEventBridgeCron } from "../../components";
import { writerPolicy } from "../../components/access/iamDocuments";
import { buildContextDigest } from "../../components/schedule/buildContext";
import { ECS_TASK_EXECUTION_POLICY_ARN } from "../../components/schedule/ecs";
import { declare, Declared, envMap, expectNoPlainSecrets, installMocks, isSecretValue, jobTableOf, ofType, one, redacted, scheduledJob, unwrap, valueOf } from "./mockHarness";

installMocks();

const RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const SECRETS = {
  sourceUrl: "postgres://app:pg-Pa55-7f3a@db.internal:5432/app",
  redisUrl: "redis://:redis-Pa55-91c2@cache.internal:6379",
  accessKeyId: "AKIAWRITER0000EXAMPLE",
  secretAccessKey: "writer-secret-key-4b7d9e2a1c",
  webhook: "https://hooks.slack.com/services/T000/B000/hook-secret-5e8f",
  ping: "https://hc-ping.com/ping-secret-0d6b",
};
const R2_ENDPOINT = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com";

describe("ScheduledBackup on a Docker host (postgres on R2)", () => {
  let resources: Declared[];
  let component: ScheduledBackup;
  beforeAll(async () => {
    resources = await declare(() => {
      component = new ScheduledBackup("app-db-backup", {
        sourceName: "app-db",
        sourceKind: "postgres",
        sourceUrl: pulumi.secret(SECRETS.sourceUrl),
        bucketName: "prod-backups",
        prefix: "backups",
        endpoint: R2_ENDPOINT,
        region: "auto",
        accessKeyId: pulumi.secret(SECRETS.accessKeyId),
        secretAccessKey: pulumi.secret(SECRETS.secretAccessKey),
        ageRecipients: [RECIPIENT],
        schedule: "30 2 * * *",
        alertWebhookUrl: pulumi.secret(SECRETS.webhook),
        healthcheckUrl: pulumi.secret(SECRETS.ping),
        dockerHost: "ssh://backup@db-host",
        network: "app-net",
        labels: { team: "crm" },
      });
    });
  });

  const container = () => one(resources, "docker:index/container:Container");
  const oneRun = backupArgs({
    source: "postgres",
    name: "app-db",
    recipients: [RECIPIENT],
    dest: "s3://prod-backups/backups",
    endpoint: R2_ENDPOINT,
    region: "auto",
    stateFile: "/var/lib/lifeboat/runner-state.json",
    json: true,
  });

  it("runs `lifeboat-runner schedule --jobs` with one job: `backup …` on the source's cron, built by the runner's own argv builders", async () => {
    const c = container().inputs;
    expect(c.entrypoints).toEqual(["node", "/app/runner/bin/lifeboat-runner.js"]);
    expect(c.command).toEqual(scheduleJobsArgs({ jobsFile: "/etc/lifeboat/jobs.json", maxConcurrent: 1, stateFile: "/var/lib/lifeboat/runner-state.json" }));
    const table = jobTableOf(container());
    expect(table.jobs).toEqual([{ name: "backup-app-db", cron: "30 2 * * *", argv: oneRun, env: expect.any(Object), maxAge: "25h", runAtStart: false }]);
    // Without an identity on this side, the table is plain: a plan shows it for review.
    expect(isSecretValue(c.uploads)).toBe(false);
    expect(c.uploads).toEqual([{ file: "/etc/lifeboat/jobs.json", content: expect.any(String), permissions: "0444" }]);
    expect(await valueOf(component.command)).toEqual(oneRun);
  });

  it("declares an explicit docker provider for the ssh host and puts every docker resource on it", () => {
    const provider = one(resources, "pulumi:providers:docker");
    expect(provider.inputs.host).toBe("ssh://backup@db-host");
    for (const t of ["docker:index/container:Container", "docker:index/remoteImage:RemoteImage", "docker:index/volume:Volume"]) {
      expect(one(resources, t).provider).toMatch(/::app-db-backup-docker::/);
    }
  });

  it("pulls the runner image and keeps it for other jobs on the host", () => {
    const image = one(resources, "docker:index/remoteImage:RemoteImage").inputs;
    expect(image.keepLocally).toBe(true);
    expect(container().inputs.image).toMatch(/^sha256:/);
    expect(ofType(resources, "docker:index/image:Image")).toHaveLength(0);
  });

  it("restarts unless stopped, healthchecks with `status --local` (each job against its own max age), rotates its logs, labels itself", () => {
    const c = container().inputs;
    expect(c.restart).toBe("unless-stopped");
    expect(c.healthcheck.tests).toEqual(["CMD", "node", "/app/runner/bin/lifeboat-runner.js", ...statusArgs({ local: true, stateFile: "/var/lib/lifeboat/runner-state.json" })]);
    expect(c.logDriver).toBe("json-file");
    expect(c.logOpts).toEqual({ "max-size": "10m", "max-file": "5" });
    const labels = Object.fromEntries(c.labels.map((l: any) => [l.label, l.value]));
    expect(labels).toMatchObject({ "lifeboat.job": "backup", "lifeboat.source": "app-db", team: "crm" });
    expect(c.networksAdvanced).toEqual([{ name: "app-net" }]);
  });

  it("keeps the runner state on a named volume, so the healthcheck survives restarts", () => {
    const volume = one(resources, "docker:index/volume:Volume");
    expect(container().inputs.mounts).toEqual([{ type: "volume", source: volume.inputs.name, target: "/var/lib/lifeboat", readOnly: false }]);
  });

  it("passes the source URL, S3 keys, webhook and ping URL only as secret env, which the job's run gets under the runner's names", () => {
    const { job, env } = scheduledJob(container(), "backup-app-db");
    const own = {
      LIFEBOAT_SOURCE_URL: SECRETS.sourceUrl,
      AWS_ACCESS_KEY_ID: SECRETS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SECRETS.secretAccessKey,
      LIFEBOAT_ALERT_WEBHOOK: SECRETS.webhook,
      LIFEBOAT_PING_URL: SECRETS.ping,
    };
    expect(env).toEqual(own);
    // The container holds them only under per-job names (LIFEBOAT_JOB_0_…), which the table names.
    expect(Object.keys(envMap(unwrap(container().inputs.envs))).sort()).toEqual(Object.values(job.env).sort());
    expect(Object.keys(job.env).sort()).toEqual(Object.keys(own).sort());
    expect(JSON.stringify(job.argv)).not.toMatch(/--url|--alert-webhook|--ping-url/);
  });

  it("never shows a secret in plain text in any declared input, its own registered props included", () => {
    expectNoPlainSecrets(resources, SECRETS);
  });

  it("registers its own args minus secrets, with defaults filled, for policies to judge", () => {
    const self = one(resources, "lifeboat:index:ScheduledBackup").inputs;
    expect(self).toMatchObject({ sourceName: "app-db", sourceKind: "postgres", schedule: "30 2 * * *", runtime: "docker", prefix: "backups", bucketName: "prod-backups" });
    for (const k of ["sourceUrl", "accessKeyId", "secretAccessKey", "alertWebhookUrl", "healthcheckUrl"]) expect(self).not.toHaveProperty(k);
  });
});

describe("ScheduledBackup of volumes, directories and SQLite files on Docker", () => {
  const common = {
    bucketName: "prod-backups",
    region: "auto",
    endpoint: R2_ENDPOINT,
    accessKeyId: pulumi.secret(SECRETS.accessKeyId),
    secretAccessKey: pulumi.secret(SECRETS.secretAccessKey),
    ageRecipients: [RECIPIENT],
  };

  async function sourceMount(args: { sourceKind: "volume" | "directory" | "sqlite"; volume?: string; path?: string }) {
    const resources = await declare(() => new ScheduledBackup("files", { sourceName: "files", ...common, ...args }));
    const c = one(resources, "docker:index/container:Container");
    const source = c.inputs.mounts.find((m: any) => m.target === "/source/files");
    const run = jobTableOf(c).jobs[0]!.argv;
    return { source, path: run[run.indexOf("--path") + 1], run };
  }

  it("mounts a Docker volume read-only and backs up the mount point", async () => {
    const m = await sourceMount({ sourceKind: "volume", volume: "n8n_data" });
    expect(m.source).toEqual({ type: "volume", source: "n8n_data", target: "/source/files", readOnly: true });
    expect(m.run.slice(0, 5)).toEqual(["backup", "--source", "volume", "--name", "files"]);
    expect(m.path).toBe("/source/files");
  });

  it("bind-mounts a host directory read-only", async () => {
    const m = await sourceMount({ sourceKind: "directory", path: "/srv/whatsapp/sessions" });
    expect(m.source).toEqual({ type: "bind", source: "/srv/whatsapp/sessions", target: "/source/files", readOnly: true });
    expect(m.path).toBe("/source/files");
  });

  it("bind-mounts a SQLite file's directory read-only and backs up the file", async () => {
    const m = await sourceMount({ sourceKind: "sqlite", path: "/srv/app/data/app.db" });
    expect(m.source).toEqual({ type: "bind", source: "/srv/app/data", target: "/source/files", readOnly: true });
    expect(m.path).toBe("/source/files/app.db");
  });

  it("builds the image from runner/Dockerfile on the Docker host when asked, and runs it by image id", async () => {
    const resources = await declare(
      () => new ScheduledBackup("built", { sourceName: "cache", sourceKind: "redis", sourceUrl: pulumi.secret(SECRETS.redisUrl), build: true, ...common }),
    );
    const image = one(resources, "docker:index/remoteImage:RemoteImage").inputs;
    // The provider reads the Dockerfile relative to the context: the package root, which ships it.
    expect(image.build.dockerfile).toBe("runner/Dockerfile");
    expect(fs.existsSync(path.join(image.build.context, image.build.dockerfile))).toBe(true);
    expect(image.keepLocally).toBe(true);
    // Rebuilt when (and only when) what the Dockerfile builds from changes.
    expect(image.triggers).toEqual({ context: buildContextDigest(image.build.context) });
    // The image id changes only with the image: a tag (or imageName) would never match state.
    expect(one(resources, "docker:index/container:Container").inputs.image).toMatch(/^sha256:[0-9a-f]+$/);
    expect(ofType(resources, "pulumi:providers:docker")).toHaveLength(0);
    expect(ofType(resources, "docker:index/image:Image")).toHaveLength(0);
    expectNoPlainSecrets(resources, SECRETS);
  });

  it("with build: true, names buildContext and what it lacks when it is not a built package or checkout, before declaring any docker resource", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-pkg-"));
    let error: unknown;
    const resources = await declare(() => {
      try {
        new ScheduledBackup("built-elsewhere", { sourceName: "cache", sourceKind: "redis", sourceUrl: pulumi.secret(SECRETS.redisUrl), build: true, buildContext: dir, ...common });
      } catch (e) {
        error = e;
      }
    });
    expect(String(error)).toMatch(/buildContext: .* is not a built lifeboat package or checkout; it has no runner\/Dockerfile, runner\/image\/package.json, .*runner\/dist, runner\/bin/);
    expect(resources.filter((r) => r.type.startsWith("docker:"))).toEqual([]);
  });
});

describe("ScheduledBackup on ECS Fargate (postgres on S3)", () => {
  const CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/backups";
  const BUCKET_ARN = "arn:aws:s3:::prod-backups-a1b2c3";
  const KMS = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555";
  let resources: Declared[];
  let component: ScheduledBackup;
  beforeAll(async () => {
    resources = await declare(() => {
      component = new ScheduledBackup("app-db-backup", {
        sourceName: "app-db",
        sourceKind: "postgres",
        sourceUrl: pulumi.secret(SECRETS.sourceUrl),
        bucketName: "prod-backups-a1b2c3",
        region: "eu-west-1",
        endpoint: "https://s3.eu-west-1.amazonaws.com",
        ageRecipients: [RECIPIENT],
        schedule: "15 1 * * 1-5",
        alertWebhookUrl: pulumi.secret(SECRETS.webhook),
        runtime: "ecs",
        clusterArn: CLUSTER,
        subnetIds: ["subnet-0a1b2c3d"],
        securityGroupIds: ["sg-0a1b2c3d"],
        ecsRegion: "eu-west-1",
        bucketArn: BUCKET_ARN,
        kmsKeyArn: KMS,
      });
    });
  });

  const taskDef = () => one(resources, "aws:ecs/taskDefinition:TaskDefinition");
  const container = () => JSON.parse(taskDef().inputs.containerDefinitions)[0];
  const role = (name: string) => resources.find((r) => r.type === "aws:iam/role:Role" && r.name === name)!;
  const rolePolicy = (name: string) => resources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.name === name)!;
  const arnOf = (name: string) => `arn:aws:iam::123456789012:role/${name}`;

  it("runs one plain `backup` per task (no schedule loop), built by the runner's argv builder", async () => {
    const run = backupArgs({
      source: "postgres",
      name: "app-db",
      recipients: [RECIPIENT],
      dest: "s3://prod-backups-a1b2c3/backups",
      endpoint: "https://s3.eu-west-1.amazonaws.com",
      region: "eu-west-1",
      json: true,
    });
    expect(container().entryPoint).toEqual(["node", "/app/runner/bin/lifeboat-runner.js"]);
    expect(container().command).toEqual(run);
    expect(await valueOf(component.command)).toEqual(run);
    expect(taskDef().inputs).toMatchObject({ requiresCompatibilities: ["FARGATE"], networkMode: "awsvpc", cpu: "512", memory: "1024" });
    expect(ofType(resources, "aws:ecs/service:Service")).toHaveLength(0);
  });

  it("schedules it on EventBridge Scheduler with the source's cron in EventBridge form", () => {
    const s = one(resources, "aws:scheduler/schedule:Schedule").inputs;
    expect(s.scheduleExpression).toBe("cron(15 1 ? * 2-6 *)");
    expect(s.scheduleExpression).toBe(toEventBridgeCron("15 1 * * 1-5"));
    expect(s.scheduleExpressionTimezone).toBe("UTC");
    expect(s.target.arn).toBe(CLUSTER);
    expect(s.target.ecsParameters).toMatchObject({
      taskDefinitionArn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/lifeboat-app-db-backup-backup:1",
      launchType: "FARGATE",
      taskCount: 1,
      networkConfiguration: { subnets: ["subnet-0a1b2c3d"], securityGroups: ["sg-0a1b2c3d"], assignPublicIp: false },
    });
    expect(s.target.roleArn).toBe(arnOf("app-db-backup-scheduler"));
  });

  it("gives the task the writer role: its inline policy is writerPolicy(...) for this bucket, prefix and source", () => {
    expect(taskDef().inputs.taskRoleArn).toBe(arnOf("app-db-backup-task"));
    expect(JSON.parse(role("app-db-backup-task").inputs.assumeRolePolicy).Statement[0].Principal).toEqual({ Service: "ecs-tasks.amazonaws.com" });
    const policy = JSON.parse(rolePolicy("app-db-backup-task").inputs.policy);
    expect(policy).toEqual(writerPolicy({ bucketArn: BUCKET_ARN, prefix: "backups", source: "app-db", kmsKeyArn: KMS }));
  });

  it("keeps secrets in Secrets Manager, referenced by the container definition, readable only by the execution role", () => {
    const secret = one(resources, "aws:secretsmanager/secret:Secret");
    const secretArn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${secret.name}-`;
    const refs = Object.fromEntries(container().secrets.map((s: any) => [s.name, s.valueFrom]));
    expect(Object.keys(refs).sort()).toEqual(["LIFEBOAT_ALERT_WEBHOOK", "LIFEBOAT_SOURCE_URL"]);
    for (const [k, v] of Object.entries(refs)) expect(v).toMatch(new RegExp(`^${secretArn}[0-9a-f]{6}:${k}::$`));
    expect(container()).not.toHaveProperty("environment");
    const version = one(resources, "aws:secretsmanager/secretVersion:SecretVersion").inputs;
    expect(JSON.parse(unwrap(version.secretString))).toEqual({ LIFEBOAT_ALERT_WEBHOOK: SECRETS.webhook, LIFEBOAT_SOURCE_URL: SECRETS.sourceUrl });
    const exec = JSON.parse(rolePolicy("app-db-backup-execution-secrets").inputs.policy);
    expect(exec.Statement).toEqual([{ Sid: "ReadJobSecrets", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: Object.values(refs)[0]!.replace(/:[A-Z_]+::$/, "") }]);
    expect(taskDef().inputs.executionRoleArn).toBe(arnOf("app-db-backup-execution"));
    expect(one(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").inputs.policyArn).toBe(ECS_TASK_EXECUTION_POLICY_ARN);
    expectNoPlainSecrets(resources, SECRETS);
  });

  it("logs to a CloudWatch log group with retention", () => {
    const group = one(resources, "aws:cloudwatch/logGroup:LogGroup").inputs;
    expect(group.retentionInDays).toBe(30);
    expect(container().logConfiguration).toEqual({
      logDriver: "awslogs",
      options: { "awslogs-group": group.name, "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "backup" },
    });
  });

  it("scopes the scheduler role to RunTask of this task definition in this cluster and PassRole of the two roles", () => {
    const trust = JSON.parse(role("app-db-backup-scheduler").inputs.assumeRolePolicy);
    expect(trust.Statement).toEqual([{ Effect: "Allow", Principal: { Service: "scheduler.amazonaws.com" }, Action: "sts:AssumeRole" }]);
    const policy = JSON.parse(rolePolicy("app-db-backup-scheduler").inputs.policy);
    expect(policy.Statement).toEqual([
      {
        Sid: "RunOnlyTheseTasks",
        Effect: "Allow",
        Action: "ecs:RunTask",
        Resource: ["arn:aws:ecs:eu-west-1:123456789012:task-definition/lifeboat-app-db-backup-backup:1"],
        Condition: { ArnEquals: { "ecs:cluster": CLUSTER } },
      },
      {
        Sid: "PassOnlyTheseRoles",
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: [arnOf("app-db-backup-execution"), arnOf("app-db-backup-task")],
        Condition: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
      },
    ]);
    expect(JSON.stringify(policy)).not.toContain('"*"');
  });

  it("registers its args minus secrets", () => {
    const self = one(resources, "lifeboat:index:ScheduledBackup").inputs;
    expect(self).toMatchObject({ runtime: "ecs", schedule: "15 1 * * 1-5", clusterArn: CLUSTER, sourceName: "app-db" });
    expect(self).not.toHaveProperty("sourceUrl");
    expect(self).not.toHaveProperty("alertWebhookUrl");
  });

  it("uses an existing task role when given one, and declares none", async () => {
    const existing = "arn:aws:iam::123456789012:role/writer-from-backup-access";
    const r = await declare(
      () =>
        new ScheduledBackup("given-role", {
          sourceName: "app-db", sourceKind: "postgres", sourceUrl: pulumi.secret(SECRETS.sourceUrl), bucketName: "b-1", ageRecipients: [RECIPIENT],
          runtime: "ecs", clusterArn: CLUSTER, subnetIds: ["subnet-0a1b2c3d"], ecsRegion: "eu-west-1", taskRoleArn: existing,
        }),
    );
    expect(one(r, "aws:ecs/taskDefinition:TaskDefinition").inputs.taskRoleArn).toBe(existing);
    expect(r.filter((x) => x.type === "aws:iam/role:Role").map((x) => x.name).sort()).toEqual(["given-role-execution", "given-role-scheduler"]);
    const pass = JSON.parse(r.find((x) => x.name === "given-role-scheduler" && x.type === "aws:iam/rolePolicy:RolePolicy")!.inputs.policy).Statement[1];
    expect(pass.Resource).toEqual([arnOf("given-role-execution"), existing]);
  });
});

describe("ScheduledBackup rejects what it cannot do", () => {
  const base = { sourceName: "x", bucketName: "b-1", ageRecipients: [RECIPIENT] };
  it("a Docker volume on ECS, a postgres source without a URL, a bad source name, one of two keys, a bad cron", () => {
    expect(() => new ScheduledBackup("e1", { ...base, sourceKind: "volume", volume: "v1", runtime: "ecs", clusterArn: "arn:aws:ecs:eu-west-1:1:cluster/c", subnetIds: ["subnet-1"], taskRoleArn: "arn:aws:iam::1:role/r" })).toThrow(/runtime docker/);
    expect(() => new ScheduledBackup("e2", { ...base, sourceKind: "postgres" })).toThrow(/sourceUrl/);
    expect(() => new ScheduledBackup("e3", { ...base, sourceName: "Bad_Name", sourceKind: "volume", volume: "v1" })).toThrow(/sourceName/);
    expect(() => new ScheduledBackup("e4", { ...base, sourceKind: "volume", volume: "v1", accessKeyId: "a" })).toThrow(/together/);
    expect(() => new ScheduledBackup("e5", { ...base, sourceKind: "volume", volume: "v1", schedule: "every day" })).toThrow(/schedule/);
    expect(() => new ScheduledBackup("e6", { ...base, sourceKind: "redis", sourceUrl: "redis://x", runtime: "ecs", clusterArn: "arn:aws:ecs:eu-west-1:1:cluster/c", subnetIds: ["subnet-1"] })).toThrow(/credentials/);
  });
});

describe("toEventBridgeCron", () => {
  it.each([
    ["0 3 * * *", "cron(0 3 * * ? *)"],
    ["0 * * * *", "cron(0 * * * ? *)"],
    ["*/15 * * * *", "cron(0/15 * * * ? *)"],
    ["30 4 1 * *", "cron(30 4 1 * ? *)"],
    ["0 2 * * 0", "cron(0 2 ? * 1 *)"],
    ["0 2 * * 7", "cron(0 2 ? * 1 *)"],
    ["0 5 * * SUN", "cron(0 5 ? * 1 *)"],
    ["0 5 * * MON-FRI", "cron(0 5 ? * 2-6 *)"],
    ["0 5 * * 1-5", "cron(0 5 ? * 2-6 *)"],
    ["0 5 * * 6,0", "cron(0 5 ? * 1,7 *)"],
    ["0 5 * * 5-7", "cron(0 5 ? * 1,6,7 *)"],
    ["0 5 * * */2", "cron(0 5 ? * 1,3,5,7 *)"],
    ["0 6 * * 1#1", "cron(0 6 ? * 2#1 *)"],
    ["0 0 */2 * *", "cron(0 0 1/2 * ? *)"],
    ["0 5 1 1 *", "cron(0 5 1 1 ? *)"],
    ["0 5 1 */3 *", "cron(0 5 1 1/3 ? *)"],
  ])("%s -> %s", (cron, expected) => {
    expect(toEventBridgeCron(cron)).toBe(expected);
  });

  it("rejects what EventBridge cannot express: both day fields restricted, or not 5 fields", () => {
    expect(() => toEventBridgeCron("0 3 1 * 1")).toThrow(/both day of month and day of week/);
    expect(() => toEventBridgeCron("0 3 * * * *")).toThrow(/5-field/);
  });

  /** EventBridge's expression back in standard cron, read the EventBridge way (`?` = any, weekdays 1-7 with SUN=1). */
  function fromEventBridge(expr: string): string {
    const [min, hour, dom, mon, dow, year] = /^cron\((.*)\)$/.exec(expr)![1]!.split(" ");
    expect(year).toBe("*");
    expect([dom, dow]).toContain("?");
    const day = (n: string) => String(Number(n) - 1);
    const weekdays = dow === "?" ? "*" : dow!.replace(/\d+(?=[-,#]|$)/g, (n, i: number, s: string) => (s[i - 1] === "#" ? n : day(n)));
    // EventBridge's `start/step` runs to the field's end; croner spells that `start-end/step`.
    const steps = (field: string, end: number) => field.replace(/^(\d+)\/(\d+)$/, `$1-${end}/$2`);
    return [steps(min!, 59), steps(hour!, 23), dom === "?" ? "*" : steps(dom!, 31), steps(mon!, 12), weekdays].join(" ");
  }

  it.each(["0 3 * * *", "*/15 * * * *", "0 2 * * 0", "0 2 * * 7", "0 5 * * 1-5", "0 5 * * 6,0", "0 5 * * 5-7", "0 5 * * */2", "0 0 */2 * *", "0 5 1 */3 *", "0 6 * * 1#1", "0 5 * * MON-FRI"])(
    "%s fires at the same times after translation (next 60 runs)",
    (cron) => {
      const a = new Cron(cron, { timezone: "UTC", paused: true });
      const b = new Cron(fromEventBridge(toEventBridgeCron(cron)), { timezone: "UTC", paused: true });
      const runs = (c: Cron) => {
        const out: string[] = [];
        let t: Date | null = new Date(Date.UTC(2026, 0, 1));
        for (let i = 0; i < 60 && t; i++) out.push((t = c.nextRun(t))!.toISOString());
        return out;
      };
      expect(runs(b)).toEqual(runs(a));
    },
  );
});

describe("ScheduledBackup with point-in-time recovery (pitr)", () => {
  const pitrArgs = {
    sourceName: "crm-db", sourceKind: "postgres" as const, sourceUrl: pulumi.secret(SECRETS.sourceUrl),
    bucketName: "crm-backups", endpoint: "https://s3.eu-west-1.amazonaws.com", region: "eu-west-1",
    accessKeyId: pulumi.secret(SECRETS.accessKeyId), secretAccessKey: pulumi.secret(SECRETS.secretAccessKey),
    ageRecipients: [RECIPIENT], schedule: "0 2 * * *", rpo: "5m", pitr: true, walFlushInterval: "30s",
  };

  it("takes base backups on the schedule and runs the wal-stream sidecar with its spool on a volume", async () => {
    const resources = await declare(() => new ScheduledBackup("crm-db", pitrArgs));
    const containers = ofType(resources, "docker:index/container:Container");
    const backup = containers.find((c) => c.name === "crm-db-backup")!;
    const sidecar = containers.find((c) => c.name === "crm-db-wal-stream")!;
    expect(backup.inputs.command[0]).toBe("schedule");
    expect(jobTableOf(backup).jobs.map((j) => [j.name, j.cron, j.argv.slice(0, 3)])).toEqual([["backup-crm-db", "0 2 * * *", ["basebackup", "--name", "crm-db"]]]);
    expect(sidecar.inputs.command).toEqual(expect.arrayContaining(["wal-stream", "--name", "crm-db", "--flush-interval", "30s", "--max-lag", "5m", "--spool-dir", "/var/lib/lifeboat/wal-spool"]));
    expect(sidecar.inputs.mounts).toContainEqual(expect.objectContaining({ type: "volume", target: "/var/lib/lifeboat", readOnly: false }));
    expect(isSecretValue(sidecar.inputs.envs)).toBe(true);
    expect(sidecar.inputs.uploads).toBeUndefined();
    expect(containers).toHaveLength(2);
    const text = JSON.stringify(resources.map((r) => redacted(r.inputs)));
    for (const s of Object.values(SECRETS)) expect(text).not.toContain(s);
  });

  it("keeps the lag alert above one flush interval when the RPO is as short as the flush", async () => {
    const resources = await declare(() => new ScheduledBackup("crm-db-2", { ...pitrArgs, rpo: "30s" }));
    const sidecar = ofType(resources, "docker:index/container:Container").find((c) => c.name === "crm-db-2-wal-stream")!;
    expect(sidecar.inputs.command).toEqual(expect.arrayContaining(["--max-lag", "90s"]));
  });

  it("refuses pitr where it cannot work, naming the field", () => {
    expect(() => new ScheduledBackup("x1", { ...pitrArgs, sourceKind: "redis" })).toThrow(/pitr is for postgres sources, not redis/);
    expect(() => new ScheduledBackup("x2", { ...pitrArgs, runtime: "ecs", clusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/c", subnetIds: ["subnet-1"] }))
      .toThrow(/pitr needs runtime docker/);
    expect(() => new ScheduledBackup("x3", { ...pitrArgs, walFlushInterval: "soon" })).toThrow(/walFlushInterval must be a duration/);
  });
});
