/**
 * The engine adapter: what `pulumi preview` hands the pack (props behind the SDK's
 * unknown-checking proxy, parents and property dependencies as resource objects) becomes the
 * plain resource list the pure policies judge. Preview-shaped sets: bucket names and key ARNs
 * unknown, so children are matched to buckets through `propertyDependencies`.
 */
import { unknownCheckingProxy } from "@pulumi/policy";
import { plain, SdkResource, settingsFromConfig, toPolicyResource } from "../../policies/engine";
import { evaluatePolicies } from "../../policies/evaluate";
import { UNKNOWN } from "../../policies/model";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const proxy = require("@pulumi/policy/proxy") as Record<string, unknown>;
const U = proxy.unknownStringValue as string;

function sdk(type: string, name: string, props: Record<string, unknown>, extra: Partial<SdkResource> = {}): SdkResource {
  return { type, name, props: unknownCheckingProxy(props), ...extra };
}

/** A new S3 backup bucket in preview: every generated name and ARN is unknown. */
function previewS3(name: string, region: string, versioned = true): SdkResource[] {
  const provider = { type: "pulumi:providers:aws", name: `${name}-aws`, props: unknownCheckingProxy({ region }) };
  const dep = { bucket: [{ name }] };
  const parent = { type: "lifeboat:index:BackupBucket", name };
  return [
    sdk("aws:s3/bucket:Bucket", name, { bucketPrefix: `${name}-`, objectLockEnabled: true }, { parent, provider }),
    sdk("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", `${name}-pab`, {
      bucket: U, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    }, { parent, propertyDependencies: dep }),
    ...(versioned ? [sdk("aws:s3/bucketVersioning:BucketVersioning", `${name}-versioning`, { bucket: U, versioningConfiguration: { status: "Enabled" } }, { parent, propertyDependencies: dep })] : []),
    sdk("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", `${name}-sse`, {
      bucket: U, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: U } }],
    }, { parent, propertyDependencies: dep }),
    sdk("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", `${name}-lifecycle`, {
      bucket: U,
      rules: [
        ...Object.entries({ daily: 30, weekly: 84, monthly: 372, yearly: 2562 }).map(([t, days]) => ({
          id: t, status: "Enabled", filter: { prefix: `backups/db/${t}/` }, expiration: { days },
        })),
        { id: "abort", status: "Enabled", filter: { prefix: "" }, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } },
      ],
    }, { parent, propertyDependencies: dep }),
  ];
}

describe("engine adapter", () => {
  it("reads through the proxy without throwing, marking unknowns", () => {
    const props = unknownCheckingProxy({ bucket: U, rules: [{ kms: U, ok: "x" }] });
    expect(() => (props as any).bucket).toThrow(/can't be known during preview/);
    expect(plain(props)).toEqual({ bucket: UNKNOWN, rules: [{ kms: UNKNOWN, ok: "x" }] });
  });

  it("takes parent, provider and property dependencies by name", () => {
    const r = toPolicyResource(previewS3("prod-backups", "eu-west-1")[1]!);
    expect(r).toMatchObject({ parent: "prod-backups", parentType: "lifeboat:index:BackupBucket", propertyDependencies: { bucket: ["prod-backups"] } });
    const b = toPolicyResource(previewS3("prod-backups", "eu-west-1")[0]!);
    expect(b.provider).toEqual({ type: "pulumi:providers:aws", name: "prod-backups-aws", inputs: { region: "eu-west-1" } });
  });

  it("a preview of a compliant primary and replica passes; regions come from the explicit providers", () => {
    const resources = [...previewS3("prod-backups", "eu-west-1"), ...previewS3("prod-replica-1", "eu-north-1")].map(toPolicyResource);
    expect(evaluatePolicies(resources)).toEqual([]);
  });

  it("a preview still catches what is known: no versioning, replica in the same region", () => {
    const resources = [...previewS3("prod-backups", "eu-west-1"), ...previewS3("prod-replica-1", "eu-west-1", false)].map(toPolicyResource);
    expect(evaluatePolicies(resources).map((v) => v.message)).toEqual([
      'S3 backup bucket prod-replica-1 is not versioned: add a BucketVersioning with status "Enabled"',
      "replica prod-replica-1 is in the same region as backup bucket prod-backups (S3 eu-west-1): put the replica in another region or provider",
    ]);
  });

  it("pack config becomes settings (minimums merge over the prod defaults)", () => {
    expect(settingsFromConfig({ minimums: { daily: 14 }, rpo: "1h" })).toMatchObject({
      enforcement: "mandatory", minimums: { daily: 14, weekly: 12, monthly: 12, yearly: 7 }, rpo: "1h", backupBucketPattern: "backup|replica",
    });
  });
});
