/**
 * `lifeboat-backup-encryption`: every S3 backup bucket encrypts with SSE-KMS under a
 * customer-managed key. R2 always encrypts at rest with Cloudflare's own keys and offers no
 * KMS, so R2 buckets pass here; client-side encryption (`client-side-encryption.ts`) carries
 * the weight there.
 */
import { backupBuckets, configOf } from "./buckets";
import { asArray, Finding, knownString, LifeboatPolicy, obj, PolicyResourceInput, PolicySettings, quote, T } from "./model";

const KMS_ALGORITHMS = ["aws:kms", "aws:kms:dsse"];
/** AWS-managed keys: shared by everything in the account, with a key policy nobody controls. */
const AWS_MANAGED_KEY = /^(alias\/aws\/|arn:aws[a-z-]*:kms:[^:]+:\d+:alias\/aws\/)/;

interface Sse {
  algorithm?: string;
  key?: unknown;
}

function sseRules(r: PolicyResourceInput): Sse[] {
  return asArray(r.inputs.rules ?? obj(r.inputs.serverSideEncryptionConfiguration).rule).map((rule) => {
    const d = obj(obj(rule).applyServerSideEncryptionByDefault);
    return { ...(typeof d.sseAlgorithm === "string" ? { algorithm: d.sseAlgorithm } : {}), key: d.kmsMasterKeyId };
  });
}

export function checkEncryption(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const buckets = backupBuckets(resources, settings);
  const findings: Finding[] = [];
  for (const b of buckets.filter((x) => x.kind === "s3")) {
    const configs = configOf(b, resources, buckets, T.s3Encryption, T.s3EncryptionV2);
    // The legacy inline `serverSideEncryptionConfiguration` on the bucket counts too.
    const rules = [...configs, ...(b.resource.inputs.serverSideEncryptionConfiguration ? [b.resource] : [])].flatMap(sseRules);
    if (rules.length === 0) {
      findings.push({
        resource: b.name,
        message: `S3 backup bucket ${b.name} has no server-side encryption configuration: add a BucketServerSideEncryptionConfiguration with sseAlgorithm "aws:kms" and a customer-managed KMS key`,
      });
      continue;
    }
    const kms = rules.find((r) => r.algorithm !== undefined && KMS_ALGORITHMS.includes(r.algorithm));
    if (!kms) {
      findings.push({
        resource: b.name,
        message: `S3 backup bucket ${b.name} encrypts with ${rules.map((r) => quote(r.algorithm ?? null)).join(", ")}, not SSE-KMS: use sseAlgorithm "aws:kms" with a customer-managed KMS key`,
      });
      continue;
    }
    // An unknown key id (preview) comes from another resource's output: a customer key.
    const key = kms.key;
    const literal = knownString(key);
    if (key === undefined || key === null || key === "" || (literal !== undefined && AWS_MANAGED_KEY.test(literal))) {
      findings.push({
        resource: b.name,
        message: `S3 backup bucket ${b.name} uses SSE-KMS without a customer-managed key (kmsMasterKeyId ${key ? quote(key) : "unset"}): give it its own aws.kms.Key`,
      });
    }
  }
  return findings;
}

export const encryptionPolicy: LifeboatPolicy = {
  name: "lifeboat-backup-encryption",
  description: "S3 backup buckets encrypt with SSE-KMS under a customer-managed key (R2 always encrypts at rest; see lifeboat-client-side-encryption).",
  scope: "stack",
  check: checkEncryption,
};
