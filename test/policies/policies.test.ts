/**
 * Every policy, on a compliant resource set and on the same set weakened in one place, with the
 * exact violation message. Resource sets have the shape `lifeboat plan` and the engine adapter give.
 */
import { checkClientSideEncryption } from "../../policies/clientSideEncryption";
import { checkEncryption } from "../../policies/encryption";
import { evaluatePolicies, POLICIES } from "../../policies/evaluate";
import { checkImmutability } from "../../policies/immutability";
import { checkLifecycle } from "../../policies/lifecycle";
import { DEFAULT_SETTINGS, PolicyResourceInput, PolicySettings } from "../../policies/model";
import { checkPitr } from "../../policies/pitr";
import { checkPublicAccess } from "../../policies/publicAccess";
import { checkReplica } from "../../policies/replica";
import { checkRetention } from "../../policies/retention";
import { checkSchedules, eventBridgeIntervalSeconds } from "../../policies/schedule";
import { checkWriterPrivilege } from "../../policies/writerPrivilege";
import { compliantStack, edit, LIFEBOAT_WRITER_STATEMENTS, r2Set, s3Set, without, writer } from "./fixtures";

const S: PolicySettings = DEFAULT_SETTINGS;
const SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration";
const R2 = "cloudflare:index/r2Bucket:R2Bucket";
const REPLICA = "lifeboat-prod-replica-1";
const PRIMARY = "lifeboat-prod-backups";
const msgs = (f: { message: string }[]) => f.map((x) => x.message);

describe("the compliant stack (R2 primary in weur, S3 replica in eu-central-1)", () => {
  it("passes every policy", () => expect(evaluatePolicies(compliantStack())).toEqual([]));
  it("has eleven policies with stable names", () => {
    expect(POLICIES.map((p) => p.name)).toEqual([
      "lifeboat-backup-encryption", "lifeboat-client-side-encryption", "lifeboat-backup-immutability", "lifeboat-backup-lifecycle",
      "lifeboat-no-public-access", "lifeboat-writer-least-privilege", "lifeboat-replica-other-region", "lifeboat-retention-minimums",
      "lifeboat-schedule-meets-rpo", "lifeboat-pitr-for-short-rpo", "lifeboat-pitr-wal-protected", "lifeboat-bucket-source",
    ]);
  });
});

describe("lifeboat-backup-encryption", () => {
  it("flags an S3 backup bucket without an encryption configuration", () => {
    expect(msgs(checkEncryption(without(compliantStack(), SSE), S))).toEqual([
      `S3 backup bucket ${REPLICA} has no server-side encryption configuration: add a BucketServerSideEncryptionConfiguration with sseAlgorithm "aws:kms" and a customer-managed KMS key`,
    ]);
  });
  it("flags SSE-S3 (AES256)", () => {
    const r = edit(compliantStack(), SSE, `${REPLICA}-encryption`, (i) => ({ ...i, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] }));
    expect(msgs(checkEncryption(r, S))).toEqual([
      `S3 backup bucket ${REPLICA} encrypts with "AES256", not SSE-KMS: use sseAlgorithm "aws:kms" with a customer-managed KMS key`,
    ]);
  });
  it("flags SSE-KMS with the AWS-managed key or no key", () => {
    const managed = edit(compliantStack(), SSE, `${REPLICA}-encryption`, (i) => ({ ...i, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "alias/aws/s3" } }] }));
    expect(msgs(checkEncryption(managed, S))).toEqual([
      `S3 backup bucket ${REPLICA} uses SSE-KMS without a customer-managed key (kmsMasterKeyId "alias/aws/s3"): give it its own aws.kms.Key`,
    ]);
    const none = edit(compliantStack(), SSE, `${REPLICA}-encryption`, (i) => ({ ...i, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } }] }));
    expect(msgs(checkEncryption(none, S))).toEqual([
      `S3 backup bucket ${REPLICA} uses SSE-KMS without a customer-managed key (kmsMasterKeyId unset): give it its own aws.kms.Key`,
    ]);
  });
  it("ignores S3 buckets that are not backup buckets", () => {
    const site = [{ type: "aws:s3/bucket:Bucket", name: "website", inputs: { bucket: "www-example" } }];
    expect(checkEncryption(site, S)).toEqual([]);
  });
});

describe("lifeboat-client-side-encryption", () => {
  const sb = (inputs: Record<string, unknown>): PolicyResourceInput => ({ type: "lifeboat:index:ScheduledBackup", name: "prod-app-db-backup", inputs });
  const key = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
  it("passes a scheduled backup with age recipients (or secret ones)", () => {
    expect(checkClientSideEncryption([sb({ ageRecipients: [key] }), sb({ ageRecipients: "[secret]" })])).toEqual([]);
    // A component that registers no inputs cannot be judged.
    expect(checkClientSideEncryption([sb({})])).toEqual([]);
  });
  it("flags a scheduled backup without recipients, and one with a non-age key", () => {
    expect(msgs(checkClientSideEncryption([sb({ ageRecipients: [] }), sb({ ageRecipients: ["ssh-ed25519 AAAA"] })]))).toEqual([
      "scheduled backup prod-app-db-backup has no age recipients: every backup must be encrypted client-side before upload (set ageRecipients)",
      'scheduled backup prod-app-db-backup has recipients that are not age public keys (age1…): "ssh-ed25519 AAAA"',
    ]);
  });
});

describe("lifeboat-backup-immutability", () => {
  it("flags an S3 backup bucket without object lock", () => {
    const r = edit(compliantStack(), "aws:s3/bucket:Bucket", REPLICA, (i) => ({ ...i, objectLockEnabled: false }));
    expect(msgs(checkImmutability(r, S))).toEqual([
      `S3 backup bucket ${REPLICA} does not have object lock enabled: create it with objectLockEnabled: true`,
    ]);
  });
  it("flags an S3 backup bucket whose versioning is suspended", () => {
    const r = edit(compliantStack(), "aws:s3/bucketVersioning:BucketVersioning", `${REPLICA}-versioning`, (i) => ({ ...i, versioningConfiguration: { status: "Suspended" } }));
    expect(msgs(checkImmutability(r, S))).toEqual([`S3 backup bucket ${REPLICA} is not versioned: add a BucketVersioning with status "Enabled"`]);
  });
  it("flags an R2 backup bucket with no lock", () => {
    expect(msgs(checkImmutability(without(compliantStack(), "cloudflare:index/r2BucketLock:R2BucketLock"), S))).toEqual([
      `R2 backup bucket ${PRIMARY} has no R2BucketLock: lock every tier prefix so that no token can delete or overwrite a backup before it expires`,
    ]);
  });
  it("flags an R2 tier prefix the lifecycle expires but no lock rule covers (or whose rule is disabled)", () => {
    const r = edit(compliantStack(), "cloudflare:index/r2BucketLock:R2BucketLock", `${PRIMARY}-lock`, (i) => ({
      ...i,
      rules: i.rules.filter((x: any) => !x.prefix.endsWith("/yearly/")).map((x: any) => (x.prefix.endsWith("/weekly/") ? { ...x, enabled: false } : x)),
    }));
    expect(msgs(checkImmutability(r, S))).toEqual([
      `R2 backup bucket ${PRIMARY} does not lock tier prefix backups/app-db/weekly/: add an enabled R2BucketLock rule that covers it`,
      `R2 backup bucket ${PRIMARY} does not lock tier prefix backups/app-db/yearly/: add an enabled R2BucketLock rule that covers it`,
    ]);
  });
  it("accepts one lock rule on the whole bucket", () => {
    const r = edit(compliantStack(), "cloudflare:index/r2BucketLock:R2BucketLock", `${PRIMARY}-lock`, (i) => ({
      ...i, rules: [{ id: "all", enabled: true, prefix: "", condition: { type: "Indefinite" } }],
    }));
    expect(checkImmutability(r, S)).toEqual([]);
  });
});

describe("lifeboat-backup-lifecycle", () => {
  const S3L = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration";
  it("flags a tier prefix with no expiry (S3) and a missing abort rule", () => {
    const r = edit(compliantStack(), S3L, `${REPLICA}-lifecycle`, (i) => ({
      ...i, rules: i.rules.filter((x: any) => x.id !== "expire-app-db-monthly" && x.id !== "abort"),
    }));
    expect(msgs(checkLifecycle(r, S))).toEqual([
      `S3 backup bucket ${REPLICA}: tier prefix backups/app-db/monthly/ has no expiry rule`,
      `S3 backup bucket ${REPLICA} does not abort incomplete multipart uploads: add a lifecycle rule that aborts them for the whole bucket`,
    ]);
  });
  it("flags a disabled R2 expiry rule and an R2 bucket without lifecycle", () => {
    const disabled = edit(compliantStack(), "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", `${PRIMARY}-lifecycle`, (i) => ({
      ...i, rules: i.rules.map((x: any) => (x.id === "expire-app-db-daily" ? { ...x, enabled: false } : x)),
    }));
    expect(msgs(checkLifecycle(disabled, S))).toEqual([`R2 backup bucket ${PRIMARY}: tier prefix backups/app-db/daily/ has no expiry rule`]);
    expect(msgs(checkLifecycle(without(compliantStack(), "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"), S))).toEqual([
      `R2 backup bucket ${PRIMARY} has no lifecycle rules: expire every tier prefix and abort incomplete multipart uploads`,
    ]);
  });
});

describe("lifeboat-no-public-access", () => {
  const PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
  it("flags a public access block with settings off, and a missing one", () => {
    const r = edit(compliantStack(), PAB, `${REPLICA}-public-access`, (i) => ({ ...i, blockPublicPolicy: false, restrictPublicBuckets: false }));
    expect(msgs(checkPublicAccess(r, S))).toEqual([
      `S3 backup bucket ${REPLICA} public access block leaves blockPublicPolicy, restrictPublicBuckets off: all four must be true`,
    ]);
    expect(msgs(checkPublicAccess(without(compliantStack(), PAB), S))).toEqual([
      `S3 backup bucket ${REPLICA} has no public access block: add a BucketPublicAccessBlock with all four settings true`,
    ]);
  });
  it("flags an enabled r2.dev managed domain and a custom domain on an R2 backup bucket, not a disabled one", () => {
    const scope = { accountId: "0123456789abcdef0123456789abcdef", bucketName: PRIMARY, jurisdiction: "eu" };
    const r: PolicyResourceInput[] = [
      ...compliantStack(),
      { type: "cloudflare:index/r2ManagedDomain:R2ManagedDomain", name: "public-dev", inputs: { ...scope, enabled: true } },
      { type: "cloudflare:index/r2CustomDomain:R2CustomDomain", name: "cdn", inputs: { ...scope, domain: "files.example.com", enabled: true, zoneId: "z" } },
      { type: "cloudflare:index/r2ManagedDomain:R2ManagedDomain", name: "off", inputs: { ...scope, enabled: false } },
      // Same name in another jurisdiction: a different bucket.
      { type: "cloudflare:index/r2ManagedDomain:R2ManagedDomain", name: "other", inputs: { ...scope, jurisdiction: "default", enabled: true } },
    ];
    expect(checkPublicAccess(r, S)).toEqual([
      { resource: "public-dev", message: `R2 backup bucket ${PRIMARY} has its public r2.dev domain enabled (public-dev): backups must never be served over public HTTP` },
      { resource: "cdn", message: `R2 backup bucket ${PRIMARY} is served on the custom domain files.example.com (cdn): backups must never be served over public HTTP` },
    ]);
  });
  it("flags a public canned ACL", () => {
    const r = edit(compliantStack(), "aws:s3/bucket:Bucket", REPLICA, (i) => ({ ...i, acl: "public-read" }));
    expect(msgs(checkPublicAccess(r, S))).toEqual([`S3 backup bucket ${REPLICA} has the public ACL "public-read"`]);
  });
});

describe("lifeboat-writer-least-privilege", () => {
  it("passes Lifeboat's writer document (put-only, explicit denies)", () => {
    expect(checkWriterPrivilege(writer("prod-app-db-writer", LIFEBOAT_WRITER_STATEMENTS), S)).toEqual([]);
  });
  it("flags delete, bucket configuration, reads, wildcards and Resource *", () => {
    const bad = [
      ...LIFEBOAT_WRITER_STATEMENTS,
      { Effect: "Allow", Action: ["s3:DeleteObject", "s3:Put*", "s3:GetObject", "s3:ListBucket"], Resource: "*" },
      { Effect: "Allow", Action: "kms:*", Resource: "arn:aws:kms:eu-west-1:123456789012:key/1" },
    ];
    expect(msgs(checkWriterPrivilege(writer("prod-app-db-writer", bad), S))).toEqual([
      'writer policy prod-app-db-writer-policy allows every action ("kms:*"): list the actions it needs',
      'writer policy prod-app-db-writer-policy allows Resource "*": scope it to the bucket prefix and the bucket\'s key',
      "writer policy prod-app-db-writer-policy allows delete (s3:DeleteObject): writers never delete, lifecycle rules expire backups",
      "writer policy prod-app-db-writer-policy allows bucket configuration (s3:Put*): only the infrastructure program changes bucket settings",
      "writer policy prod-app-db-writer-policy allows reads (s3:GetObject, s3:ListBucket): an S3 writer must not read or list backups",
    ]);
  });
  it("finds writers by the identity's lifeboat:role tag, by name, and by attachment; leaves restorers alone", () => {
    const del = [{ Effect: "Allow", Action: "s3:DeleteObject", Resource: "arn:aws:s3:::b/*" }];
    const tagged = writer("backup-bot", del); // name says nothing; the user's tag says writer
    const restorer = writer("prod-app-db-restorer", del).map((r) => (r.type === "aws:iam/user:User" ? { ...r, inputs: { tags: { "lifeboat:role": "restorer" } } } : r));
    const managed: PolicyResourceInput[] = [
      { type: "aws:iam/role:Role", name: "ecs-writer", inputs: { name: "ecs-writer" } },
      { type: "aws:iam/policy:Policy", name: "put-backups", inputs: { policy: { Version: "2012-10-17", Statement: del } } },
      { type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", name: "attach", inputs: { role: "ecs-writer", policyArn: "arn:aws:iam::123456789012:policy/put-backups" } },
      { type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", name: "attach-managed", inputs: { role: "ecs-writer", policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess" } },
    ];
    expect(msgs(checkWriterPrivilege([...tagged, ...restorer, ...managed], S))).toEqual([
      "writer policy backup-bot-policy allows delete (s3:DeleteObject): writers never delete, lifecycle rules expire backups",
      "writer policy put-backups allows delete (s3:DeleteObject): writers never delete, lifecycle rules expire backups",
      "writer ecs-writer has the AWS-managed policy arn:aws:iam::aws:policy/AmazonS3FullAccess attached (attach-managed): writers get only a put-only policy",
    ]);
  });
});

describe("lifeboat-replica-other-region", () => {
  it("flags a primary without a replica", () => {
    expect(msgs(checkReplica(r2Set(PRIMARY, { location: "weur" }), S))).toEqual([
      `backup bucket ${PRIMARY} has no replica: add one in another region or provider (S3 replication, or a bucket named <name>-replica-1)`,
    ]);
  });
  it("flags an S3 replica in the primary's region", () => {
    const r = [...s3Set("lifeboat-staging-backups", "eu-west-1"), ...s3Set("lifeboat-staging-replica-1", "eu-west-1")];
    expect(checkReplica(r, S)).toEqual([{
      resource: "lifeboat-staging-replica-1",
      message: "replica lifeboat-staging-replica-1 is in the same region as backup bucket lifeboat-staging-backups (S3 eu-west-1): put the replica in another region or provider",
    }]);
    const other = [...s3Set("lifeboat-staging-backups", "eu-west-1"), ...s3Set("lifeboat-staging-replica-1", "eu-north-1")];
    expect(checkReplica(other, S)).toEqual([]);
  });
  it("buckets whose generated names share a truncated prefix are told apart by their component", () => {
    // S3 bucketPrefix is cut at 37 characters: both get "lifeboat-staging-replica-same-region-".
    const long = (name: string, region: string) => s3Set(name, region).map((r) =>
      r.type === "aws:s3/bucket:Bucket" ? { ...r, inputs: { ...r.inputs, bucketPrefix: `${name}-`.slice(0, 37) } } : r.inputs.bucket ? { ...r, inputs: { ...r.inputs, bucket: `${name}-`.slice(0, 37) + r.name.length } } : r);
    const r = [...long("lifeboat-staging-replica-same-region-backups", "eu-west-1"), ...long("lifeboat-staging-replica-same-region-replica-1", "eu-west-1")];
    expect(msgs(checkReplica(r, S))).toEqual([
      "replica lifeboat-staging-replica-same-region-replica-1 is in the same region as backup bucket lifeboat-staging-replica-same-region-backups (S3 eu-west-1): put the replica in another region or provider",
    ]);
    expect(evaluatePolicies(r).map((v) => v.policy)).toEqual(["lifeboat-replica-other-region"]);
  });
  it("R2 → R2: the same location hint is the same region; different hints or jurisdictions differ", () => {
    const same = [...r2Set(PRIMARY, { location: "weur" }), ...r2Set("lifeboat-prod-replica-1", { location: "weur" })];
    expect(msgs(checkReplica(same, S))).toEqual([
      `replica lifeboat-prod-replica-1 is in the same region as backup bucket ${PRIMARY} (R2 default/weur): put the replica in another region or provider`,
    ]);
    const unhinted = [...r2Set(PRIMARY, { location: "weur" }), ...r2Set("lifeboat-prod-replica-1")];
    expect(msgs(checkReplica(unhinted, S))).toHaveLength(1);
    expect(checkReplica([...r2Set(PRIMARY, { location: "weur" }), ...r2Set("lifeboat-prod-replica-1", { location: "enam" })], S)).toEqual([]);
  });
  it("pairs buckets by native S3 replication regardless of names, region from the provider", () => {
    const a = s3Set("primary-store", "us-east-1").map((r) => (r.type === "aws:s3/bucket:Bucket" ? { ...r, provider: { type: "pulumi:providers:aws", name: "use1", inputs: { region: "us-east-1" } } } : r));
    const b = s3Set("dr-store", "us-east-1");
    const replication: PolicyResourceInput = {
      type: "aws:s3/bucketReplicationConfig:BucketReplicationConfig", name: "repl",
      inputs: { bucket: "primary-store-0123456789ab", rules: [{ status: "Enabled", destination: { bucket: "arn:aws:s3:::dr-store-0123456789ab" } }] },
    };
    const settings = { ...S, backupBucketPattern: "store" };
    expect(msgs(checkReplica([...a, ...b, replication], settings))).toEqual([
      "replica dr-store is in the same region as backup bucket primary-store (S3 us-east-1): put the replica in another region or provider",
    ]);
  });
});

describe("lifeboat-retention-minimums", () => {
  it("passes the prod defaults exactly (30/84/372/2562 days)", () => expect(checkRetention(compliantStack(), S)).toEqual([]));
  it("flags tiers kept shorter than the minimums, on R2 and S3", () => {
    const r = [...r2Set(PRIMARY, { location: "weur" }, { days: { daily: 7 } }), ...s3Set(REPLICA, "eu-central-1", { days: { yearly: 2555 } })];
    expect(msgs(checkRetention(r, S))).toEqual([
      `backup bucket ${PRIMARY}: backups/app-db/daily/ expires after 7 days, below the daily minimum of 30 days`,
      `backup bucket ${REPLICA}: backups/app-db/yearly/ expires after 2555 days, below the yearly minimum of 2562 days`,
    ]);
  });
  it("uses configured minimums (a staging stack's)", () => {
    const r = s3Set("staging-backups", "eu-west-1", { days: { daily: 14, weekly: 14, monthly: 14, yearly: 14 } });
    expect(checkRetention(r, { ...S, minimums: { daily: 14, weekly: 2, monthly: 0, yearly: 0 } })).toEqual([]);
    expect(checkRetention(r, S)).toHaveLength(4);
  });
});

describe("lifeboat-schedule-meets-rpo", () => {
  const sb = (schedule: string, rpo: string): PolicyResourceInput => ({ type: "lifeboat:index:ScheduledBackup", name: "prod-app-db", inputs: { source: "app-db", schedule, rpo } });
  it("passes an hourly schedule with a 1h RPO", () => expect(checkSchedules([sb("0 * * * *", "1h")], S)).toEqual([]));
  it("flags a daily schedule with a 1h RPO", () => {
    expect(msgs(checkSchedules([sb("0 3 * * *", "1h")], S))).toEqual([
      'scheduled backup of app-db runs up to 1d apart ("0 3 * * *"), longer than its RPO of 1h: back up more often or raise the RPO',
    ]);
  });
  it("judges a raw EventBridge schedule under a ScheduledBackup against the component's RPO", () => {
    const parent = sb("0 * * * *", "1h");
    const schedule = (expr: string, extra: Record<string, unknown> = {}): PolicyResourceInput => ({
      type: "aws:scheduler/schedule:Schedule", name: "prod-app-db-schedule", parent: "prod-app-db", parentType: "lifeboat:index:ScheduledBackup",
      inputs: { scheduleExpression: expr, scheduleExpressionTimezone: "UTC", ...extra },
    });
    expect(checkSchedules([parent, schedule("cron(0 * * * ? *)")], S)).toEqual([]);
    expect(msgs(checkSchedules([parent, schedule("rate(6 hours)")], S))).toEqual([
      'schedule prod-app-db-schedule runs up to 6h apart ("rate(6 hours)"), longer than its RPO of 1h: back up more often or raise the RPO',
    ]);
    expect(msgs(checkSchedules([parent, schedule("cron(0 * * * ? *)", { state: "DISABLED" })], S))).toEqual([
      "schedule prod-app-db-schedule is disabled: its source gets no backups at all",
    ]);
  });
  it("judges standalone backup schedules against the rpo setting only", () => {
    const raw: PolicyResourceInput = { type: "aws:scheduler/schedule:Schedule", name: "nightly-backup", inputs: { scheduleExpression: "cron(0 3 ? * MON-FRI *)" } };
    expect(checkSchedules([raw], S)).toEqual([]);
    expect(msgs(checkSchedules([raw], { ...S, rpo: "24h" }))).toEqual([
      'schedule nightly-backup runs up to 3d apart ("cron(0 3 ? * MON-FRI *)"), longer than its RPO of 1d: back up more often or raise the RPO',
    ]);
  });
  it("translates EventBridge weekdays (1-7, SUN=1)", () => {
    expect(eventBridgeIntervalSeconds("cron(0 3 ? * 1 *)")).toBe(7 * 86400);
    expect(eventBridgeIntervalSeconds("cron(0 3 ? * 2-6 *)")).toBe(3 * 86400);
    expect(eventBridgeIntervalSeconds("rate(15 minutes)")).toBe(900);
  });
});

describe("lifeboat-schedule-meets-rpo with point-in-time recovery", () => {
  const pitr = (rpo: string, walFlushInterval?: string): PolicyResourceInput => ({
    type: "lifeboat:index:ScheduledBackup", name: "prod-app-db",
    inputs: { sourceName: "app-db", sourceKind: "postgres", schedule: "0 3 * * *", rpo, pitr: true, ...(walFlushInterval ? { walFlushInterval } : {}) },
  });
  it("judges the WAL flush interval (default 60s), not the daily base-backup schedule", () => {
    expect(checkSchedules([pitr("5m")], S)).toEqual([]);
    expect(checkSchedules([pitr("5m", "2m")], S)).toEqual([]);
  });
  it("flags a flush interval longer than the RPO", () => {
    expect(msgs(checkSchedules([pitr("30s")], S))).toEqual([
      "WAL streaming of app-db flushes every 60s, longer than its RPO of 30s: shorten walFlushInterval or raise the RPO",
    ]);
  });
});

describe("lifeboat-pitr-for-short-rpo", () => {
  const sb = (inputs: Record<string, unknown>): PolicyResourceInput => ({ type: "lifeboat:index:ScheduledBackup", name: "prod-app-db", inputs: { sourceName: "app-db", ...inputs } });
  it("passes postgres with an RPO of 15 minutes or more, or with PITR, and other kinds at any RPO", () => {
    expect(checkPitr([
      sb({ sourceKind: "postgres", schedule: "*/15 * * * *", rpo: "15m" }),
      sb({ sourceKind: "postgres", schedule: "0 3 * * *", rpo: "1m", pitr: true }),
      sb({ sourceKind: "redis", schedule: "*/5 * * * *", rpo: "5m" }),
    ])).toEqual([]);
  });
  it("flags postgres with an RPO under 15 minutes and no PITR", () => {
    expect(checkPitr([sb({ sourceKind: "postgres", schedule: "*/5 * * * *", rpo: "5m" })])).toEqual([{
      resource: "prod-app-db",
      message: "postgres source app-db declares an RPO of 5m, under 15m: enable point-in-time recovery (pitr: true, WAL streaming) instead of dumping that often",
    }]);
  });
});

describe("evaluatePolicies", () => {
  it("attaches policy and level; advisory and per-policy levels; disabled skips", () => {
    const r = without(compliantStack(), SSE);
    expect(evaluatePolicies(r)).toEqual([{
      policy: "lifeboat-backup-encryption", level: "mandatory", resource: REPLICA,
      message: expect.stringContaining(`S3 backup bucket ${REPLICA} has no server-side encryption configuration`),
    }]);
    expect(evaluatePolicies(r, { enforcement: "advisory" })[0]!.level).toBe("advisory");
    expect(evaluatePolicies(r, { enforcement: "disabled" })).toEqual([]);
    expect(evaluatePolicies(r, { levels: { "lifeboat-backup-encryption": "disabled" } })).toEqual([]);
  });
  it("ignores everything that is not a backup bucket", () => {
    expect(evaluatePolicies([{ type: R2, name: "website-assets", inputs: { name: "website-assets" } }])).toEqual([]);
  });
});
