/**
 * Physical names: what AWS, Cloudflare and Docker call the things Lifeboat creates. Pulumi
 * resource names (URNs) may be any length; the names the providers see may not, and two
 * resources of one kind in one scope (an AWS account, a region, a Docker host) must differ.
 *
 * Every physical name is derived here from the parts that identify the resource (component
 * name, role, rotation epoch, ...). A name that fits its kind's limit and characters is the
 * parts joined with `-`, readable as before; a name that is too long, or had characters the
 * kind does not allow, is cut and ends in `-` plus 8 hex digits of the SHA-256 of the original
 * parts, so distinct inputs stay distinct and the same inputs always give the same name (no
 * diff on the next `pulumi up`).
 *
 * Limits, from the providers' API references:
 * - S3 bucket: 3-63 lowercase letters, digits, dots, hyphens; starts and ends with a letter or
 *   digit. A `bucketPrefix` gets 26 generated characters, so the prefix is at most 37.
 * - R2 bucket: 3-63 lowercase letters, digits, hyphens; starts and ends with a letter or digit.
 * - IAM user and role names: 64, `[\w+=,.@-]`, unique per account regardless of case.
 * - IAM policy names (managed and inline): 128, same characters.
 * - KMS alias: 256 including `alias/`, `[a-zA-Z0-9/_-]`.
 * - ECS task definition family: 255, `[a-zA-Z0-9_-]`.
 * - CloudWatch log group: 512, `[.\-_/#A-Za-z0-9]`.
 * - EventBridge Scheduler schedule name: 64, `[0-9a-zA-Z-_.]`.
 * - Secrets Manager name: 512, `[a-zA-Z0-9/_+=.@-]`; a `namePrefix` gets 26 generated characters.
 * - Cloudflare API token name: 120 (any characters).
 * - Docker container and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, kept to 63 so that a
 *   container name is also a valid hostname label.
 */
import { createHash } from "node:crypto";

export type NameKind =
  | "s3Bucket" | "s3BucketPrefix" | "r2Bucket"
  | "iamUser" | "iamRole" | "iamPolicy"
  | "kmsAlias" | "ecsFamily" | "logGroup" | "schedule" | "secretPrefix"
  | "r2Token" | "docker" | "queue";

interface NameRule {
  /** Longest name the provider accepts (for prefixes: leaving room for the generated suffix). */
  max: number;
  /** A whole valid name. */
  valid: RegExp;
  /** One character the kind does not allow (replaced by `-`). */
  invalidChar: RegExp;
  /** Bucket names are lowercase only. */
  lowercase?: boolean;
  /** The first character must be a letter or digit. */
  alnumStart?: boolean;
}

/** Characters a generated prefix suffix adds: Pulumi/Terraform's 26-character unique id. */
const GENERATED_SUFFIX = 26;

export const NAME_RULES: Record<NameKind, NameRule> = {
  s3Bucket: { max: 63, valid: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, invalidChar: /[^a-z0-9.-]/g, lowercase: true, alnumStart: true },
  // The prefix ends with "-" and the provider appends the rest; the whole stays within 63.
  s3BucketPrefix: { max: 63 - GENERATED_SUFFIX, valid: /^[a-z0-9][a-z0-9.-]*-$/, invalidChar: /[^a-z0-9.-]/g, lowercase: true, alnumStart: true },
  r2Bucket: { max: 63, valid: /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, invalidChar: /[^a-z0-9-]/g, lowercase: true, alnumStart: true },
  iamUser: { max: 64, valid: /^[\w+=,.@-]+$/, invalidChar: /[^\w+=,.@-]/g },
  iamRole: { max: 64, valid: /^[\w+=,.@-]+$/, invalidChar: /[^\w+=,.@-]/g },
  iamPolicy: { max: 128, valid: /^[\w+=,.@-]+$/, invalidChar: /[^\w+=,.@-]/g },
  kmsAlias: { max: 256, valid: /^alias\/[a-zA-Z0-9/_-]+$/, invalidChar: /[^a-zA-Z0-9/_-]/g },
  ecsFamily: { max: 255, valid: /^[a-zA-Z0-9_-]+$/, invalidChar: /[^a-zA-Z0-9_-]/g },
  logGroup: { max: 512, valid: /^[.\-_/#A-Za-z0-9]+$/, invalidChar: /[^.\-_/#A-Za-z0-9]/g },
  schedule: { max: 64, valid: /^[0-9a-zA-Z_.-]+$/, invalidChar: /[^0-9a-zA-Z_.-]/g },
  secretPrefix: { max: 512 - GENERATED_SUFFIX, valid: /^[a-zA-Z0-9/_+=.@-]+$/, invalidChar: /[^a-zA-Z0-9/_+=.@-]/g },
  r2Token: { max: 120, valid: /^[^\n]+$/, invalidChar: /\n/g },
  // Cloudflare Queue names: lowercase letters, digits and dashes, at most 63 characters.
  queue: { max: 63, valid: /^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$/, invalidChar: /[^a-z0-9-]/g, lowercase: true, alnumStart: true },
  docker: { max: 63, valid: /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, invalidChar: /[^a-zA-Z0-9_.-]/g, alnumStart: true },
};

const HASH_LENGTH = 8;

/** 8 hex digits of the SHA-256 of `text`: the suffix that keeps shortened names distinct. */
function nameHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, HASH_LENGTH);
}

/**
 * The physical name of kind `kind` for `parts` joined with `-` (for `kmsAlias`, the part after
 * `alias/`; for prefixes, without the trailing `-`). Deterministic; within the kind's limit and
 * characters; distinct for distinct parts (by the hash whenever the joined parts had to change).
 */
export function physicalName(kind: NameKind, ...parts: string[]): string {
  const rule = NAME_RULES[kind];
  const joined = parts.join("-");
  const head = kind === "kmsAlias" ? "alias/" : "";
  const tail = kind === "s3BucketPrefix" ? "-" : "";
  let clean = joined.replace(rule.invalidChar, "-");
  if (rule.lowercase) clean = clean.toLowerCase();
  // Where a name must start with a letter or digit, a dash left by a replaced character cannot lead.
  if (rule.alnumStart) clean = clean.replace(/^[^a-zA-Z0-9]+/, "");
  const whole = head + clean + tail;
  if (clean === joined && clean !== "" && whole.length <= rule.max && rule.valid.test(whole)) return whole;
  const room = rule.max - head.length - tail.length - HASH_LENGTH - 1;
  // Cut, then drop separators the cut left at the end, so the hash follows a letter or digit.
  const kept = clean.slice(0, Math.max(0, room)).replace(/[^a-zA-Z0-9]+$/, "");
  return `${head}${kept ? kept + "-" : ""}${nameHash(joined)}${tail}`;
}
