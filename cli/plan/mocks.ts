import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";

/** The fake AWS account every mocked ARN belongs to. */
export const MOCK_ACCOUNT = "123456789012";

/** Stable hex from a resource's identity, so two plans of the same config are identical. */
function stableHex(...parts: string[]): string {
  return crypto.createHash("sha256").update(parts.join("\0")).digest("hex");
}

/** Hex digits the mocks append to an S3 bucket prefix, standing in for the suffix AWS generates. */
export const GENERATED_SUFFIX_MOCK = 12;

/** Finds the region an AWS resource would be created in: its own input, then its provider's. */
export type RegionOf = (args: pulumi.runtime.MockResourceArgs) => string;

/**
 * Remembers the region of every explicit `aws` provider as it is registered, so that a
 * resource's region is its own `region` input, else its provider's, else `defaultRegion`.
 */
export function awsRegions(defaultRegion: string): { observe(args: pulumi.runtime.MockResourceArgs): void; regionOf: RegionOf } {
  const byProvider = new Map<string, string>();
  return {
    observe(args) {
      if (args.type === "pulumi:providers:aws") byProvider.set(args.name, String(args.inputs.region ?? defaultRegion));
    },
    // A provider reference is `urn:pulumi:stack::project::pulumi:providers:aws::NAME::ID`.
    regionOf: (args) => String(args.inputs.region ?? byProvider.get(args.provider?.split("::")[3] ?? "") ?? defaultRegion),
  };
}

/**
 * Computed outputs as the real providers would return them (ids, ARNs, generated names,
 * endpoints), so documents derived from them (an IAM policy on a bucket ARN) resolve fully
 * in the plan instead of showing as unknowns.
 */
export function mockOutputs(args: pulumi.runtime.MockResourceArgs, regionOf: RegionOf): { id: string; state: Record<string, unknown> } {
  const i = args.inputs as Record<string, any>;
  const h = stableHex(args.type, args.name);
  const region = () => regionOf(args);
  switch (args.type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = i.bucket ?? `${i.bucketPrefix ?? args.name + "-"}${h.slice(0, GENERATED_SUFFIX_MOCK)}`;
      return {
        id: bucket,
        state: { ...i, bucket, arn: `arn:aws:s3:::${bucket}`, region: region(), bucketRegionalDomainName: `${bucket}.s3.${region()}.amazonaws.com` },
      };
    }
    case "aws:kms/key:Key": {
      const keyId = uuid(h);
      return { id: keyId, state: { ...i, keyId, arn: `arn:aws:kms:${region()}:${MOCK_ACCOUNT}:key/${keyId}` } };
    }
    case "aws:iam/role:Role":
      return { id: i.name ?? args.name, state: { ...i, name: i.name ?? args.name, arn: `arn:aws:iam::${MOCK_ACCOUNT}:role/${i.name ?? args.name}`, uniqueId: `AROA${h.slice(0, 17).toUpperCase()}` } };
    case "aws:iam/user:User":
      return { id: i.name ?? args.name, state: { ...i, name: i.name ?? args.name, arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/${i.path ?? "/"}${i.name ?? args.name}`.replace("//", "/") } };
    case "aws:iam/policy:Policy":
      return { id: `arn:aws:iam::${MOCK_ACCOUNT}:policy/${args.name}`, state: { ...i, arn: `arn:aws:iam::${MOCK_ACCOUNT}:policy/${args.name}` } };
    case "aws:iam/accessKey:AccessKey":
      return { id: `AKIA${h.slice(0, 16).toUpperCase()}`, state: { ...i, secret: pulumiSecret(`mock-secret-${h.slice(0, 40)}`) } };
    case "aws:secretsmanager/secret:Secret":
      return { id: `arn:aws:secretsmanager:${region()}:${MOCK_ACCOUNT}:secret:${args.name}-${h.slice(0, 6)}`, state: { ...i, arn: `arn:aws:secretsmanager:${region()}:${MOCK_ACCOUNT}:secret:${args.name}-${h.slice(0, 6)}` } };
    case "aws:cloudwatch/logGroup:LogGroup":
      return { id: i.name ?? args.name, state: { ...i, name: i.name ?? args.name, arn: `arn:aws:logs:${region()}:${MOCK_ACCOUNT}:log-group:${i.name ?? args.name}` } };
    case "aws:ecs/taskDefinition:TaskDefinition":
      return { id: `${i.family}:1`, state: { ...i, arn: `arn:aws:ecs:${region()}:${MOCK_ACCOUNT}:task-definition/${i.family}:1`, revision: 1 } };
    case "aws:scheduler/schedule:Schedule":
      return { id: args.name, state: { ...i, arn: `arn:aws:scheduler:${region()}:${MOCK_ACCOUNT}:schedule/default/${args.name}` } };
    case "cloudflare:index/r2Bucket:R2Bucket":
      return { id: i.name, state: { ...i, creationDate: "2026-01-01T00:00:00Z" } };
    case "cloudflare:index/queue:Queue":
      return { id: h.slice(0, 32), state: { ...i, queueId: h.slice(0, 32) } };
    case "cloudflare:index/accountToken:AccountToken":
      return { id: h.slice(0, 32), state: { ...i, value: pulumiSecret(`mock-token-${h}`), status: "active" } };
    case "docker:index/remoteImage:RemoteImage":
      return { id: `sha256:${h}`, state: { ...i, imageId: `sha256:${h}`, repoDigest: `${i.name}@sha256:${h}` } };
    case "docker:index/container:Container":
      return { id: h, state: { ...i } };
    default:
      return { id: `${args.name}-${h.slice(0, 8)}`, state: { ...i, arn: i.arn ?? `arn:aws:mock:${MOCK_ACCOUNT}:${args.name}` } };
  }
}

function uuid(h: string): string {
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A value the engine would mark secret, as the mock monitor passes secrets around (the SDK internal `redact` in runPlan.ts reads). */
function pulumiSecret(value: string): Record<string, unknown> {
  return { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value };
}

/**
 * Permission groups as `cloudflare.getAccountApiTokenPermissionGroupsList` returns them: the two
 * bucket-scoped R2 groups Lifeboat uses and the two Queues groups, beside similarly named account-wide groups that a
 * lookup by name must not pick. IDs are stable fake hex, not Cloudflare's real IDs.
 */
export const MOCK_PERMISSION_GROUPS: ReadonlyArray<{ id: string; name: string; scopes: string[]; category: string; isSelectable: boolean }> = [
  ["Workers R2 Storage Write", "com.cloudflare.api.account"],
  ["Workers R2 Storage Read", "com.cloudflare.api.account"],
  ["Workers R2 Storage Bucket Item Write", "com.cloudflare.edge.r2.bucket"],
  ["Workers R2 Storage Bucket Item Read", "com.cloudflare.edge.r2.bucket"],
  ["Account API Tokens Write", "com.cloudflare.api.account"],
  // What a bucket source's events consumer pulls and acknowledges with.
  ["Queues Read", "com.cloudflare.api.account"],
  ["Queues Write", "com.cloudflare.api.account"],
].map(([name, scope]) => ({ id: stableHex("permission-group", name!).slice(0, 32), name: name!, scopes: [scope!], category: "developer_platform", isSelectable: true }));

/**
 * Invoke (data source) results for the mocks' `call`: what the providers would return for the
 * functions Lifeboat calls; any other function echoes its arguments.
 */
export function mockCall(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
  const i = args.inputs as Record<string, any>;
  switch (args.token) {
    case "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList":
      return { ...i, results: MOCK_PERMISSION_GROUPS.filter((g) => !i.name || g.name === decodeURIComponent(String(i.name))) };
    default:
      return i;
  }
}
