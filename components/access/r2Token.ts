/**
 * Cloudflare R2 access: account-owned API tokens scoped to exactly one bucket, and the S3
 * credentials derived from them.
 *
 * R2 tokens cannot express write-only: the narrowest permission that can put objects,
 * "Workers R2 Storage Bucket Item Write", can also read, list and delete objects in the
 * bucket. What protects R2 backups from a leaked writer token instead is (1) the bucket-lock
 * rules on every tier prefix (objects cannot be deleted or overwritten before their retention
 * ends), (2) client-side age encryption to a public key (the backup host holds no key that
 * can decrypt), and (3) the token being scoped to one bucket and rotated on a set period.
 *
 * Sources (Cloudflare docs, r2/api/tokens "Create API tokens via API"):
 * - a bucket resource is `com.cloudflare.edge.r2.bucket.<ACCOUNT_ID>_<JURISDICTION>_<BUCKET_NAME>`,
 *   with JURISDICTION `default` for buckets created without one; jurisdictions are `eu`,
 *   `fedramp` (r2/reference/data-location) and `us` (changelog 2026-08-17, "New `us`
 *   jurisdiction for R2");
 * - a jurisdiction's bucket is reached only through its own S3 endpoint,
 *   `https://<ACCOUNT_ID>.<JURISDICTION>.r2.cloudflarestorage.com` (r2/api/tokens, the same
 *   changelog for `us`); a bucket without one through `https://<ACCOUNT_ID>.r2.cloudflarestorage.com`;
 * - S3 Access Key ID = the token `id`; Secret Access Key = SHA-256 (hex) of the token `value`.
 */
import { createHash } from "node:crypto";

/**
 * R2 jurisdictions as they appear in resource keys and endpoints; `default` is none. The one list:
 * stack config (`components/config/schema.ts`) and the components take theirs from here.
 */
export const R2_JURISDICTIONS = ["default", "eu", "fedramp", "us"] as const;
export type R2Jurisdiction = (typeof R2_JURISDICTIONS)[number];

/**
 * Names (not IDs: IDs are looked up at deploy time) of the bucket-scoped R2 permission groups.
 * Both apply to the `com.cloudflare.edge.r2.bucket.*` resource; "Write" also reads, lists and deletes.
 */
export const R2_PERMISSION_GROUPS = {
  /** Can read and list objects in the scoped buckets. */
  objectRead: "Workers R2 Storage Bucket Item Read",
  /** Can read, write and list (and delete) objects in the scoped buckets. */
  objectWrite: "Workers R2 Storage Bucket Item Write",
} as const;

/** Which Lifeboat identity a token is for, on which side of a replicate job. */
export type R2Role = "writer" | "restorer" | "replicatorSource" | "replicatorReplica" | "appReader";

/**
 * The narrowest permission-group names each role needs on its one bucket. The restorer needs
 * Write to put verification records; the replicator gets separate tokens: Read on the source
 * bucket, Write on the replica bucket. A `bucket` source's app-bucket reader (`appReader`) gets Read
 * on the app's bucket only.
 */
export function r2PermissionGroupNames(role: R2Role): string[] {
  switch (role) {
    case "replicatorSource":
    case "appReader":
      return [R2_PERMISSION_GROUPS.objectRead];
    case "writer":
    case "restorer":
    case "replicatorReplica":
      return [R2_PERMISSION_GROUPS.objectWrite];
  }
}

/** Cloudflare R2 bucket names: 3–63 lowercase letters, digits and hyphens, not starting or ending with a hyphen. */
const R2_BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const ACCOUNT_ID = /^[0-9a-f]{32}$/;

/** Arguments naming one R2 bucket. */
interface R2BucketRef {
  /** 32-hex-digit Cloudflare account id. */
  accountId: string;
  /** Bucket jurisdiction; unset means `default`. */
  jurisdiction?: R2Jurisdiction | undefined;
  bucketName: string;
}

/** The token-policy resource key for exactly one R2 bucket, e.g. `com.cloudflare.edge.r2.bucket.<acct>_default_<bucket>`. */
export function r2BucketResource(ref: R2BucketRef): string {
  const jurisdiction = ref.jurisdiction ?? "default";
  if (!ACCOUNT_ID.test(ref.accountId)) throw new Error(`not a Cloudflare account id: ${JSON.stringify(ref.accountId)}`);
  if (!R2_JURISDICTIONS.includes(jurisdiction)) {
    throw new Error(`unknown R2 jurisdiction ${JSON.stringify(jurisdiction)}; expected one of ${R2_JURISDICTIONS.join(", ")}`);
  }
  if (!R2_BUCKET_NAME.test(ref.bucketName)) throw new Error(`not an R2 bucket name: ${JSON.stringify(ref.bucketName)}`);
  return `com.cloudflare.edge.r2.bucket.${ref.accountId}_${jurisdiction}_${ref.bucketName}`;
}

/** The `resources` JSON string of a `cloudflare.AccountToken` policy granting on that one bucket only. */
export function r2TokenResources(ref: R2BucketRef): string {
  return JSON.stringify({ [r2BucketResource(ref)]: "*" });
}

/** S3 API endpoint for an account and jurisdiction: `https://<acct>[.<jurisdiction>].r2.cloudflarestorage.com`. */
export function r2Endpoint(accountId: string, jurisdiction: R2Jurisdiction = "default"): string {
  if (!ACCOUNT_ID.test(accountId)) throw new Error(`not a Cloudflare account id: ${JSON.stringify(accountId)}`);
  return jurisdiction === "default"
    ? `https://${accountId}.r2.cloudflarestorage.com`
    : `https://${accountId}.${jurisdiction}.r2.cloudflarestorage.com`;
}

/**
 * Resolves permission-group names to IDs from the list Cloudflare returns
 * (`cloudflare.getAccountApiTokenPermissionGroupsList`), so no ID is hard-coded.
 * Throws naming the missing group when Cloudflare renamed or removed one.
 */
export function permissionGroupIds(groups: ReadonlyArray<{ id: string; name: string }>, names: readonly string[]): string[] {
  return names.map((name) => {
    const found = groups.find((g) => g.name === name);
    if (!found) throw new Error(`Cloudflare permission group ${JSON.stringify(name)} not found`);
    return found.id;
  });
}

/** S3-compatible credentials for R2. */
interface R2S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Derives R2 S3 credentials from an API token: key id = token id, secret = hex SHA-256 of the token value. */
export function r2S3Credentials(tokenId: string, tokenValue: string): R2S3Credentials {
  if (!tokenId || !tokenValue) throw new Error("r2S3Credentials: token id and value are required");
  return { accessKeyId: tokenId, secretAccessKey: createHash("sha256").update(tokenValue, "utf8").digest("hex") };
}

/**
 * Cloudflare Queues pull consumers need an account token with these groups (Cloudflare changelog
 * 2025-04-17, "Increased limits for Queues pull consumers": `queues_read` and `queues_write`).
 * Queue permissions are account-scoped: no group narrows them to one queue.
 */
export const QUEUE_PERMISSION_GROUPS = ["Queues Read", "Queues Write"] as const;

/** The token-policy resource key for a whole account, e.g. `com.cloudflare.api.account.<acct>`. */
export function accountTokenResources(accountId: string): string {
  if (!ACCOUNT_ID.test(accountId)) throw new Error(`not a Cloudflare account id: ${JSON.stringify(accountId)}`);
  return JSON.stringify({ [`com.cloudflare.api.account.${accountId}`]: "*" });
}
