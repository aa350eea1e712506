import { TIERS } from "lifeboat-core";
import { BackupBucket } from "../../components";
import { declare, installMocks, ofType, one, valueOf } from "./mockHarness";

installMocks();

const sources = ["app-db", "n8n-data"];
const DAY = 86400;

describe("BackupBucket on S3", () => {
  let bucket: BackupBucket;
  let resources: Awaited<ReturnType<typeof declare>>;
  beforeAll(async () => {
    resources = await declare(() => {
      bucket = new BackupBucket("prod-backups", { provider: "s3", region: "eu-west-1", sources, objectLockMode: "GOVERNANCE" });
    });
  });

  it("enables object lock, versioning and a default retention no longer than the shortest tier", () => {
    expect(one(resources, "aws:s3/bucket:Bucket").inputs.objectLockEnabled).toBe(true);
    expect(one(resources, "aws:s3/bucketVersioning:BucketVersioning").inputs.versioningConfiguration).toEqual({ status: "Enabled" });
    const lock = one(resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs.rule.defaultRetention;
    expect(lock).toEqual({ mode: "GOVERNANCE", days: 30 });
  });

  it("encrypts with its own rotating KMS key and a bucket key", async () => {
    const key = one(resources, "aws:kms/key:Key");
    expect(key.inputs.enableKeyRotation).toBe(true);
    const sse = one(resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs.rules[0];
    expect(sse.bucketKeyEnabled).toBe(true);
    expect(sse.applyServerSideEncryptionByDefault.sseAlgorithm).toBe("aws:kms");
    expect(sse.applyServerSideEncryptionByDefault.kmsMasterKeyId).toBe(await valueOf(bucket.kmsKeyArn!));
  });

  it("blocks all public access and enforces bucket-owner ownership", () => {
    const pab = one(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs;
    expect([pab.blockPublicAcls, pab.blockPublicPolicy, pab.ignorePublicAcls, pab.restrictPublicBuckets]).toEqual([true, true, true, true]);
    expect(one(resources, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs.rule.objectOwnership).toBe("BucketOwnerEnforced");
  });

  it("denies every request without TLS and puts asking for other encryption", async () => {
    const policy = JSON.parse(one(resources, "aws:s3/bucketPolicy:BucketPolicy").inputs.policy);
    const arn = await valueOf(bucket.arn!);
    const tls = policy.Statement.find((s: any) => s.Condition?.Bool?.["aws:SecureTransport"] === "false");
    expect(tls).toMatchObject({ Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [arn, `${arn}/*`] });
    const sse = policy.Statement.find((s: any) => s.Condition?.StringNotEqualsIfExists?.["s3:x-amz-server-side-encryption"]);
    expect(sse).toMatchObject({ Effect: "Deny", Action: "s3:PutObject", Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" } } });
  });

  it("expires every tier prefix of every source, keeps noncurrent versions through the daily window, aborts stale uploads", () => {
    const rules = one(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs.rules as any[];
    for (const s of sources) {
      for (const t of TIERS) {
        const rule = rules.find((r) => r.filter.prefix === `backups/${s}/${t}/`);
        expect(rule?.expiration?.days).toBeGreaterThan(0);
        expect(rule.noncurrentVersionExpiration.noncurrentDays).toBe(30);
      }
    }
    const days = (t: string) => rules.find((r) => r.filter.prefix === `backups/app-db/${t}/`).expiration.days;
    expect([days("daily"), days("weekly"), days("monthly"), days("yearly")]).toEqual([30, 84, 372, 2562]);
    expect(rules.find((r) => r.abortIncompleteMultipartUpload)?.abortIncompleteMultipartUpload.daysAfterInitiation).toBe(1);
  });

  it("outputs the regional endpoint", async () => {
    expect(await valueOf(bucket.endpoint)).toBe("https://s3.eu-west-1.amazonaws.com");
    expect(await valueOf(bucket.region)).toBe("eu-west-1");
  });
});

describe("BackupBucket on R2", () => {
  let bucket: BackupBucket;
  let resources: Awaited<ReturnType<typeof declare>>;
  beforeAll(async () => {
    resources = await declare(() => {
      bucket = new BackupBucket("prod-backups", {
        provider: "r2",
        accountId: "0123456789abcdef0123456789abcdef",
        location: "weur",
        jurisdiction: "eu",
        sources,
        compliance: [{ prefix: "audit-logs", days: 365 }],
        infrequentAccessAfterDays: 60,
      });
    });
  });

  it("creates the bucket with the location hint and jurisdiction, and no public domain of any kind", () => {
    expect(one(resources, "cloudflare:index/r2Bucket:R2Bucket").inputs).toMatchObject({ name: "prod-backups", location: "weur", jurisdiction: "eu" });
    expect(ofType(resources, "cloudflare:index/r2ManagedDomain:R2ManagedDomain")).toHaveLength(0);
    expect(ofType(resources, "cloudflare:index/r2CustomDomain:R2CustomDomain")).toHaveLength(0);
  });

  it("locks every tier prefix for no longer than it lives", () => {
    const lifecycle = one(resources, "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle").inputs.rules as any[];
    const locks = one(resources, "cloudflare:index/r2BucketLock:R2BucketLock").inputs.rules as any[];
    for (const s of sources) {
      for (const t of TIERS) {
        const prefix = `backups/${s}/${t}/`;
        const expiry = lifecycle.find((r) => r.conditions.prefix === prefix).deleteObjectsTransition.condition.maxAge;
        const lock = locks.find((r) => r.prefix === prefix).condition.maxAgeSeconds;
        expect(expiry).toBeGreaterThan(0);
        expect(lock).toBeGreaterThan(0);
        expect(lock).toBeLessThanOrEqual(expiry);
      }
    }
    const audit = locks.find((r) => r.prefix === "backups/audit-logs/");
    expect(audit.condition.maxAgeSeconds).toBe(365 * DAY);
  });

  it("aborts incomplete multipart uploads after a day and moves only monthly and yearly to InfrequentAccess", () => {
    const rules = one(resources, "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle").inputs.rules as any[];
    expect(rules.find((r) => r.abortMultipartUploadsTransition)?.abortMultipartUploadsTransition.condition.maxAge).toBe(DAY);
    const ia = rules.filter((r) => r.storageClassTransitions).map((r) => r.conditions.prefix);
    expect(ia.sort()).toEqual(["backups/app-db/monthly/", "backups/app-db/yearly/", "backups/n8n-data/monthly/", "backups/n8n-data/yearly/"]);
  });

  it("gives the jurisdiction's S3 endpoint and region auto", async () => {
    expect(await valueOf(bucket.endpoint)).toBe("https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com");
    expect(await valueOf(bucket.region)).toBe("auto");
  });

  it("refuses an R2 bucket without an account id", () => {
    expect(() => new BackupBucket("x", { provider: "r2", sources })).toThrow(/accountId is required/);
  });
});

describe("deletion protection", () => {
  /** The protect/retainOnDelete options each child was declared with. */
  async function childOptions(protect: boolean | undefined): Promise<Record<string, { protect?: boolean; retainOnDelete?: boolean }>> {
    const seen: Record<string, { protect?: boolean; retainOnDelete?: boolean }> = {};
    await declare(() => {
      new BackupBucket(`b-${protect}`, { provider: "s3", region: "eu-west-1", sources, ...(protect === undefined ? {} : { protect }) }, {
        transformations: [
          (t) => {
            seen[t.type] = { ...(t.opts.protect !== undefined ? { protect: t.opts.protect } : {}), ...(t.opts.retainOnDelete !== undefined ? { retainOnDelete: t.opts.retainOnDelete } : {}) };
            return undefined;
          },
        ],
      });
    });
    return seen;
  }

  it("protects and retains the bucket and its key by default", async () => {
    const seen = await childOptions(undefined);
    expect(seen["aws:s3/bucket:Bucket"]).toEqual({ protect: true, retainOnDelete: true });
    expect(seen["aws:kms/key:Key"]).toEqual({ protect: true, retainOnDelete: true });
  });

  it("lets a stack opt out (protect: false)", async () => {
    const seen = await childOptions(false);
    expect(seen["aws:s3/bucket:Bucket"]).toEqual({ protect: false, retainOnDelete: false });
  });
});
