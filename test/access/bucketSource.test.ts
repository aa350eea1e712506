/**
 * The `bucket` source's two identities, evaluated request by request by an independent IAM
 * evaluator (see simulate.ts): the job's identity in the backup bucket (put-only like every
 * writer, plus reading its own previous snapshot manifests) and the read-only identity on the
 * app's own bucket.
 */
import { appBucketReaderPolicy, bucketJobPolicy } from "../../components/access/iamDocuments";
import { QUEUE_PERMISSION_GROUPS, accountTokenResources, r2PermissionGroupNames } from "../../components/access/r2Token";
import { ACCOUNT, decide } from "./simulate";

const BACKUPS = "arn:aws:s3:::acme-backups-prod";
const APP = "arn:aws:s3:::acme-media";
const KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
const CREATE = { "s3:ObjectCreationOperation": "true", "s3:if-none-match": "*" };
const SNAPSHOT = "prod/media/snapshots/20260114T020000.000Z-a1b2c3d4.snapshot.json";
const COPY = "prod/media/objects/20260114T020000.000Z-a1b2c3d4.age";
const JOURNAL = "prod/media/journal/20260114T020000.000Z-a1b2c3d4.json";

describe("bucketJobPolicy (prefix prod, source media)", () => {
  const policy = bucketJobPolicy({ bucketArn: BACKUPS, prefix: "prod", source: "media", kmsKeyArn: KEY });

  it.each([COPY, SNAPSHOT, JOURNAL])("creates %s (create-only, like every writer)", async (key) => {
    expect(await decide(policy, "s3:PutObject", `${BACKUPS}/${key}`, CREATE)).toBe("Allowed");
    expect(await decide(policy, "s3:PutObject", `${BACKUPS}/${key}`, { "s3:ObjectCreationOperation": "true" })).toBe("ExplicitlyDenied");
  });

  it("reads and lists its own snapshot manifests (the previous snapshot makes the next one incremental)", async () => {
    expect(await decide(policy, "s3:GetObject", `${BACKUPS}/${SNAPSHOT}`)).toBe("Allowed");
    expect(await decide(policy, "s3:ListBucket", BACKUPS, { "s3:prefix": "prod/media/snapshots/" })).toBe("Allowed");
  });

  it.each([
    ["its stored copies", COPY],
    ["its journal", JOURNAL],
    ["another source's backups", "prod/main-db/daily/20260114T020000.000Z-a1b2c3d4.dump.zst.age"],
    ["another source's snapshots", "prod/media-2/snapshots/x.snapshot.json"],
  ])("cannot read %s", async (_what, key) => {
    expect(await decide(policy, "s3:GetObject", `${BACKUPS}/${key}`)).toBe("ExplicitlyDenied");
  });

  it.each([["prod/media/objects/"], ["prod/media/"], ["prod/"], ["prod/media/snapshotsX/"]])("cannot list %s", async (prefix) => {
    expect(await decide(policy, "s3:ListBucket", BACKUPS, { "s3:prefix": prefix })).not.toBe("Allowed");
  });

  it("cannot list the bucket without a prefix, nor delete anything", async () => {
    expect(await decide(policy, "s3:ListBucket", BACKUPS)).not.toBe("Allowed");
    expect(await decide(policy, "s3:DeleteObject", `${BACKUPS}/${SNAPSHOT}`)).toBe("ExplicitlyDenied");
  });
});

describe("appBucketReaderPolicy", () => {
  describe("with prefix uploads/images", () => {
    const policy = appBucketReaderPolicy({ bucketArn: APP, prefix: "uploads/images" });

    it("gets objects under the prefix and lists only there", async () => {
      expect(await decide(policy, "s3:GetObject", `${APP}/uploads/images/a/cat.png`)).toBe("Allowed");
      expect(await decide(policy, "s3:ListBucket", APP, { "s3:prefix": "uploads/images/" })).toBe("Allowed");
      expect(await decide(policy, "s3:ListBucket", APP, { "s3:prefix": "uploads/images/a/" })).toBe("Allowed");
    });

    it.each([["uploads/"], ["uploads/imagesX/"], [""]])("cannot list prefix %j", async (prefix) => {
      expect(await decide(policy, "s3:ListBucket", APP, { "s3:prefix": prefix })).not.toBe("Allowed");
    });

    it("cannot get objects outside the prefix", async () => {
      expect(await decide(policy, "s3:GetObject", `${APP}/uploads/contracts/deal.pdf`)).not.toBe("Allowed");
    });
  });

  describe("whole bucket", () => {
    const policy = appBucketReaderPolicy({ bucketArn: APP, prefix: "" });

    it("gets and lists anything in the app bucket, nothing in another", async () => {
      expect(await decide(policy, "s3:GetObject", `${APP}/any/key.mp3`)).toBe("Allowed");
      expect(await decide(policy, "s3:ListBucket", APP)).toBe("Allowed");
      expect(await decide(policy, "s3:GetObject", `${BACKUPS}/prod/media/objects/x.age`)).not.toBe("Allowed");
    });

    it.each([
      ["s3:PutObject", `${APP}/a.png`],
      ["s3:DeleteObject", `${APP}/a.png`],
      ["s3:PutObjectAcl", `${APP}/a.png`],
      ["s3:PutBucketPolicy", APP],
      ["s3:PutLifecycleConfiguration", APP],
    ])("never writes the app's data: %s is denied explicitly", async (action, resource) => {
      expect(await decide(policy, action, resource)).toBe("ExplicitlyDenied");
    });
  });
});

describe("R2 tokens of a bucket source", () => {
  it("reads the app bucket with the bucket-scoped Read group only", () => {
    expect(r2PermissionGroupNames("appReader")).toEqual(["Workers R2 Storage Bucket Item Read"]);
  });

  it("pulls from the queue with the account's Queues groups, scoped to that one account", () => {
    expect(QUEUE_PERMISSION_GROUPS).toEqual(["Queues Read", "Queues Write"]);
    expect(JSON.parse(accountTokenResources("0123456789abcdef0123456789abcdef"))).toEqual({ "com.cloudflare.api.account.0123456789abcdef0123456789abcdef": "*" });
    expect(() => accountTokenResources("*")).toThrow(/not a Cloudflare account id: "\*"/);
  });
});
