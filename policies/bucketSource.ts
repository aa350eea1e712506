/**
 * `lifeboat-bucket-source`: what keeps a `bucket` source restorable and its app bucket safe.
 *
 * - Retention: in a backup bucket, wherever a lifecycle expires `<…>/<source>/snapshots/`, the
 *   sibling `objects/` must expire no sooner than twice that (a kept snapshot references copies
 *   up to one window old), and on R2 a lock rule must cover `snapshots/` and `objects/` for at
 *   least the window (no leaked token deletes what a kept snapshot needs).
 * - The app-bucket reader (an IAM identity tagged `lifeboat:role: appReader`): its Allow
 *   statements grant only `s3:GetObject` and `s3:ListBucket` (no write, delete or bucket
 *   configuration; no `*` action or resource). On R2, an app-reader token (named `… appReader …`)
 *   names exactly one bucket.
 */
import { backupBuckets, configOf, lifecycleRules, lockRules } from "./buckets";
import { asArray, Finding, knownString, LifeboatPolicy, obj, PolicyResourceInput, PolicySettings, T } from "./model";

const SNAPSHOTS = /^(.*\/)snapshots\/$/;
const READ_ONLY = new Set(["s3:GetObject", "s3:ListBucket"]);

function checkRetention(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const buckets = backupBuckets(resources, settings);
  const findings: Finding[] = [];
  for (const b of buckets) {
    const rules = configOf(b, resources, buckets, ...(b.kind === "s3" ? [T.s3Lifecycle, T.s3LifecycleV2] : [T.r2Lifecycle])).flatMap(lifecycleRules);
    const locks = b.kind === "r2" ? configOf(b, resources, buckets, T.r2Lock).flatMap(lockRules) : undefined;
    for (const snap of rules) {
      const m = SNAPSHOTS.exec(snap.prefix);
      if (!m || snap.expireDays === undefined) continue;
      const window = snap.expireDays;
      const objects = `${m[1]}objects/`;
      const copies = rules.find((r) => r.prefix === objects && r.expireDays !== undefined);
      if (!copies || copies.expireDays! < 2 * window) {
        findings.push({
          resource: b.name,
          message: `bucket source ${m[1]}: stored copies (${objects}) expire after ${copies?.expireDays ?? "never set"} days, less than twice the ${window}-day snapshot window: a kept snapshot would reference expired copies (expire ${objects} after ${2 * window} days)`,
        });
      }
      for (const prefix of locks ? [snap.prefix, objects] : []) {
        const lock = locks!.find((l) => l.prefix === prefix);
        if (!lock || (lock.expireDays ?? 0) < window) {
          findings.push({ resource: b.name, message: `bucket source ${m[1]}: R2 lock on ${prefix} is ${lock?.expireDays ?? "missing"} days, under the ${window}-day window: add a bucket-lock rule for at least ${window} days` });
        }
      }
    }
  }
  return findings;
}

function checkAppReaders(resources: PolicyResourceInput[]): Finding[] {
  const findings: Finding[] = [];
  const readers = resources.filter((r) => (r.type === T.iamUser || r.type === T.iamRole) && obj(r.inputs.tags)["lifeboat:role"] === "appReader");
  const names = new Set(readers.flatMap((r) => [r.name, knownString(r.inputs.name)].filter((n): n is string => !!n)));
  for (const p of resources.filter((r) => r.type === T.iamUserPolicy || r.type === T.iamRolePolicy)) {
    const who = knownString(p.inputs.user) ?? knownString(p.inputs.role);
    const dep = p.propertyDependencies?.user?.[0] ?? p.propertyDependencies?.role?.[0];
    if (!(who && names.has(who)) && !(dep && names.has(dep))) continue;
    const text = knownString(p.inputs.policy);
    if (!text) continue;
    const allows = asArray(obj(JSON.parse(text)).Statement).map(obj).filter((s) => s.Effect === "Allow");
    const bad = allows.flatMap((s) => asArray(s.Action).map(String)).filter((a) => a.startsWith("s3:") && !READ_ONLY.has(a));
    if (bad.length) findings.push({ resource: p.name, message: `app-bucket reader policy ${p.name} allows ${bad.join(", ")}: it may only get and list the app's bucket` });
    if (allows.some((s) => s.NotAction !== undefined || asArray(s.Resource).includes("*") || s.NotResource !== undefined || asArray(s.Action).includes("*"))) {
      findings.push({ resource: p.name, message: `app-bucket reader policy ${p.name} allows a wildcard action or resource: scope it to the app's bucket and prefix` });
    }
  }
  for (const t of resources.filter((r) => r.type === "cloudflare:index/accountToken:AccountToken" && / appReader /.test(knownString(r.inputs.name) ?? ""))) {
    for (const policy of asArray(t.inputs.policies).map(obj)) {
      const text = knownString(policy.resources);
      const keys = text ? Object.keys(obj(JSON.parse(text))) : [];
      if (text && (keys.length !== 1 || !keys[0]!.startsWith("com.cloudflare.edge.r2.bucket."))) {
        findings.push({ resource: t.name, message: `app-bucket reader token ${t.name} is scoped to ${keys.join(", ") || "nothing"}: scope it to the app's one R2 bucket` });
      }
    }
  }
  return findings;
}

export function checkBucketSources(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  return [...checkRetention(resources, settings), ...checkAppReaders(resources)];
}

export const bucketSourcePolicy: LifeboatPolicy = {
  name: "lifeboat-bucket-source",
  description: "Bucket sources keep stored copies at least twice the snapshot window (R2: locked for the window), and their app-bucket reader only gets and lists one bucket.",
  scope: "stack",
  check: checkBucketSources,
};
