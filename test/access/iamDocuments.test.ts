/**
 * The generated IAM documents are evaluated by an independent IAM policy evaluator
 * (@cloud-copilot/iam-simulate), request by request, never compared as JSON.
 * Every simulation must validate (real action names, resource types, context keys) and
 * no context key may be silently ignored, so a typo cannot turn into a passing "denied".
 */
import fc from "fast-check";
import { NAME_PATTERN } from "lifeboat-core";
import {
  PolicyDocument,
  ecsTasksAssumeRolePolicy,
  replicatorPolicy,
  restorerPolicy,
  s3ReplicationAssumeRolePolicy,
  s3ReplicationRolePolicy,
  writerPolicy,
} from "../../components/access/iamDocuments";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { pageKey } from "../../runner/src/commands/report";
import { ACCOUNT, decide } from "./simulate";

const BUCKET = "arn:aws:s3:::acme-backups-prod";
const OTHER_BUCKET = "arn:aws:s3:::acme-backups-staging";
const KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
const OTHER_KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/99999999-2222-3333-4444-555555555555`;
const VIA_S3 = { "kms:ViaService": "s3.eu-west-1.amazonaws.com" };


const obj = (bucket: string, key: string) => `${bucket}/${key}`;
const BACKUP = "prod/main-db/daily/20260114T020000.000Z-a1b2c3d4.dump.zst.age";
/** A create-only PutObject or CompleteMultipartUpload, as the runner sends it (If-None-Match: *). */
const CREATE = { "s3:ObjectCreationOperation": "true", "s3:if-none-match": "*" };
/** CreateMultipartUpload / UploadPart: authorized as s3:PutObject, no conditional header possible. */
const PART = { "s3:ObjectCreationOperation": "false" };

describe("writerPolicy (prefix prod, source main-db)", () => {
  const policy = writerPolicy({ bucketArn: BUCKET, prefix: "prod", source: "main-db", kmsKeyArn: KEY });

  it.each([
    ["s3:PutObject", BACKUP],
    ["s3:PutObject", `${BACKUP}.manifest.json`],
    ["s3:PutObject", "prod/main-db/wal/000000010000000000000001.zst.age"],
    ["s3:AbortMultipartUpload", BACKUP],
    ["s3:PutObjectRetention", BACKUP],
  ])("can %s its own key %s", async (action, key) => {
    expect(await decide(policy, action, obj(BUCKET, key), action === "s3:PutObject" ? CREATE : {})).toBe("Allowed");
  });

  it("can upload the parts of a multipart upload (no conditional header exists for them)", async () => {
    expect(await decide(policy, "s3:PutObject", obj(BUCKET, BACKUP), PART)).toBe("Allowed");
  });

  it.each([
    ["a PutObject or CompleteMultipartUpload without If-None-Match", { "s3:ObjectCreationOperation": "true" }],
    ["a put that does not say whether it creates the object", {}],
  ])("cannot overwrite its own backups: %s is denied explicitly", async (_what, ctx) => {
    expect(await decide(policy, "s3:PutObject", obj(BUCKET, BACKUP), ctx)).toBe("ExplicitlyDenied");
    expect(await decide(policy, "s3:PutObject", obj(BUCKET, `${BACKUP}.manifest.json`), ctx)).toBe("ExplicitlyDenied");
  });

  it.each([
    ["another source's prefix", obj(BUCKET, "prod/crm-db/daily/x.age")],
    ["a source whose name extends its own", obj(BUCKET, "prod/main-db-old/daily/x.age")],
    ["the same source outside the bucket prefix", obj(BUCKET, "main-db/daily/x.age")],
    ["another environment's prefix", obj(BUCKET, "staging/main-db/daily/x.age")],
    ["the verification records", obj(BUCKET, "prod/_verifications/main-db/x.json")],
    ["the bucket prefix itself", obj(BUCKET, "prod/x.age")],
    ["another bucket, same key", obj(OTHER_BUCKET, BACKUP)],
  ])("cannot put to %s", async (_what, resource) => {
    expect(await decide(policy, "s3:PutObject", resource, CREATE)).not.toBe("Allowed");
  });

  it.each(["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:ListMultipartUploadParts"])(
    "cannot read its own backups (%s), explicitly",
    async (action) => {
      expect(await decide(policy, action, obj(BUCKET, BACKUP))).toBe("ExplicitlyDenied");
    },
  );

  it.each<Record<string, string>>([{ "s3:prefix": "prod/main-db/" }, { "s3:prefix": "prod/" }, {}])("cannot list the bucket (%j)", async (ctx) => {
    expect(await decide(policy, "s3:ListBucket", BUCKET, ctx)).toBe("ExplicitlyDenied");
    expect(await decide(policy, "s3:ListBucketVersions", BUCKET, ctx)).toBe("ExplicitlyDenied");
  });

  it.each(["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectLegalHold"])(
    "cannot %s, even on its own keys",
    async (action) => {
      expect(await decide(policy, action, obj(BUCKET, BACKUP))).toBe("ExplicitlyDenied");
    },
  );

  it.each([
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutReplicationConfiguration",
    "s3:DeleteBucket",
  ])("cannot change bucket configuration (%s)", async (action) => {
    expect(await decide(policy, action, BUCKET)).toBe("ExplicitlyDenied");
  });

  it("uses the bucket key only through S3: GenerateDataKey and Decrypt (multipart) via s3.<region>", async () => {
    expect(await decide(policy, "kms:GenerateDataKey", KEY, VIA_S3)).toBe("Allowed");
    expect(await decide(policy, "kms:Decrypt", KEY, VIA_S3)).toBe("Allowed");
  });

  it("cannot call KMS directly, via another service, on another key, or to Encrypt", async () => {
    expect(await decide(policy, "kms:Decrypt", KEY)).not.toBe("Allowed");
    expect(await decide(policy, "kms:Decrypt", KEY, { "kms:ViaService": "ec2.eu-west-1.amazonaws.com" })).not.toBe("Allowed");
    expect(await decide(policy, "kms:Decrypt", KEY, { "kms:ViaService": "s3.us-east-1.amazonaws.com" })).not.toBe("Allowed");
    expect(await decide(policy, "kms:GenerateDataKey", OTHER_KEY, VIA_S3)).not.toBe("Allowed");
    expect(await decide(policy, "kms:Encrypt", KEY, VIA_S3)).not.toBe("Allowed");
  });

  it("has no KMS permissions when the bucket has no customer-managed key", async () => {
    const noKms = writerPolicy({ bucketArn: BUCKET, prefix: "prod", source: "main-db" });
    expect(await decide(noKms, "s3:PutObject", obj(BUCKET, BACKUP), CREATE)).toBe("Allowed");
    expect(await decide(noKms, "kms:GenerateDataKey", KEY, VIA_S3)).not.toBe("Allowed");
  });

  it("with an empty bucket prefix writes under <source>/ only", async () => {
    const flat = writerPolicy({ bucketArn: BUCKET, prefix: "", source: "main-db" });
    expect(await decide(flat, "s3:PutObject", obj(BUCKET, "main-db/daily/x.age"), CREATE)).toBe("Allowed");
    expect(await decide(flat, "s3:PutObject", obj(BUCKET, "crm-db/daily/x.age"), CREATE)).not.toBe("Allowed");
    expect(await decide(flat, "s3:PutObject", obj(BUCKET, "prod/main-db/daily/x.age"), CREATE)).not.toBe("Allowed");
  });

  it("rejects names that would widen the resource pattern", () => {
    expect(() => writerPolicy({ bucketArn: BUCKET, prefix: "prod", source: "*" })).toThrow(/source name/);
    expect(() => writerPolicy({ bucketArn: BUCKET, prefix: "prod*", source: "db" })).toThrow(/prefix/);
    expect(() => writerPolicy({ bucketArn: BUCKET, prefix: "${aws:username}", source: "db" })).toThrow(/prefix/);
    expect(() => writerPolicy({ bucketArn: "arn:aws:s3:::*", prefix: "", source: "db" })).toThrow(/bucket ARN/);
    expect(() => writerPolicy({ bucketArn: BUCKET, prefix: "", source: "db", kmsKeyArn: "alias/x" })).toThrow(/KMS key ARN/);
  });

  describe("properties", () => {
    const sourceName = fc.stringMatching(NAME_PATTERN);
    const bucketPrefix = fc.constantFrom("", "prod", "team/prod", "a.b_c-d");
    const keyTail = fc.stringMatching(/^[a-z0-9._-]{1,12}(\/[a-z0-9._-]{1,12}){0,2}$/);

    it("for any source, the writer can put exactly under <prefix>/<source>/ and nowhere else", async () => {
      await fc.assert(
        fc.asyncProperty(bucketPrefix, sourceName, sourceName, keyTail, async (prefix, source, other, tail) => {
          const p = writerPolicy({ bucketArn: BUCKET, prefix, source });
          const base = prefix ? `${prefix}/` : "";
          expect(await decide(p, "s3:PutObject", obj(BUCKET, `${base}${source}/${tail}`), CREATE)).toBe("Allowed");
          expect(await decide(p, "s3:PutObject", obj(BUCKET, `${base}${source}/${tail}`), { "s3:ObjectCreationOperation": "true" })).toBe("ExplicitlyDenied");
          expect(await decide(p, "s3:PutObject", obj(OTHER_BUCKET, `${base}${source}/${tail}`), CREATE)).not.toBe("Allowed");
          expect(await decide(p, "s3:GetObject", obj(BUCKET, `${base}${source}/${tail}`))).toBe("ExplicitlyDenied");
          if (other !== source) {
            expect(await decide(p, "s3:PutObject", obj(BUCKET, `${base}${other}/${tail}`), CREATE)).not.toBe("Allowed");
          }
        }),
        { numRuns: 60 },
      );
    });

    it("for any key at all, put is allowed iff the key starts with <prefix>/<source>/", async () => {
      const anyKey = fc.oneof(
        keyTail,
        fc.tuple(sourceName, keyTail).map(([s, t]) => `prod/${s}/${t}`),
        keyTail.map((t) => `prod/main-db/${t}`),
        keyTail.map((t) => `prod/main-db${t}`),
      );
      const p = writerPolicy({ bucketArn: BUCKET, prefix: "prod", source: "main-db" });
      await fc.assert(
        fc.asyncProperty(anyKey, async (key) => {
          const allowed = (await decide(p, "s3:PutObject", obj(BUCKET, key), CREATE)) === "Allowed";
          expect(allowed).toBe(key.startsWith("prod/main-db/"));
        }),
        { numRuns: 150 },
      );
    });
  });
});

describe("restorerPolicy (prefix prod, source main-db)", () => {
  const policy = restorerPolicy({ bucketArn: BUCKET, prefix: "prod", source: "main-db", kmsKeyArn: KEY });
  const RECORD = "prod/_verifications/main-db/20260114T030000.000Z-9f8e7d.json";

  it.each([
    ["s3:GetObject", BACKUP],
    ["s3:GetObject", `${BACKUP}.manifest.json`],
    ["s3:GetObjectVersion", BACKUP],
    ["s3:GetObject", RECORD],
  ])("can %s %s", async (action, key) => {
    expect(await decide(policy, action, obj(BUCKET, key))).toBe("Allowed");
  });

  it.each(["prod/main-db/", "prod/main-db/daily/", "prod/main-db/yearly/2026", "prod/_verifications/main-db/"])(
    "can list its prefix %s",
    async (prefix) => {
      expect(await decide(policy, "s3:ListBucket", BUCKET, { "s3:prefix": prefix })).toBe("Allowed");
      expect(await decide(policy, "s3:ListBucketVersions", BUCKET, { "s3:prefix": prefix })).toBe("Allowed");
    },
  );

  it.each(["prod/", "prod/crm-db/", "prod/main-db-old/", "prod/_verifications/", "prod/_verifications/crm-db/", ""])(
    "cannot list outside its prefix (%j)",
    async (prefix) => {
      expect(await decide(policy, "s3:ListBucket", BUCKET, { "s3:prefix": prefix })).not.toBe("Allowed");
    },
  );

  it("cannot list without a prefix", async () => {
    expect(await decide(policy, "s3:ListBucket", BUCKET)).not.toBe("Allowed");
  });

  it("can put verification records, and only those", async () => {
    expect(await decide(policy, "s3:PutObject", obj(BUCKET, RECORD))).toBe("Allowed");
    expect(await decide(policy, "s3:PutObject", obj(BUCKET, "prod/_verifications/crm-db/x.json"))).not.toBe("Allowed");
    expect(await decide(policy, "s3:PutObject", obj(OTHER_BUCKET, RECORD))).not.toBe("Allowed");
  });

  it("the scheduled status page: can put its page under its own verification prefix, create-only, and list the WAL status reads", async () => {
    const page = pageKey("prod", "main-db", new Date("2026-01-14T03:00:00Z"), "a1b2c3d4e5f6");
    expect(await decide(policy, "s3:PutObject", obj(BUCKET, page), CREATE)).toBe("Allowed");
    expect(await decide(policy, "s3:PutObject", obj(BUCKET, pageKey("prod", "crm-db", new Date(), "a1b2c3d4e5f6")), CREATE)).not.toBe("Allowed");
    expect(await decide(policy, "s3:ListBucket", BUCKET, { "s3:prefix": "prod/main-db/wal/" })).toBe("Allowed");
  });

  it.each([BACKUP, `${BACKUP}.manifest.json`, "prod/crm-db/daily/x.age", "prod/x"])("cannot put backups (%s), explicitly", async (key) => {
    expect(await decide(policy, "s3:PutObject", obj(BUCKET, key))).toBe("ExplicitlyDenied");
  });

  it("cannot read other sources or other buckets", async () => {
    expect(await decide(policy, "s3:GetObject", obj(BUCKET, "prod/crm-db/daily/x.age"))).not.toBe("Allowed");
    expect(await decide(policy, "s3:GetObject", obj(OTHER_BUCKET, BACKUP))).not.toBe("Allowed");
  });

  it.each([
    ["s3:DeleteObject", obj(BUCKET, BACKUP)],
    ["s3:DeleteObject", obj(BUCKET, RECORD)],
    ["s3:DeleteObjectVersion", obj(BUCKET, BACKUP)],
    ["s3:BypassGovernanceRetention", obj(BUCKET, BACKUP)],
    ["s3:PutBucketPolicy", BUCKET],
    ["s3:PutLifecycleConfiguration", BUCKET],
    ["s3:PutBucketVersioning", BUCKET],
  ])("cannot %s %s, explicitly", async (action, resource) => {
    expect(await decide(policy, action, resource)).toBe("ExplicitlyDenied");
  });

  it("decrypts via S3 (reads) and generates data keys via S3 (SSE-KMS verification records), never directly", async () => {
    expect(await decide(policy, "kms:Decrypt", KEY, VIA_S3)).toBe("Allowed");
    expect(await decide(policy, "kms:GenerateDataKey", KEY, VIA_S3)).toBe("Allowed");
    expect(await decide(policy, "kms:Decrypt", KEY)).not.toBe("Allowed");
    expect(await decide(policy, "kms:Decrypt", OTHER_KEY, VIA_S3)).not.toBe("Allowed");
  });
});

describe("replicatorPolicy", () => {
  const SRC = "arn:aws:s3:::acme-backups-prod";
  const DST = "arn:aws:s3:::acme-backups-prod-dr";
  const SRC_KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/aaaaaaaa-0000-0000-0000-000000000001`;
  const DST_KEY = `arn:aws:kms:eu-central-1:${ACCOUNT}:key/bbbbbbbb-0000-0000-0000-000000000002`;
  const policy = replicatorPolicy({
    source: { bucketArn: SRC, prefix: "prod", kmsKeyArn: SRC_KEY },
    replica: { bucketArn: DST, prefix: "prod", kmsKeyArn: DST_KEY },
  });

  it("reads and lists the source prefix", async () => {
    expect(await decide(policy, "s3:GetObject", obj(SRC, BACKUP))).toBe("Allowed");
    expect(await decide(policy, "s3:ListBucket", SRC, { "s3:prefix": "prod/" })).toBe("Allowed");
    expect(await decide(policy, "s3:ListBucket", SRC, { "s3:prefix": "prod/main-db/daily/" })).toBe("Allowed");
    expect(await decide(policy, "s3:ListBucket", SRC, { "s3:prefix": "staging/" })).not.toBe("Allowed");
    expect(await decide(policy, "s3:GetObject", obj(SRC, "staging/main-db/daily/x.age"))).not.toBe("Allowed");
  });

  it("puts and lists on the replica prefix", async () => {
    expect(await decide(policy, "s3:PutObject", obj(DST, BACKUP))).toBe("Allowed");
    expect(await decide(policy, "s3:AbortMultipartUpload", obj(DST, BACKUP))).toBe("Allowed");
    expect(await decide(policy, "s3:ListBucket", DST, { "s3:prefix": "prod/main-db/" })).toBe("Allowed");
    expect(await decide(policy, "s3:PutObject", obj(DST, "staging/x"))).not.toBe("Allowed");
  });

  it.each(["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes"])("cannot read the replica (%s), explicitly", async (action) => {
    expect(await decide(policy, action, obj(DST, BACKUP))).toBe("ExplicitlyDenied");
  });

  it.each([
    ["s3:DeleteObject", obj(DST, BACKUP)],
    ["s3:DeleteObjectVersion", obj(DST, BACKUP)],
    ["s3:DeleteObject", obj(SRC, BACKUP)],
    ["s3:BypassGovernanceRetention", obj(DST, BACKUP)],
    ["s3:PutBucketPolicy", DST],
    ["s3:PutLifecycleConfiguration", DST],
    ["s3:PutLifecycleConfiguration", SRC],
  ])("cannot %s on %s, explicitly", async (action, resource) => {
    expect(await decide(policy, action, resource)).toBe("ExplicitlyDenied");
  });

  it("cannot write to the source", async () => {
    expect(await decide(policy, "s3:PutObject", obj(SRC, BACKUP))).not.toBe("Allowed");
  });

  it("uses each bucket's key only for its side, only via S3 in that key's region", async () => {
    expect(await decide(policy, "kms:Decrypt", SRC_KEY, VIA_S3)).toBe("Allowed");
    expect(await decide(policy, "kms:GenerateDataKey", DST_KEY, { "kms:ViaService": "s3.eu-central-1.amazonaws.com" })).toBe("Allowed");
    expect(await decide(policy, "kms:GenerateDataKey", DST_KEY, VIA_S3)).not.toBe("Allowed");
    expect(await decide(policy, "kms:GenerateDataKey", SRC_KEY, VIA_S3)).not.toBe("Allowed");
    expect(await decide(policy, "kms:Decrypt", SRC_KEY)).not.toBe("Allowed");
  });

  it("with empty prefixes covers the whole source bucket and lists it without a prefix", async () => {
    const whole = replicatorPolicy({ source: { bucketArn: SRC, prefix: "" }, replica: { bucketArn: DST, prefix: "" } });
    expect(await decide(whole, "s3:ListBucket", SRC)).toBe("Allowed");
    expect(await decide(whole, "s3:GetObject", obj(SRC, "anything/at/all"))).toBe("Allowed");
    expect(await decide(whole, "s3:GetObject", obj(DST, "anything/at/all"))).toBe("ExplicitlyDenied");
  });

  it("refuses to replicate a bucket onto itself", () => {
    expect(() => replicatorPolicy({ source: { bucketArn: SRC, prefix: "a" }, replica: { bucketArn: SRC, prefix: "b" } })).toThrow(/differ/);
  });
});

describe("s3ReplicationRolePolicy", () => {
  const ROLE = `arn:aws:iam::${ACCOUNT}:role/lifeboat-prod-replication`;
  const SRC = "arn:aws:s3:::acme-backups-prod";
  const DST = "arn:aws:s3:::acme-backups-prod-dr";
  const SRC_KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/aaaaaaaa-0000-0000-0000-000000000001`;
  const DST_KEY = `arn:aws:kms:eu-central-1:${ACCOUNT}:key/bbbbbbbb-0000-0000-0000-000000000002`;
  const policy = s3ReplicationRolePolicy({
    sourceBucketArn: SRC,
    replicaBucketArn: DST,
    sourceKmsKeyArn: SRC_KEY,
    replicaKmsKeyArn: DST_KEY,
  });
  const as = (action: string, resource: string, ctx: Record<string, string> = {}) => decide(policy, action, resource, ctx, ROLE);

  it.each([
    ["s3:GetReplicationConfiguration", SRC],
    ["s3:ListBucket", SRC],
    ["s3:GetObjectVersionForReplication", obj(SRC, BACKUP)],
    ["s3:GetObjectVersionAcl", obj(SRC, BACKUP)],
    ["s3:GetObjectVersionTagging", obj(SRC, BACKUP)],
    ["s3:GetObjectRetention", obj(SRC, BACKUP)],
    ["s3:GetObjectLegalHold", obj(SRC, BACKUP)],
    ["s3:ReplicateObject", obj(DST, BACKUP)],
    ["s3:ReplicateTags", obj(DST, BACKUP)],
  ])("allows %s on %s", async (action, resource) => {
    expect(await as(action, resource)).toBe("Allowed");
  });

  it("never replicates deletes", async () => {
    expect(await as("s3:ReplicateDelete", obj(DST, BACKUP))).toBe("ExplicitlyDenied");
    expect(await as("s3:DeleteObject", obj(DST, BACKUP))).toBe("ExplicitlyDenied");
    expect(await as("s3:DeleteObjectVersion", obj(DST, BACKUP))).toBe("ExplicitlyDenied");
  });

  it("cannot read replicas or replicate in the wrong direction", async () => {
    expect(await as("s3:GetObject", obj(DST, BACKUP))).not.toBe("Allowed");
    expect(await as("s3:GetObjectVersionForReplication", obj(DST, BACKUP))).not.toBe("Allowed");
    expect(await as("s3:ReplicateObject", obj(SRC, BACKUP))).not.toBe("Allowed");
  });

  it("decrypts with the source key and encrypts with the replica key, each via S3 in its region", async () => {
    expect(await as("kms:Decrypt", SRC_KEY, { "kms:ViaService": "s3.eu-west-1.amazonaws.com" })).toBe("Allowed");
    expect(await as("kms:Encrypt", DST_KEY, { "kms:ViaService": "s3.eu-central-1.amazonaws.com" })).toBe("Allowed");
    expect(await as("kms:Decrypt", SRC_KEY)).not.toBe("Allowed");
    expect(await as("kms:Decrypt", DST_KEY, { "kms:ViaService": "s3.eu-central-1.amazonaws.com" })).not.toBe("Allowed");
    expect(await as("kms:Encrypt", SRC_KEY, { "kms:ViaService": "s3.eu-west-1.amazonaws.com" })).not.toBe("Allowed");
  });
});

describe("trust policies", () => {
  const assume = async (trust: PolicyDocument, principal: string, ctx: Record<string, string> = {}) => {
    const result = await runSimulation(
      {
        request: {
          principal,
          action: "sts:AssumeRole",
          resource: { resource: `arn:aws:iam::${ACCOUNT}:role/lifeboat-role`, accountId: ACCOUNT },
          contextVariables: ctx,
        },
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: trust,
      },
      {},
    );
    if (result.resultType !== "single") throw new Error(JSON.stringify(result));
    return result.overallResult;
  };

  it("ECS tasks (and only ECS tasks) may assume the task role", async () => {
    const trust = ecsTasksAssumeRolePolicy();
    expect(await assume(trust, "ecs-tasks.amazonaws.com")).toBe("Allowed");
    expect(await assume(trust, "s3.amazonaws.com")).not.toBe("Allowed");
    expect(await assume(trust, "ec2.amazonaws.com")).not.toBe("Allowed");
    expect(await assume(trust, `arn:aws:iam::${ACCOUNT}:user/someone`)).not.toBe("Allowed");
  });

  it("with sourceAccount, only that account's ECS tasks may assume it", async () => {
    const trust = ecsTasksAssumeRolePolicy({ sourceAccount: ACCOUNT });
    expect(await assume(trust, "ecs-tasks.amazonaws.com", { "aws:SourceAccount": ACCOUNT })).toBe("Allowed");
    expect(await assume(trust, "ecs-tasks.amazonaws.com", { "aws:SourceAccount": "999999999999" })).not.toBe("Allowed");
  });

  it("S3 (and only S3) may assume the replication role, for the named source bucket", async () => {
    const trust = s3ReplicationAssumeRolePolicy({ sourceAccount: ACCOUNT, sourceBucketArn: BUCKET });
    const ok = { "aws:SourceAccount": ACCOUNT, "aws:SourceArn": BUCKET };
    expect(await assume(trust, "s3.amazonaws.com", ok)).toBe("Allowed");
    expect(await assume(trust, "s3.amazonaws.com", { ...ok, "aws:SourceArn": OTHER_BUCKET })).not.toBe("Allowed");
    expect(await assume(trust, "ecs-tasks.amazonaws.com", ok)).not.toBe("Allowed");
    expect(await assume(s3ReplicationAssumeRolePolicy(), "s3.amazonaws.com")).toBe("Allowed");
  });
});
