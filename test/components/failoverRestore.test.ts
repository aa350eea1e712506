import * as pulumi from "@pulumi/pulumi";
import { restoreArgs } from "lifeboat-core";
import { FailoverRestore } from "../../components";
import { replicationSchedule } from "../../components/schedule/cron";
import { eventBridgeAt } from "../../components/schedule/ecs";
import { declare, expectNoPlainSecrets, installMocks, isSecretValue, one } from "./mockHarness";

installMocks();

const SECRETS = {
  identity: "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQSECRET",
  targetUrl: "postgres://app:dr-target-Pa55@dr-db.internal:5432/app",
  accessKeyId: "AKIARESTORER00EXAMPLE",
  secretAccessKey: "restorer-secret-key-8c3a6f",
};
const replica = { bucketName: "prod-replica", prefix: "backups", endpoint: "https://s3.eu-central-1.amazonaws.com", region: "eu-central-1" };
const keys = { accessKeyId: SECRETS.accessKeyId, secretAccessKey: SECRETS.secretAccessKey };

describe("FailoverRestore on a Docker host", () => {
  it("restores a database once from the replica's newest verified backup, secrets only as secrets", async () => {
    let job!: FailoverRestore;
    const resources = await declare(() => {
      job = new FailoverRestore("app-db-dr", {
        sourceName: "app-db", sourceKind: "postgres", ...replica, ...keys,
        ageIdentity: pulumi.secret(SECRETS.identity), targetUrl: pulumi.secret(SECRETS.targetUrl), dockerHost: "ssh://dr@dr-host",
      });
    });
    const c = one(resources, "docker:index/container:Container");
    expect(c.inputs.restart).toBe("no");
    expect(c.inputs.mustRun).toBe(false);
    expect(c.inputs.command).toEqual(restoreArgs({
      name: "app-db", at: "latest-verified", identity: "/run/lifeboat/age-identity.txt",
      dest: "s3://prod-replica/backups", endpoint: replica.endpoint, region: replica.region, json: true,
    }));
    expect(isSecretValue(c.inputs.envs)).toBe(true);
    expect((c.inputs.envs as { value: string[] }).value).toContain(`LIFEBOAT_TARGET_URL=${SECRETS.targetUrl}`);
    expect(isSecretValue(c.inputs.uploads)).toBe(true);
    expectNoPlainSecrets(resources, SECRETS);
    expect(await new Promise((r) => job.from.apply(r))).toBe("s3://prod-replica/backups/app-db (newest verified backup)");
    expect(job.to).toBe("postgres target (secret)");
  });

  it("restores a volume into <targetPath>/<source> through a read-write bind volume that Docker creates when missing", async () => {
    const resources = await declare(() => new FailoverRestore("n8n-dr", {
      sourceName: "n8n-data", sourceKind: "volume", ...replica, ...keys, ageIdentity: SECRETS.identity, targetPath: "/srv/dr",
    }));
    const c = one(resources, "docker:index/container:Container");
    expect(c.inputs.command).toEqual(expect.arrayContaining(["--target-dir", "/target/n8n-data"]));
    // `volumes` (Binds), not a bind `mounts` entry: Docker refuses a bind mount whose host path does not exist.
    expect(c.inputs.volumes).toEqual([{ hostPath: "/srv/dr", containerPath: "/target", readOnly: false }]);
    expect(c.inputs.mounts).toEqual([]);
    // Root with only what restoring owners and modes takes.
    expect(c.inputs.user).toBe("0:0");
    expect(c.inputs.capabilities).toEqual({ drops: ["ALL"], adds: ["CHOWN", "DAC_OVERRIDE", "FOWNER"] });
    expect(c.inputs.securityOpts).toEqual(["no-new-privileges"]);
  });

  it("refuses what it cannot do, naming the field", () => {
    const base = { sourceName: "app-db", ...replica, ...keys, ageIdentity: SECRETS.identity };
    expect(() => new FailoverRestore("a", { ...base, sourceKind: "postgres" })).toThrow(/needs targetUrl/);
    expect(() => new FailoverRestore("b", { ...base, sourceKind: "volume" })).toThrow(/needs targetPath/);
    expect(() => new FailoverRestore("c", { ...base, sourceKind: "volume", targetPath: "/srv", runtime: "ecs", clusterArn: "arn:aws:ecs:eu-central-1:123456789012:cluster/dr", subnetIds: ["subnet-1"] }))
      .toThrow(/runtime ecs can restore only postgres/);
  });
});

describe("FailoverRestore on ECS", () => {
  it("runs one Fargate task on a one-time schedule at the given time", async () => {
    const resources = await declare(() => new FailoverRestore("app-db-dr-ecs", {
      sourceName: "app-db", sourceKind: "postgres", ...replica, taskRoleArn: "arn:aws:iam::123456789012:role/restorer",
      ageIdentity: SECRETS.identity, targetUrl: SECRETS.targetUrl, runtime: "ecs", runAt: "2026-11-22T14:05:00Z",
      clusterArn: "arn:aws:ecs:eu-central-1:123456789012:cluster/dr", subnetIds: ["subnet-0abc"],
    }));
    expect(one(resources, "aws:scheduler/schedule:Schedule").inputs.scheduleExpression).toBe("at(2026-11-22T14:05:00)");
    const defs = JSON.parse(one(resources, "aws:ecs/taskDefinition:TaskDefinition").inputs.containerDefinitions);
    expect(defs[0].command).toEqual(expect.arrayContaining(["restore", "--at", "latest-verified"]));
    expectNoPlainSecrets(resources, SECRETS);
  });
});

describe("pure schedule helpers", () => {
  it("replicates at least twice per RPO, hourly at the least", () => {
    expect(replicationSchedule(7 * 86400)).toBe("0 * * * *");
    expect(replicationSchedule(2 * 3600)).toBe("0 * * * *");
    expect(replicationSchedule(3600)).toBe("*/30 * * * *");
    expect(replicationSchedule(30 * 60)).toBe("*/15 * * * *");
    expect(replicationSchedule(10 * 60)).toBe("*/5 * * * *");
    expect(replicationSchedule(60)).toBe("* * * * *");
  });
  it("writes EventBridge one-time expressions in UTC, and rejects a non-time", () => {
    expect(eventBridgeAt("2026-11-22T15:05:30+01:00")).toBe("at(2026-11-22T14:05:30)");
    expect(() => eventBridgeAt("soon")).toThrow(/not an ISO time/);
  });
});
