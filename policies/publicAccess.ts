/**
 * `lifeboat-no-public-access`: a backup bucket is never reachable without credentials.
 * - S3: a BucketPublicAccessBlock with all four settings true, and no public canned ACL.
 * - R2: no enabled `R2ManagedDomain` (the public r2.dev URL) and no `R2CustomDomain` on it.
 */
import { backupBuckets, configOf } from "./buckets";
import { Finding, LifeboatPolicy, PolicyResourceInput, PolicySettings, T, UNKNOWN } from "./model";

const BLOCKS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;
const PUBLIC_ACLS = ["public-read", "public-read-write", "authenticated-read"];

export function checkPublicAccess(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const buckets = backupBuckets(resources, settings);
  const findings: Finding[] = [];
  for (const b of buckets) {
    if (b.kind === "s3") {
      const acl = b.resource.inputs.acl;
      if (typeof acl === "string" && PUBLIC_ACLS.includes(acl)) {
        findings.push({ resource: b.name, message: `S3 backup bucket ${b.name} has the public ACL ${JSON.stringify(acl)}` });
      }
      const blocks = configOf(b, resources, buckets, T.s3PublicAccessBlock);
      if (blocks.length === 0) {
        findings.push({ resource: b.name, message: `S3 backup bucket ${b.name} has no public access block: add a BucketPublicAccessBlock with all four settings true` });
        continue;
      }
      const on = (k: (typeof BLOCKS)[number]) => blocks.some((p) => p.inputs[k] === true || p.inputs[k] === UNKNOWN);
      const off = BLOCKS.filter((k) => !on(k));
      if (off.length > 0) {
        findings.push({ resource: b.name, message: `S3 backup bucket ${b.name} public access block leaves ${off.join(", ")} off: all four must be true` });
      }
      continue;
    }
    for (const d of configOf(b, resources, buckets, T.r2ManagedDomain)) {
      if (d.inputs.enabled !== false) {
        findings.push({ resource: d.name, message: `R2 backup bucket ${b.name} has its public r2.dev domain enabled (${d.name}): backups must never be served over public HTTP` });
      }
    }
    for (const d of configOf(b, resources, buckets, T.r2CustomDomain)) {
      if (d.inputs.enabled !== false) {
        const domain = typeof d.inputs.domain === "string" ? ` ${d.inputs.domain}` : "";
        findings.push({ resource: d.name, message: `R2 backup bucket ${b.name} is served on the custom domain${domain} (${d.name}): backups must never be served over public HTTP` });
      }
    }
  }
  return findings;
}

export const publicAccessPolicy: LifeboatPolicy = {
  name: "lifeboat-no-public-access",
  description: "Backup buckets are never public: S3 public access blocked (all four settings), no R2 r2.dev or custom domain.",
  scope: "stack",
  check: checkPublicAccess,
};
