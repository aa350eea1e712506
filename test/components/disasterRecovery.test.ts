import { DisasterRecovery, validateStackConfig } from "../../components";
import { decide } from "../access/simulate";
import { Declared, declare, installMocks, one, ofType } from "./mockHarness";

installMocks();

const AGE = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
const sources = [{ name: "app-db", kind: "postgres", url: "postgres://app@db/app" }, { name: "uploads", kind: "directory", path: "/srv/uploads" }];

function environment(storage: object, replicas: object[]): Promise<Declared[]> {
  const config = validateStackConfig({ storage, replicas, sources, ageRecipients: [AGE] }, "prod");
  return declare(() => new DisasterRecovery("lifeboat-prod", { config }));
}

describe("DisasterRecovery, S3 primary with an S3 replica in another region", () => {
  let resources: Declared[];
  beforeAll(async () => {
    resources = await environment({ provider: "s3", region: "eu-west-1" }, [{ provider: "s3", region: "eu-central-1" }]);
  });

  it("declares the replica's bucket and KMS key with the DR-region provider, the primary's with its own", () => {
    const providers = ofType(resources, "pulumi:providers:aws");
    expect(providers.map((p) => [p.name, p.inputs.region]).sort()).toEqual([
      ["lifeboat-prod-backups-aws", "eu-west-1"], ["lifeboat-prod-replica-1-aws", "eu-central-1"],
    ]);
    // Components and their main resource share a name: look resources up by type too.
    const providerOf = (type: string, name: string) => resources.find((r) => r.type === type && r.name === name)!.provider ?? "";
    for (const [type, name] of [
      ["aws:s3/bucket:Bucket", "lifeboat-prod-replica-1"],
      ["aws:kms/key:Key", "lifeboat-prod-replica-1-key"],
      ["aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lifeboat-prod-replica-1-lifecycle"],
    ]) {
      expect(providerOf(type!, name!)).toContain("::lifeboat-prod-replica-1-aws::");
    }
    expect(providerOf("aws:s3/bucket:Bucket", "lifeboat-prod-backups")).toContain("::lifeboat-prod-backups-aws::");
    expect(providerOf("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "lifeboat-prod-replication-1-config")).toContain("::lifeboat-prod-backups-aws::");
  });

  it("replicates natively, re-encrypting with the replica's own key, without delete markers", () => {
    const rule = one(resources, "aws:s3/bucketReplicationConfig:BucketReplicationConfig").inputs.rules[0];
    const replicaKey = resources.find((r) => r.name === "lifeboat-prod-replica-1-key")!;
    expect(rule.deleteMarkerReplication).toEqual({ status: "Disabled" });
    expect(rule.destination.encryptionConfiguration.replicaKmsKeyId).toMatch(/^arn:aws:kms:eu-central-1:/);
    expect(replicaKey.type).toBe("aws:kms/key:Key");
    expect(ofType(resources, "lifeboat:index:ScheduledReplication")).toHaveLength(0);
  });

  it("gives the replication role only: read the source's versions, write replicas (evaluated, not string-compared)", async () => {
    const policy = JSON.parse(resources.find((r) => r.name === "lifeboat-prod-replication-1-role-policy")!.inputs.policy);
    const arns = policy.Statement.flatMap((s: any) => [s.Resource].flat()).filter((r: string) => r.startsWith("arn:aws:s3:::") && !r.includes("/"));
    const [source, replica] = [arns.find((a: string) => a.includes("backups")), arns.find((a: string) => a.includes("replica"))];
    const allowed = async (action: string, resource: string) =>
      (await decide(policy, action, resource, {}, "arn:aws:iam::123456789012:role/replication")) === "Allowed";
    expect(await allowed("s3:GetObjectVersionForReplication", `${source}/backups/app-db/daily/x`)).toBe(true);
    expect(await allowed("s3:ReplicateObject", `${replica}/backups/app-db/daily/x`)).toBe(true);
    expect(await allowed("s3:ReplicateDelete", `${replica}/backups/app-db/daily/x`)).toBe(false);
    expect(await allowed("s3:GetObject", `${replica}/backups/app-db/daily/x`)).toBe(false);
    expect(await allowed("s3:ReplicateObject", `${source}/backups/app-db/daily/x`)).toBe(false);
    expect(await allowed("s3:DeleteObject", `${source}/backups/app-db/daily/x`)).toBe(false);
  });
});

describe("DisasterRecovery, R2 primary with R2 and S3 replicas", () => {
  it("declares a scheduled replicate job per replica, with a replicator identity, and no native replication", async () => {
    const resources = await environment(
      { provider: "r2", accountId: "0123456789abcdef0123456789abcdef", location: "weur" },
      [{ provider: "r2", accountId: "0123456789abcdef0123456789abcdef", location: "enam" }, { provider: "s3", region: "us-east-2" }],
    );
    expect(ofType(resources, "lifeboat:index:ScheduledReplication").map((r) => r.name).sort()).toEqual(["lifeboat-prod-replicate-1", "lifeboat-prod-replicate-2"]);
    expect(ofType(resources, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")).toHaveLength(0);
    const replicators = ofType(resources, "lifeboat:index:BackupAccess").filter((r) => /replicator/.test(r.name));
    expect(replicators.map((r) => r.name).sort()).toEqual(["lifeboat-prod-replicator-1", "lifeboat-prod-replicator-2"]);
    // The tightest RPO (24h, the production default) asks for an hourly copy.
    const jobs = ofType(resources, "docker:index/container:Container").filter((c) => /-replicate-\d-replicate$/.test(c.name));
    expect(jobs).toHaveLength(2);
    for (const j of jobs) expect(j.inputs.command).toEqual(expect.arrayContaining(["schedule", "--cron", "0 * * * *", "replicate", "--all", "--max-lag", "24h"]));
  });
});

describe("DisasterRecovery replication time control", () => {
  it("is off unless the S3 replica asks for it, then on with its 15-minute metrics", async () => {
    const rule = async (replica: object) =>
      one(await environment({ provider: "s3", region: "eu-west-1" }, [replica]), "aws:s3/bucketReplicationConfig:BucketReplicationConfig").inputs.rules[0].destination;
    expect((await rule({ provider: "s3", region: "eu-central-1" })).replicationTime).toBeUndefined();
    expect(await rule({ provider: "s3", region: "eu-central-1", replicationTimeControl: true })).toMatchObject({
      replicationTime: { status: "Enabled", time: { minutes: 15 } },
      metrics: { status: "Enabled", eventThreshold: { minutes: 15 } },
    });
  });
});

describe("DisasterRecovery: per-object lock of each backup on S3", () => {
  const backupRuns = (resources: Declared[]) =>
    ofType(resources, "docker:index/container:Container")
      .map((c) => c.inputs.command as string[])
      .filter((cmd) => cmd.includes("backup"))
      .map((cmd) => cmd.slice(cmd.indexOf("--") + 1));
  const flag = (cmd: string[], f: string) => (cmd.includes(f) ? cmd[cmd.indexOf(f) + 1] : undefined);

  it("S3: every backup run locks its objects until the tier expires (the stack's retention and lock mode); a source named like a compliance prefix at least that prefix's days", async () => {
    const config = validateStackConfig(
      { storage: { provider: "s3", region: "eu-west-1" }, replicas: [{ provider: "s3", region: "eu-central-1" }], sources: [...sources, { name: "audit-logs", kind: "directory", path: "/srv/audit" }], ageRecipients: [AGE] },
      "prod",
    );
    const runs = backupRuns(await declare(() => new DisasterRecovery("lifeboat-prod", { config })));
    expect(runs).toHaveLength(3);
    const byName = Object.fromEntries(runs.map((r) => [flag(r, "--name"), r]));
    for (const name of ["app-db", "uploads"]) {
      expect([flag(byName[name]!, "--retention"), flag(byName[name]!, "--lock-mode")]).toEqual(["daily=30d,weekly=12w,monthly=12m,yearly=7y", "compliance"]);
    }
    expect(flag(byName["audit-logs"]!, "--retention")).toBe("daily=30d,weekly=12w,monthly=12m,yearly=7y,floor=365d");
  });

  it("R2: no per-object lock flags (R2's bucket-lock rules lock each tier)", async () => {
    const runs = backupRuns(await environment({ provider: "r2", accountId: "0123456789abcdef0123456789abcdef", location: "weur" }, [{ provider: "s3", region: "us-east-2" }]));
    expect(runs.length).toBe(2);
    for (const r of runs) expect(r.join(" ")).not.toMatch(/--retention|--lock-mode/);
  });
});
