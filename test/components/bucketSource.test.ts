import { DisasterRecovery, validateStackConfig } from "../../components";
import { decide } from "../access/simulate";
import { Declared, declare, envMap, installMocks, isSecretValue, jobTableOf, ofType, scheduledJob, unwrap } from "./mockHarness";
import { MOCK_PERMISSION_GROUPS } from "../../cli/plan/mocks";

installMocks();

const AGE = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const APP_KEY = "arn:aws:kms:us-east-2:123456789012:key/11111111-2222-3333-4444-555555555555";
const r2App = { provider: "r2", accountId: ACCOUNT, bucketName: "acme-media", prefix: "uploads" };

function environment(storage: object, bucket: object, extra: Record<string, unknown> = {}): Promise<Declared[]> {
  const config = validateStackConfig({
    storage,
    replicas: [{ provider: "s3", region: "eu-central-1" }],
    sources: [{ name: "media", kind: "bucket", bucket, schedule: "0 * * * *", rpo: "1h", ...extra }],
    ageRecipients: [AGE],
  }, "prod");
  return declare(() => new DisasterRecovery("lifeboat-prod", { config }));
}

const backupSide = (rs: Declared[]) => rs.find((r) => r.type === "docker:index/container:Container" && r.name === "lifeboat-prod-backup")!;
const groupName = (id: string) => MOCK_PERMISSION_GROUPS.find((g) => g.id === id)!.name;

describe("bucket source on R2 with events on", () => {
  let rs: Declared[];
  beforeAll(async () => {
    rs = await environment({ provider: "r2", accountId: ACCOUNT }, r2App, { events: true });
  });

  it("declares a read-only token scoped to the app's bucket alone", () => {
    const tokens = rs.filter((r) => r.type === "cloudflare:index/accountToken:AccountToken" && r.name.startsWith("lifeboat-prod-media-app-reader-token"));
    expect(tokens).toHaveLength(2); // current and previous rotation period
    for (const t of tokens) {
      const [policy] = t.inputs.policies;
      expect(JSON.parse(policy.resources)).toEqual({ [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_acme-media`]: "*" });
      expect(policy.permissionGroups.map((g: { id: string }) => groupName(g.id))).toEqual(["Workers R2 Storage Bucket Item Read"]);
    }
  });

  it("declares a queue with an HTTP pull consumer, and a notification rule for creates and deletes under the prefix", () => {
    const queue = ofType(rs, "cloudflare:index/queue:Queue");
    expect(queue).toHaveLength(1);
    expect(ofType(rs, "cloudflare:index/queueConsumer:QueueConsumer").map((c) => c.inputs.type)).toEqual(["httpPull"]);
    const [n] = ofType(rs, "cloudflare:index/r2BucketEventNotification:R2BucketEventNotification");
    expect(n!.inputs.bucketName).toBe("acme-media");
    expect(n!.inputs.accountId).toBe(ACCOUNT);
    expect(n!.inputs.rules).toEqual([expect.objectContaining({ actions: ["PutObject", "CopyObject", "CompleteMultipartUpload", "DeleteObject"], prefix: "uploads/" })]);
  });

  it("runs the snapshot job with the contract's flags and its secrets only as (secret) env", () => {
    const { job, env } = scheduledJob(backupSide(rs), "backup-media");
    const flag = (f: string) => job.argv[job.argv.indexOf(f) + 1];
    expect(flag("--source")).toBe("bucket");
    expect(flag("--bucket-url")).toBe("s3://acme-media/uploads");
    expect(flag("--bucket-endpoint")).toBe(`https://${ACCOUNT}.r2.cloudflarestorage.com`);
    expect(flag("--bucket-region")).toBe("auto");
    expect(flag("--window")).toBe("30d");
    expect(job.argv).not.toContain("--lock-mode"); // R2 locks by bucket rules
    expect(env.LIFEBOAT_BUCKET_ACCESS_KEY_ID).toMatch(/.+/);
    expect(env.LIFEBOAT_BUCKET_SECRET_ACCESS_KEY).toMatch(/^[0-9a-f]{64}$/);
    expect(env.LIFEBOAT_BUCKET_ACCESS_KEY_ID).not.toBe(env.AWS_ACCESS_KEY_ID);
    expect(job.argv.join(" ")).not.toContain(env.LIFEBOAT_BUCKET_SECRET_ACCESS_KEY!);
    expect(isSecretValue(backupSide(rs).inputs.envs)).toBe(true);
  });

  it("runs a long-running bucket-events container with the queue on its command line and the queue token as secret env", () => {
    const c = rs.find((r) => r.type === "docker:index/container:Container" && r.name === "lifeboat-prod-media-backup-bucket-events")!;
    const argv: string[] = c.inputs.command;
    expect(argv.slice(argv.indexOf("bucket-events"), argv.indexOf("bucket-events") + 5)).toEqual(["bucket-events", "--name", "media", "--bucket-url", "s3://acme-media/uploads"]);
    expect(argv[argv.indexOf("--queue") + 1]).toMatch(new RegExp(`^${ACCOUNT}/[0-9a-f]{32}$`));
    expect(isSecretValue(c.inputs.envs)).toBe(true);
    const env = envMap(unwrap(c.inputs.envs));
    expect(env.LIFEBOAT_QUEUE_TOKEN).toMatch(/^mock-token-/);
    expect(env.LIFEBOAT_BUCKET_ACCESS_KEY_ID).toMatch(/.+/);
    expect(argv.join(" ")).not.toContain(env.LIFEBOAT_QUEUE_TOKEN!);
  });

  it("locks snapshots, journal and copies for the window and expires copies after twice the window (R2 rules)", () => {
    const lock = rs.find((r) => r.type === "cloudflare:index/r2BucketLock:R2BucketLock" && r.name === "lifeboat-prod-backups-lock")!;
    const life = rs.find((r) => r.type === "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle" && r.name === "lifeboat-prod-backups-lifecycle")!;
    const lockOf = (p: string) => lock.inputs.rules.find((r: any) => r.prefix === p)?.condition.maxAgeSeconds / 86_400;
    const expiryOf = (p: string) => life.inputs.rules.find((r: any) => r.conditions.prefix === p)?.deleteObjectsTransition.condition.maxAge / 86_400;
    for (const dir of ["snapshots", "journal", "objects"]) expect(lockOf(`backups/media/${dir}/`)).toBe(30);
    expect(expiryOf("backups/media/snapshots/")).toBe(30);
    expect(expiryOf("backups/media/journal/")).toBe(30);
    expect(expiryOf("backups/media/objects/")).toBe(60);
  });
});

describe("bucket source on R2 with events off", () => {
  it("declares no queue, notification, queue token or events container", async () => {
    const rs = await environment({ provider: "r2", accountId: ACCOUNT }, r2App);
    expect(ofType(rs, "cloudflare:index/queue:Queue")).toEqual([]);
    expect(ofType(rs, "cloudflare:index/queueConsumer:QueueConsumer")).toEqual([]);
    expect(ofType(rs, "cloudflare:index/r2BucketEventNotification:R2BucketEventNotification")).toEqual([]);
    expect(rs.filter((r) => r.name.includes("bucket-events") || r.name.includes("events-token"))).toEqual([]);
    expect(jobTableOf(backupSide(rs)).jobs.map((j) => j.name)).toContain("backup-media");
  });
});

describe("bucket source on S3 backing up into S3", () => {
  let rs: Declared[];
  beforeAll(async () => {
    rs = await environment({ provider: "s3", region: "eu-west-1" }, { provider: "s3", region: "us-east-2", bucketName: "acme.media", prefix: "contracts", kmsKeyArn: APP_KEY });
  });

  it("declares a read-only IAM user on the app bucket: get/list under the prefix, no write (evaluated)", async () => {
    const policies = rs.filter((r) => r.type === "aws:iam/userPolicy:UserPolicy" && r.name.startsWith("lifeboat-prod-media-app-reader-policy"));
    expect(policies).toHaveLength(2);
    const policy = JSON.parse(policies[0]!.inputs.policy);
    const APP = "arn:aws:s3:::acme.media";
    expect(await decide(policy, "s3:GetObject", `${APP}/contracts/deal.pdf`)).toBe("Allowed");
    expect(await decide(policy, "s3:ListBucket", APP, { "s3:prefix": "contracts/" })).toBe("Allowed");
    expect(await decide(policy, "s3:GetObject", `${APP}/other/x`)).not.toBe("Allowed");
    expect(await decide(policy, "s3:PutObject", `${APP}/contracts/deal.pdf`)).toBe("ExplicitlyDenied");
    expect(await decide(policy, "s3:DeleteObject", `${APP}/contracts/deal.pdf`)).toBe("ExplicitlyDenied");
    // The app bucket's own KMS key: decrypt through S3 only, never directly, never encrypt.
    expect(await decide(policy, "kms:Decrypt", APP_KEY, { "kms:ViaService": "s3.us-east-2.amazonaws.com" })).toBe("Allowed");
    expect(await decide(policy, "kms:Decrypt", APP_KEY, { "kms:ViaService": "ec2.us-east-2.amazonaws.com" })).not.toBe("Allowed");
    expect(await decide(policy, "kms:GenerateDataKey", APP_KEY, { "kms:ViaService": "s3.us-east-2.amazonaws.com" })).not.toBe("Allowed");
    const provider = rs.find((r) => r.type === "pulumi:providers:aws" && r.name === "lifeboat-prod-media-app-aws")!;
    expect(provider.inputs.region).toBe("us-east-2");
  });

  it("gives the job's writer its own snapshots to read, nothing else (evaluated)", async () => {
    const policy = JSON.parse(rs.find((r) => r.type === "aws:iam/userPolicy:UserPolicy" && r.name.startsWith("lifeboat-prod-media-writer-policy"))!.inputs.policy);
    const bucket = policy.Statement.find((s: any) => s.Sid === "ReadOwnSnapshots").Resource.split("/")[0];
    expect(await decide(policy, "s3:GetObject", `${bucket}/backups/media/snapshots/x.snapshot.json`)).toBe("Allowed");
    expect(await decide(policy, "s3:GetObject", `${bucket}/backups/media/objects/x.age`)).toBe("ExplicitlyDenied");
  });

  it("passes --window and --lock-mode (the runner locks each object until it expires), never --retention", () => {
    const { job } = scheduledJob(backupSide(rs), "backup-media");
    expect(job.argv[job.argv.indexOf("--window") + 1]).toBe("30d");
    expect(job.argv[job.argv.indexOf("--lock-mode") + 1]).toBe("compliance");
    expect(job.argv).not.toContain("--retention");
    expect(job.argv[job.argv.indexOf("--bucket-region") + 1]).toBe("us-east-2");
  });
});
