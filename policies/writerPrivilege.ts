/**
 * `lifeboat-writer-least-privilege`: the backup writer can only put objects.
 *
 * Which policies are a writer's (the convention): an `aws:iam` UserPolicy, RolePolicy,
 * GroupPolicy or Policy whose logical name or `name` matches the `writerPattern` setting
 * (default `writer`); or that is attached (its `user`/`role`/`group` input, or a
 * *PolicyAttachment) to a User, Role or Group whose name matches it or that is tagged
 * `lifeboat:role: writer` (what `BackupAccess` tags its identities with).
 *
 * What is judged in each Allow statement of the document: no `*` or `<service>:*` action, no
 * `NotAction`, no `"*"` resource or `NotResource`, no delete, no bucket-configuration action
 * and no read (Get/List) on S3, except a bucket source's job reading its own `snapshots/` manifests.
 * Action wildcards count if they match a forbidden action
 * (`s3:Put*` matches `s3:PutBucketPolicy`). Deny statements are always fine. An AWS-managed
 * policy attached to a writer is a violation too: none of them is put-only.
 */
import { asArray, Finding, knownString, LifeboatPolicy, obj, PolicyResourceInput, PolicySettings, T } from "./model";

const INLINE: string[] = [T.iamUserPolicy, T.iamRolePolicy, T.iamGroupPolicy];
const IDENTITIES: string[] = [T.iamUser, T.iamRole, T.iamGroup];
const ATTACHMENTS: string[] = [T.iamUserPolicyAttachment, T.iamRolePolicyAttachment, T.iamGroupPolicyAttachment];
const TARGET_KEYS = ["user", "role", "group"];

/** Representative actions per forbidden category; an allowed pattern matching any of them is flagged. */
const DELETE = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteObjects", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:DeleteObjectTagging"];
const CONFIGURE = [
  "s3:PutBucketPolicy", "s3:PutBucketAcl", "s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration",
  "s3:PutBucketPublicAccessBlock", "s3:PutLifecycleConfiguration", "s3:PutEncryptionConfiguration",
  "s3:PutReplicationConfiguration", "s3:PutBucketOwnershipControls", "s3:BypassGovernanceRetention",
  "s3:PutObjectLegalHold", "s3:PutObjectAcl", "s3:PutObjectVersionAcl", "s3:CreateBucket",
];
const READ = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:ListBucket", "s3:ListBucketVersions", "s3:ListAllMyBuckets", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads"];

function glob(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

function matching(actions: string[], category: string[]): string[] {
  return actions.filter((a) => category.some((c) => glob(a).test(c)));
}

/** The policy document, parsed; undefined when unknown (preview) or not JSON. */
function documentOf(r: PolicyResourceInput): { Statement?: unknown } | undefined {
  const p = r.inputs.policy;
  if (p && typeof p === "object") return p as { Statement?: unknown };
  const text = knownString(p);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as { Statement?: unknown };
  } catch {
    return undefined;
  }
}

export function writerPolicies(resources: PolicyResourceInput[], settings: PolicySettings): PolicyResourceInput[] {
  const pattern = new RegExp(settings.writerPattern, "i");
  const identities = resources.filter((r) => IDENTITIES.includes(r.type));
  const isWriterIdentity = (r: PolicyResourceInput) =>
    pattern.test(r.name) || pattern.test(knownString(r.inputs.name) ?? "") || obj(r.inputs.tags)["lifeboat:role"] === "writer";
  /** The identity an inline policy or attachment targets: by dependency (engine), then by name. */
  const target = (r: PolicyResourceInput): { value?: string; identity?: PolicyResourceInput } => {
    for (const key of TARGET_KEYS) {
      const dep = r.propertyDependencies?.[key]?.[0];
      const value = knownString(r.inputs[key]);
      const identity = identities.find((i) =>
        dep !== undefined ? i.name === dep : value !== undefined && (knownString(i.inputs.name) === value || i.name === value || value.startsWith(`${i.name}-`)));
      if (dep !== undefined || value !== undefined) return { ...(value ? { value } : {}), ...(identity ? { identity } : {}) };
    }
    return {};
  };
  const targetsWriter = (r: PolicyResourceInput) => {
    const t = target(r);
    return (t.value !== undefined && pattern.test(t.value)) || (t.identity !== undefined && isWriterIdentity(t.identity));
  };
  const writerAttachments = resources.filter((r) => ATTACHMENTS.includes(r.type) && targetsWriter(r));
  return resources.filter((r) => {
    if (INLINE.includes(r.type)) return pattern.test(r.name) || pattern.test(knownString(r.inputs.name) ?? "") || targetsWriter(r);
    if (r.type !== T.iamPolicy) return false;
    if (pattern.test(r.name) || pattern.test(knownString(r.inputs.name) ?? "")) return true;
    return writerAttachments.some((a) => {
      const dep = a.propertyDependencies?.policyArn;
      if (dep) return dep.includes(r.name);
      const arn = knownString(a.inputs.policyArn);
      const name = knownString(r.inputs.name) ?? r.name;
      return !!arn && (arn.endsWith(`:policy/${name}`) || arn.endsWith(`/${name}`));
    });
  });
}

/**
 * An Allow statement that reads only a bucket source's snapshot manifests: `s3:GetObject` on
 * `…/snapshots/*` objects, or `s3:ListBucket` conditioned on `s3:prefix` values under `…/snapshots/`.
 */
function snapshotsOnly(st: Record<string, unknown>): boolean {
  const actions = asArray(st.Action).map(String);
  const resources = asArray(st.Resource).map(String);
  if (actions.length === 1 && actions[0] === "s3:GetObject") return resources.length > 0 && resources.every((r) => /\/snapshots\/\*$/.test(r));
  if (actions.length === 1 && actions[0] === "s3:ListBucket") {
    const prefixes = asArray(obj(obj(st.Condition).StringLike)["s3:prefix"]).map(String);
    return prefixes.length > 0 && prefixes.every((p) => /(^|\/)snapshots\/\*?$/.test(p));
  }
  return false;
}

export function checkWriterPrivilege(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const findings: Finding[] = [];
  for (const r of writerPolicies(resources, settings)) {
    const doc = documentOf(r);
    if (!doc) continue;
    const say = (message: string) => findings.push({ resource: r.name, message: `writer policy ${r.name} ${message}` });
    const allows = asArray(doc.Statement).map(obj).filter((s) => s.Effect === "Allow");
    const actions = allows.flatMap((s) => asArray(s.Action).map(String));
    const wildcards = actions.filter((a) => a === "*" || /^[a-z0-9-]+:\*$/i.test(a));
    if (wildcards.length) say(`allows every action (${wildcards.map((a) => JSON.stringify(a)).join(", ")}): list the actions it needs`);
    if (allows.some((s) => s.NotAction !== undefined)) say("uses NotAction in an Allow statement: list the actions it needs");
    if (allows.some((s) => asArray(s.Resource).includes("*") || s.NotResource !== undefined)) {
      say(`allows Resource "*": scope it to the bucket prefix and the bucket's key`);
    }
    const deletes = matching(actions, DELETE);
    if (deletes.length) say(`allows delete (${deletes.join(", ")}): writers never delete, lifecycle rules expire backups`);
    const configures = matching(actions, CONFIGURE);
    if (configures.length) say(`allows bucket configuration (${configures.join(", ")}): only the infrastructure program changes bucket settings`);
    // A bucket source's job reads its own previous snapshot manifest (incremental): reads scoped to a snapshots/ prefix are its, and only those.
    const reads = matching(allows.filter((st) => !snapshotsOnly(st)).flatMap((st) => asArray(st.Action).map(String)), READ);
    if (reads.length) say(`allows reads (${reads.join(", ")}): an S3 writer must not read or list backups`);
  }
  const pattern = new RegExp(settings.writerPattern, "i");
  for (const a of resources.filter((r) => ATTACHMENTS.includes(r.type))) {
    const arn = knownString(a.inputs.policyArn);
    const who = [a.inputs.user, a.inputs.role, a.inputs.group].map(knownString).find(Boolean);
    if (arn && /^arn:aws[a-z-]*:iam::aws:policy\//.test(arn) && who && pattern.test(who)) {
      findings.push({ resource: a.name, message: `writer ${who} has the AWS-managed policy ${arn} attached (${a.name}): writers get only a put-only policy` });
    }
  }
  return findings;
}

export const writerPrivilegePolicy: LifeboatPolicy = {
  name: "lifeboat-writer-least-privilege",
  description: "Writer IAM policies allow no wildcard action or resource, no delete, no bucket configuration and no S3 read.",
  scope: "stack",
  check: checkWriterPrivilege,
};
