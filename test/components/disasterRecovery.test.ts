import { DisasterRecovery, validateStackConfig } from "../../components";
import { decide } from "../access/simulate";
import { Declared, declare, envMap, installMocks, jobTableOf, one, ofType, scheduledJob, unwrap, uploadsOf } from "./mockHarness";

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
    // The tightest RPO (24h, the production default) asks for an hourly copy, a job of the host's verify side.
    const jobs = jobTableOf(one(ofType(resources, "docker:index/container:Container").filter((c) => c.name === "lifeboat-prod-verify"), "docker:index/container:Container"))
      .jobs.filter((j) => j.name.startsWith("replicate-"));
    expect(jobs.map((j) => j.name)).toEqual(["replicate-lifeboat-prod-replicate-1", "replicate-lifeboat-prod-replicate-2"]);
    for (const j of jobs) {
      expect(j.cron).toBe("0 * * * *");
      expect(j.argv).toEqual(expect.arrayContaining(["replicate", "--all", "--max-lag", "24h"]));
    }
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

describe("DisasterRecovery on one Docker host (the prod layout: five sources, R2 primary, S3 replica, drills)", () => {
  const prodSources = [
    { name: "app-db", kind: "postgres", url: "postgres://app:app-Pa55@db/app", schedule: "0 * * * *", rpo: "1h" },
    { name: "n8n-data", kind: "volume", volume: "n8n_data" },
    { name: "wa-sessions", kind: "volume", volume: "whatsapp_sessions", schedule: "0 */6 * * *", rpo: "6h" },
    { name: "uploads", kind: "directory", path: "/srv/uploads" },
    { name: "cache", kind: "redis", url: "redis://:redis-Pa55@redis:6379/0" },
  ];
  const IDENTITY = "AGE-SECRET-KEY-12LV56Y8MSYUZXR2MJG4H6XSUA3MPV8A4UXTCFT2JFCK88XUVGJCSDX7CJJ";
  const base = {
    storage: { provider: "r2", accountId: "0123456789abcdef0123456789abcdef", location: "weur" },
    replicas: [{ provider: "s3", region: "eu-central-1" }],
    ageRecipients: [AGE],
    ageIdentity: IDENTITY,
    verification: { scratchUrl: "postgres://drill:scratch-Pa55@scratch/postgres" },
    runtime: { kind: "docker", host: "ssh://backup@prod-db.internal", network: "app" },
  };
  let resources: Declared[];
  beforeAll(async () => {
    const config = validateStackConfig({ ...base, sources: prodSources }, "prod");
    resources = await declare(() => new DisasterRecovery("lifeboat-prod", { config }));
  });
  const containers = () => ofType(resources, "docker:index/container:Container");
  const side = (role: string) => containers().find((c) => c.name === `lifeboat-prod-${role}`)!;

  it("declares one docker provider and one runner image for the host, and every container on that provider", () => {
    expect(ofType(resources, "pulumi:providers:docker").map((p) => [p.name, p.inputs.host])).toEqual([["lifeboat-prod-docker", "ssh://backup@prod-db.internal"]]);
    expect(ofType(resources, "docker:index/remoteImage:RemoteImage").map((r) => r.name)).toEqual(["lifeboat-prod-image"]);
    for (const c of containers()) {
      expect(c.provider).toMatch(/::lifeboat-prod-docker::/);
      expect(c.inputs.image).toMatch(/^sha256:/);
    }
  });

  it("runs two scheduler containers for the host, not one per job: every backup in one, drills, health checks and replication in the other", () => {
    expect(containers().map((c) => c.name).sort()).toEqual(["lifeboat-prod-backup", "lifeboat-prod-verify"]);
    expect(jobTableOf(side("backup")).jobs.map((j) => [j.name, j.cron])).toEqual([
      ["backup-app-db", "0 * * * *"], ["backup-n8n-data", "0 3 * * *"], ["backup-wa-sessions", "0 */6 * * *"], ["backup-uploads", "0 3 * * *"], ["backup-cache", "0 3 * * *"],
    ]);
    const verify = jobTableOf(side("verify")).jobs.map((j) => j.name);
    expect(verify.sort()).toEqual([
      ...prodSources.flatMap((s) => [`status-${s.name}`, `report-${s.name}`, `verify-${s.name}`]), "replicate-lifeboat-prod-replicate-1",
    ].sort());
    // Each source's status page shows its restore time against the source's declared RTO (the production profile's 4h here).
    const page = jobTableOf(side("verify")).jobs.find((j) => j.name === "report-app-db")!.argv;
    expect(page.slice(page.indexOf("--rto"), page.indexOf("--rto") + 2)).toEqual(["--rto", "4h"]);
    for (const c of [side("backup"), side("verify")]) {
      expect(c.inputs.command).toEqual(["schedule", "--jobs", "/etc/lifeboat/jobs.json", "--max-concurrent", "1", "--state-file", "/var/lib/lifeboat/runner-state.json"]);
      expect(c.inputs.healthcheck.tests.slice(-4)).toEqual(["status", "--local", "--state-file", "/var/lib/lifeboat/runner-state.json"]);
      expect(c.inputs.networksAdvanced).toEqual([{ name: "app" }]);
    }
  });

  it("mounts every file source read-only at its own path in the backup side only", () => {
    const mounts = side("backup").inputs.mounts.filter((m: any) => m.readOnly);
    expect(mounts).toEqual([
      { type: "volume", source: "n8n_data", target: "/source/n8n-data", readOnly: true },
      { type: "volume", source: "whatsapp_sessions", target: "/source/wa-sessions", readOnly: true },
      { type: "bind", source: "/srv/uploads", target: "/source/uploads", readOnly: true },
    ]);
    const argv = (name: string) => jobTableOf(side("backup")).jobs.find((j) => j.name === name)!.argv;
    expect(argv("backup-n8n-data")[argv("backup-n8n-data").indexOf("--path") + 1]).toBe("/source/n8n-data");
    expect(side("verify").inputs.mounts.filter((m: any) => m.readOnly)).toEqual([]);
  });

  it("keeps privileges apart: the backup side never holds the identity or read credentials, the verify side never a source password", async () => {
    expect(uploadsOf(side("backup")).map((u) => u.file)).toEqual(["/etc/lifeboat/jobs.json"]);
    expect(uploadsOf(side("verify")).map((u) => u.file)).toEqual(["/etc/lifeboat/jobs.json", "/run/lifeboat/age-identity.txt"]);
    const backupEnv = Object.values(envMap(unwrap(side("backup").inputs.envs)));
    const verifyEnv = Object.values(envMap(unwrap(side("verify").inputs.envs)));
    expect(backupEnv.join("\n")).not.toContain("AGE-SECRET-KEY");
    expect(backupEnv.join("\n")).not.toContain("scratch-Pa55");
    expect(verifyEnv.join("\n")).not.toMatch(/app-Pa55|redis-Pa55/);
    // No key of the verify side (restorers, replicator) is in the backup side, and the reverse.
    expect(backupEnv.filter((v) => verifyEnv.includes(v) && !v.startsWith("https://"))).toEqual([]);
  });

  it("gives each job's run only its own secrets: each source its own writer key, each drill its source's restorer", () => {
    const keyOf = (c: Declared, job: string) => scheduledJob(c, job).env.AWS_ACCESS_KEY_ID;
    const writers = prodSources.map((s) => keyOf(side("backup"), `backup-${s.name}`));
    expect(new Set(writers).size).toBe(prodSources.length);
    expect(scheduledJob(side("backup"), "backup-app-db").env.LIFEBOAT_SOURCE_URL).toBe("postgres://app:app-Pa55@db/app");
    expect(scheduledJob(side("backup"), "backup-n8n-data").env.LIFEBOAT_SOURCE_URL).toBeUndefined();
    expect(keyOf(side("verify"), "verify-app-db")).toBe(keyOf(side("verify"), "status-app-db"));
    expect(keyOf(side("verify"), "verify-app-db")).not.toBe(keyOf(side("verify"), "verify-cache"));
    expect(scheduledJob(side("verify"), "verify-app-db").env.LIFEBOAT_SCRATCH_URL).toBe("postgres://drill:scratch-Pa55@scratch/postgres");
    expect(scheduledJob(side("verify"), "status-app-db").env.LIFEBOAT_SCRATCH_URL).toBeUndefined();
  });

  it("passes each source's declared RTO, the profile's table-shrink limit and the drill's checks to its drill and health check", async () => {
    const checks = {
      freshness: { column: "public.messages.created_at" },
      assertions: [{ name: "has users", sql: "SELECT count(*) > 0 FROM users" }],
    };
    const config = validateStackConfig({ ...base, sources: [{ ...prodSources[0], rto: "2h", ...checks }, prodSources[1]] }, "prod");
    const r = await declare(() => new DisasterRecovery("lifeboat-prod", { config }));
    const verifySide = ofType(r, "docker:index/container:Container").find((c) => c.name === "lifeboat-prod-verify")!;
    const argv = (job: string) => jobTableOf(verifySide).jobs.find((j) => j.name === job)!.argv;
    const flag = (a: string[], f: string) => a.flatMap((x, i) => (x === f ? [a[i + 1]] : []));
    // The source's own RTO, else the production profile's 4h; freshness within the source's RPO (1h) by default.
    expect(flag(argv("verify-app-db"), "--rto")).toEqual(["2h"]);
    expect(flag(argv("verify-app-db"), "--freshness-column")).toEqual(["public.messages.created_at"]);
    expect(flag(argv("verify-app-db"), "--freshness-within")).toEqual(["1h"]);
    expect(flag(argv("verify-app-db"), "--assert")).toEqual(["has users=SELECT count(*) > 0 FROM users"]);
    expect(flag(argv("status-app-db"), "--rto")).toEqual(["2h"]);
    expect(flag(argv("status-n8n-data"), "--rto")).toEqual(["4h"]);
    expect(flag(argv("verify-n8n-data"), "--freshness-column")).toEqual([]);
    for (const job of ["status-app-db", "status-n8n-data"]) expect(flag(argv(job), "--max-table-shrink")).toEqual(["0.5"]);
    const staging = validateStackConfig({ ...base, sources: [prodSources[0]], alerts: {} }, "staging");
    const set = validateStackConfig({ ...base, sources: [prodSources[0]], alerts: { maxTableShrink: 0.25 } }, "prod");
    expect([staging.alerts.maxTableShrink, set.alerts.maxTableShrink]).toEqual([0.9, 0.25]);
  });

  it("keeps the WAL sidecar of a pitr source its own container, on the host's provider and image", async () => {
    const config = validateStackConfig({ ...base, sources: [{ ...prodSources[0], pitr: true }, prodSources[1]] }, "prod");
    const r = await declare(() => new DisasterRecovery("lifeboat-prod", { config }));
    const names = ofType(r, "docker:index/container:Container").map((c) => c.name).sort();
    expect(names).toEqual(["lifeboat-prod-app-db-backup-wal-stream", "lifeboat-prod-backup", "lifeboat-prod-verify"]);
    expect(ofType(r, "pulumi:providers:docker")).toHaveLength(1);
    expect(ofType(r, "docker:index/remoteImage:RemoteImage")).toHaveLength(1);
    const wal = ofType(r, "docker:index/container:Container").find((c) => c.name.endsWith("wal-stream"))!;
    expect(wal.provider).toMatch(/::lifeboat-prod-docker::/);
    expect(jobTableOf(ofType(r, "docker:index/container:Container").find((c) => c.name === "lifeboat-prod-backup")!).jobs[0]!.argv[0]).toBe("basebackup");
  });
});

describe("DisasterRecovery on ECS Fargate: one task per job, the log group and roles declared once for the environment", () => {
  const CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/backups";
  let resources: Declared[];
  beforeAll(async () => {
    const config = validateStackConfig({
      storage: { provider: "s3", region: "eu-west-1" },
      replicas: [{ provider: "s3", region: "eu-central-1" }],
      sources: [{ name: "app-db", kind: "postgres", url: "postgres://app:app-Pa55@db/app" }, { name: "cache", kind: "redis", url: "redis://redis:6379/0" }],
      ageRecipients: [AGE],
      ageIdentity: "AGE-SECRET-KEY-12LV56Y8MSYUZXR2MJG4H6XSUA3MPV8A4UXTCFT2JFCK88XUVGJCSDX7CJJ",
      verification: { scratchUrl: "postgres://drill:scratch-Pa55@scratch/postgres" },
      runtime: { kind: "ecs", region: "eu-west-1", clusterArn: CLUSTER, subnetIds: ["subnet-0a1b2c3d"] },
    }, "prod");
    resources = await declare(() => new DisasterRecovery("lifeboat-prod", { config }));
  });
  const named = (type: string) => ofType(resources, type).map((r) => r.name).sort();
  const arnOf = (name: string) => `arn:aws:iam::123456789012:role/${name}`;

  it("declares one log group, one execution role and one scheduler role, and a task definition and schedule per job", () => {
    expect(named("aws:cloudwatch/logGroup:LogGroup")).toEqual(["lifeboat-prod-logs"]);
    expect(named("aws:iam/role:Role").filter((n) => /-(execution|scheduler)$/.test(n))).toEqual(["lifeboat-prod-execution", "lifeboat-prod-scheduler"]);
    const jobs = ["app-db-backup-backup", "app-db-verify-report", "app-db-verify-status", "app-db-verify-verify", "cache-backup-backup", "cache-verify-report", "cache-verify-status", "cache-verify-verify"].map((j) => `lifeboat-prod-${j}`);
    expect(named("aws:ecs/taskDefinition:TaskDefinition")).toEqual(jobs);
    expect(named("aws:scheduler/schedule:Schedule")).toEqual(jobs);
    for (const t of ofType(resources, "aws:ecs/taskDefinition:TaskDefinition")) {
      expect(t.inputs.executionRoleArn).toBe(arnOf("lifeboat-prod-execution"));
      const logs = JSON.parse(t.inputs.containerDefinitions)[0].logConfiguration.options;
      expect(logs["awslogs-group"]).toBe("/lifeboat/lifeboat-prod");
      // One group for the environment: each stream prefix names the component and its job.
      expect(logs["awslogs-stream-prefix"]).toBe(t.name);
    }
    for (const s of ofType(resources, "aws:scheduler/schedule:Schedule")) expect(s.inputs.target.roleArn).toBe(arnOf("lifeboat-prod-scheduler"));
  });

  it("grants the shared roles exactly the environment's jobs, in one policy each, and keeps one task role per job's identity", () => {
    const policies = ofType(resources, "aws:iam/rolePolicy:RolePolicy").filter((p) => /-(execution-secrets|scheduler)$/.test(p.name));
    expect(policies.map((p) => p.name).sort()).toEqual(["lifeboat-prod-execution-secrets", "lifeboat-prod-scheduler"]);
    const scheduler = JSON.parse(policies.find((p) => p.name === "lifeboat-prod-scheduler")!.inputs.policy);
    const taskDefs = ofType(resources, "aws:ecs/taskDefinition:TaskDefinition");
    expect(scheduler.Statement[0].Resource.sort()).toEqual(taskDefs.map((t) => `arn:aws:ecs:eu-west-1:123456789012:task-definition/${t.inputs.family}:1`).sort());
    expect(scheduler.Statement[0].Condition).toEqual({ ArnEquals: { "ecs:cluster": CLUSTER } });
    const taskRoles = [...new Set(taskDefs.map((t) => t.inputs.taskRoleArn))];
    // Writers and restorers of each source: four identities, none shared between a backup and a drill.
    expect(taskRoles).toHaveLength(4);
    expect(scheduler.Statement[1].Resource.sort()).toEqual([arnOf("lifeboat-prod-execution"), ...taskRoles].sort());
    const secrets = ofType(resources, "aws:secretsmanager/secret:Secret");
    const exec = JSON.parse(policies.find((p) => p.name === "lifeboat-prod-execution-secrets")!.inputs.policy);
    expect(exec.Statement[0].Resource).toHaveLength(secrets.length);
    expect(secrets.length).toBe(4);
  });
});

describe("DisasterRecovery: per-object lock of each backup on S3", () => {
  // Every backup job's argv, from the host's backup-side scheduler's job table.
  const backupRuns = (resources: Declared[]) =>
    jobTableOf(one(ofType(resources, "docker:index/container:Container").filter((c) => c.name === "lifeboat-prod-backup"), "docker:index/container:Container"))
      .jobs.map((j) => j.argv as string[]);
  const flag = (cmd: string[], f: string) => (cmd.includes(f) ? cmd[cmd.indexOf(f) + 1] : undefined);

  it("S3: every backup run locks its objects until the tier expires (the stack's retention and lock mode)", async () => {
    const config = validateStackConfig(
      { storage: { provider: "s3", region: "eu-west-1" }, replicas: [{ provider: "s3", region: "eu-central-1" }], sources, ageRecipients: [AGE] },
      "prod",
    );
    const runs = backupRuns(await declare(() => new DisasterRecovery("lifeboat-prod", { config })));
    expect(runs).toHaveLength(2);
    const byName = Object.fromEntries(runs.map((r) => [flag(r, "--name"), r]));
    for (const name of ["app-db", "uploads"]) {
      expect([flag(byName[name]!, "--retention"), flag(byName[name]!, "--lock-mode")]).toEqual(["daily=30d,weekly=12w,monthly=12m,yearly=7y", "compliance"]);
    }
  });

  it("R2: no per-object lock flags (R2's bucket-lock rules lock each tier)", async () => {
    const runs = backupRuns(await environment({ provider: "r2", accountId: "0123456789abcdef0123456789abcdef", location: "weur" }, [{ provider: "s3", region: "us-east-2" }]));
    expect(runs.length).toBe(2);
    for (const r of runs) expect(r.join(" ")).not.toMatch(/--retention|--lock-mode/);
  });
});
