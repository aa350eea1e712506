import * as pulumi from "@pulumi/pulumi";
import { reportArgs, scheduleJobsArgs, statusArgs, verifyArgs } from "lifeboat-core";
import { ScheduledVerification } from "../../components";
import { restorerPolicy } from "../../components/access/iamDocuments";
import { AGE_IDENTITY_ENV, ECS_IDENTITY_FILE } from "../../components/schedule/ecs";
import { declare, Declared, expectNoPlainSecrets, installMocks, jobTableOf, ofType, one, scheduledJob, unwrap } from "./mockHarness";

installMocks();

const SECRETS = {
  identity: "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQSECRET",
  scratchUrl: "postgres://drill:scratch-Pa55-2e1f@scratch.internal:5432/postgres",
  accessKeyId: "AKIARESTORER00EXAMPLE",
  secretAccessKey: "restorer-secret-key-8c3a6f",
  webhook: "https://hooks.slack.com/services/T000/B000/hook-secret-77aa",
  ping: "https://hc-ping.com/verify-ping-secret-1a2b",
  statusPing: "https://hc-ping.com/status-ping-secret-3c4d",
};
const STATE = "/var/lib/lifeboat/runner-state.json";
const R2_ENDPOINT = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com";


describe("ScheduledVerification on a Docker host", () => {
  let resources: Declared[];
  beforeAll(async () => {
    resources = await declare(
      () =>
        new ScheduledVerification("app-db-verify", {
          sourceName: "app-db",
          sourceKind: "postgres",
          bucketName: "prod-backups",
          endpoint: R2_ENDPOINT,
          region: "auto",
          accessKeyId: pulumi.secret(SECRETS.accessKeyId),
          secretAccessKey: pulumi.secret(SECRETS.secretAccessKey),
          ageIdentity: pulumi.secret(SECRETS.identity),
          scratchUrl: pulumi.secret(SECRETS.scratchUrl),
          schedule: "0 5 * * 0",
          backupSchedule: "30 2 * * *",
          rto: "4h",
          alertWebhookUrl: pulumi.secret(SECRETS.webhook),
          healthcheckUrl: pulumi.secret(SECRETS.ping),
          statusHealthcheckUrl: pulumi.secret(SECRETS.statusPing),
          dockerHost: "ssh://backup@db-host",
        }),
    );
  });
  const container = () => one(resources, "docker:index/container:Container");
  const dest = { dest: "s3://prod-backups/backups", endpoint: R2_ENDPOINT, region: "auto" };

  it("runs its jobs in one scheduler container: the drill on its cron, `status` hourly and beside it the status page, built by the runner's argv builders", () => {
    const c = container();
    expect(c.name).toBe("app-db-verify-verify");
    expect(c.inputs.entrypoints).toEqual(["node", "/app/runner/bin/lifeboat-runner.js"]);
    expect(c.inputs.command).toEqual(scheduleJobsArgs({ jobsFile: "/etc/lifeboat/jobs.json", maxConcurrent: 1, stateFile: STATE }));
    expect(c.inputs.restart).toBe("unless-stopped");
    expect(jobTableOf(c).jobs.map((j) => [j.name, j.cron, j.argv, j.maxAge])).toEqual([
      // The declared RTO: the drill records its restore time against it, status alerts on the trend.
      ["verify-app-db", "0 5 * * 0", verifyArgs({ name: "app-db", identity: "/run/lifeboat/age-identity.txt", rto: "4h", ...dest, json: true }), "169h"],
      // --max-age: one backup period plus an hour.
      ["status-app-db", "0 * * * *", statusArgs({ name: "app-db", maxAge: "25h", rto: "4h", ...dest, json: true }), "2h"],
      // The page, on the state volume (kept current on the host) and a copy in the bucket; RPO and RTO as declared.
      ["report-app-db", "0 * * * *", reportArgs({ html: "/var/lib/lifeboat/status/app-db.html", upload: true, name: "app-db", maxAge: "25h", rto: "4h", ...dest, json: true }), "2h"],
    ]);
  });

  it("uploads the age identity as a 0400 file beside the job table, the uploads secret", () => {
    const uploads = unwrap(container().inputs.uploads);
    expect(uploads.map((u: any) => u.file)).toEqual(["/etc/lifeboat/jobs.json", "/run/lifeboat/age-identity.txt"]);
    expect(uploads[1]).toEqual({ file: "/run/lifeboat/age-identity.txt", content: SECRETS.identity, permissions: "0400", owner: "1000", group: "1000" });
  });

  it("gives each job's run only its own secrets", () => {
    expect(scheduledJob(container(), "verify-app-db").env).toEqual({
      AWS_ACCESS_KEY_ID: SECRETS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SECRETS.secretAccessKey,
      LIFEBOAT_ALERT_WEBHOOK: SECRETS.webhook,
      LIFEBOAT_SCRATCH_URL: SECRETS.scratchUrl,
      LIFEBOAT_PING_URL: SECRETS.ping,
    });
    expect(scheduledJob(container(), "status-app-db").env).toEqual({
      AWS_ACCESS_KEY_ID: SECRETS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SECRETS.secretAccessKey,
      LIFEBOAT_ALERT_WEBHOOK: SECRETS.webhook,
      LIFEBOAT_PING_URL: SECRETS.statusPing,
    });
    // The page only reads and puts: no webhook, no ping (status alerts and pings for the same check).
    expect(scheduledJob(container(), "report-app-db").env).toEqual({
      AWS_ACCESS_KEY_ID: SECRETS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SECRETS.secretAccessKey,
    });
  });

  it("mounts only its state volume and runs on the explicit docker provider", () => {
    expect(container().inputs.mounts).toEqual([expect.objectContaining({ type: "volume", target: "/var/lib/lifeboat", readOnly: false })]);
    expect(container().provider).toMatch(/::app-db-verify-docker::/);
  });

  it("never shows a secret in plain text; registers its args minus secrets", () => {
    expectNoPlainSecrets(resources, SECRETS);
    const self = one(resources, "lifeboat:index:ScheduledVerification").inputs;
    expect(self).toMatchObject({ sourceName: "app-db", schedule: "0 5 * * 0", statusSchedule: "0 * * * *", maxAge: "25h", runtime: "docker" });
    for (const k of ["ageIdentity", "scratchUrl", "accessKeyId", "secretAccessKey", "alertWebhookUrl", "healthcheckUrl", "statusHealthcheckUrl"]) {
      expect(self).not.toHaveProperty(k);
    }
  });
});

describe("ScheduledVerification on ECS Fargate", () => {
  const CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/backups";
  const BUCKET_ARN = "arn:aws:s3:::prod-backups-a1b2c3";
  let resources: Declared[];
  beforeAll(async () => {
    resources = await declare(
      () =>
        new ScheduledVerification("app-db-verify", {
          sourceName: "app-db",
          sourceKind: "postgres",
          bucketName: "prod-backups-a1b2c3",
          region: "eu-west-1",
          ageIdentity: pulumi.secret(SECRETS.identity),
          scratchUrl: pulumi.secret(SECRETS.scratchUrl),
          schedule: "0 5 1 * *",
          statusSchedule: "*/30 * * * *",
          backupSchedule: "0 3 * * 0",
          alertWebhookUrl: pulumi.secret(SECRETS.webhook),
          healthcheckUrl: pulumi.secret(SECRETS.ping),
          statusHealthcheckUrl: pulumi.secret(SECRETS.statusPing),
          runtime: "ecs",
          clusterArn: CLUSTER,
          subnetIds: ["subnet-0a1b2c3d"],
          ecsRegion: "eu-west-1",
          bucketArn: BUCKET_ARN,
        }),
    );
  });
  const taskDef = (role: string) => resources.find((r) => r.type === "aws:ecs/taskDefinition:TaskDefinition" && r.name === `app-db-verify-${role}`)!;
  const container = (role: string) => JSON.parse(taskDef(role).inputs.containerDefinitions)[0];
  const schedule = (role: string) => resources.find((r) => r.type === "aws:scheduler/schedule:Schedule" && r.name === `app-db-verify-${role}`)!.inputs;
  const rolePolicy = (name: string) => JSON.parse(resources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.name === name)!.inputs.policy);
  const dest = { dest: "s3://prod-backups-a1b2c3/backups", region: "eu-west-1" };

  it("declares three task definitions and three schedules (drill, status, status page), and no service", () => {
    expect(ofType(resources, "aws:ecs/taskDefinition:TaskDefinition")).toHaveLength(3);
    expect(ofType(resources, "aws:scheduler/schedule:Schedule")).toHaveLength(3);
    expect(ofType(resources, "aws:ecs/service:Service")).toHaveLength(0);
  });

  it("runs one drill per task on the drill's cron, reading the identity from a file written by the entrypoint shim", () => {
    const c = container("verify");
    expect(c.command).toEqual(verifyArgs({ name: "app-db", identity: ECS_IDENTITY_FILE, ...dest, json: true }));
    expect(c.entryPoint[0]).toBe("sh");
    expect(c.entryPoint[2]).toContain(`> ${ECS_IDENTITY_FILE}`);
    expect(c.entryPoint[2]).toContain(`unset ${AGE_IDENTITY_ENV}`);
    expect(c.entryPoint[2]).toMatch(/exec node \/app\/runner\/bin\/lifeboat-runner.js "\$@"$/);
    expect(schedule("verify").scheduleExpression).toBe("cron(0 5 1 * ? *)");
  });

  it("runs status on its short cron with --max-age from the weekly backup schedule", () => {
    const c = container("status");
    expect(c.entryPoint).toEqual(["node", "/app/runner/bin/lifeboat-runner.js"]);
    expect(c.command).toEqual(statusArgs({ name: "app-db", maxAge: "169h", ...dest, json: true }));
    expect(schedule("status").scheduleExpression).toBe("cron(0/30 * * * ? *)");
  });

  it("writes the status page on the status cron; with no state volume on Fargate, its copy in the bucket is the one to read", () => {
    const c = container("report");
    expect(c.command).toEqual(reportArgs({ html: "/var/lib/lifeboat/status/app-db.html", upload: true, name: "app-db", maxAge: "169h", ...dest, json: true }));
    expect(schedule("report").scheduleExpression).toBe("cron(0/30 * * * ? *)");
    expect(c.secrets).toEqual([]);
  });

  it("references secrets from Secrets Manager: the identity and scratch URL only in the drill, each job its own ping URL", () => {
    const refs = (role: string) => Object.fromEntries(container(role).secrets.map((s: any) => [s.name, s.valueFrom.replace(/^.*:([A-Z_]+)::$/, "$1")]));
    expect(refs("verify")).toEqual({
      [AGE_IDENTITY_ENV]: AGE_IDENTITY_ENV,
      LIFEBOAT_ALERT_WEBHOOK: "LIFEBOAT_ALERT_WEBHOOK",
      LIFEBOAT_PING_URL: "LIFEBOAT_PING_URL",
      LIFEBOAT_SCRATCH_URL: "LIFEBOAT_SCRATCH_URL",
    });
    expect(refs("status")).toEqual({ LIFEBOAT_ALERT_WEBHOOK: "LIFEBOAT_ALERT_WEBHOOK", LIFEBOAT_PING_URL: "STATUS_PING_URL" });
    const stored = JSON.parse(unwrap(one(resources, "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString));
    expect(stored).toEqual({
      [AGE_IDENTITY_ENV]: SECRETS.identity,
      LIFEBOAT_ALERT_WEBHOOK: SECRETS.webhook,
      LIFEBOAT_PING_URL: SECRETS.ping,
      LIFEBOAT_SCRATCH_URL: SECRETS.scratchUrl,
      STATUS_PING_URL: SECRETS.statusPing,
    });
    expectNoPlainSecrets(resources, SECRETS);
  });

  it("gives every task the restorer role: its inline policy is restorerPolicy(...)", () => {
    const taskRoleArn = "arn:aws:iam::123456789012:role/app-db-verify-task";
    expect(taskDef("verify").inputs.taskRoleArn).toBe(taskRoleArn);
    expect(taskDef("status").inputs.taskRoleArn).toBe(taskRoleArn);
    expect(taskDef("report").inputs.taskRoleArn).toBe(taskRoleArn);
    expect(rolePolicy("app-db-verify-task")).toEqual(restorerPolicy({ bucketArn: BUCKET_ARN, prefix: "backups", source: "app-db" }));
  });

  it("scopes the scheduler role to RunTask of exactly these three task definitions and PassRole of the two roles", () => {
    const [run, pass] = rolePolicy("app-db-verify-scheduler").Statement;
    expect(run.Action).toBe("ecs:RunTask");
    expect([...run.Resource].sort()).toEqual([
      "arn:aws:ecs:eu-west-1:123456789012:task-definition/lifeboat-app-db-verify-report:1",
      "arn:aws:ecs:eu-west-1:123456789012:task-definition/lifeboat-app-db-verify-status:1",
      "arn:aws:ecs:eu-west-1:123456789012:task-definition/lifeboat-app-db-verify-verify:1",
    ]);
    expect(run.Condition).toEqual({ ArnEquals: { "ecs:cluster": CLUSTER } });
    expect(pass.Action).toBe("iam:PassRole");
    expect(pass.Resource).toEqual(["arn:aws:iam::123456789012:role/app-db-verify-execution", "arn:aws:iam::123456789012:role/app-db-verify-task"]);
  });
});

describe("ScheduledVerification rejects what it cannot do", () => {
  it("a postgres drill without a scratch database", () => {
    expect(
      () => new ScheduledVerification("v", { sourceName: "db", sourceKind: "postgres", bucketName: "b-1", ageIdentity: pulumi.secret(SECRETS.identity) }),
    ).toThrow(/scratchUrl/);
  });
  it("a freshness check or SQL assertions on a source that is not a database", () => {
    const v = { sourceName: "files", sourceKind: "volume", bucketName: "b-1", ageIdentity: pulumi.secret(SECRETS.identity) } as const;
    expect(() => new ScheduledVerification("v", { ...v, freshness: { column: "public.t.at", within: "1d" } })).toThrow(/ScheduledVerification v: freshness and assertions check a restored PostgreSQL database/);
    expect(() => new ScheduledVerification("v", { ...v, assertions: [{ name: "x", sql: "SELECT true" }] })).toThrow(/only for a postgres source/);
  });
});
