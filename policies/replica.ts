/**
 * `lifeboat-replica-other-region`: every primary backup bucket has a replica in another
 * region or with another provider, so losing a region (or a provider account) loses no backup.
 *
 * Primary and replica, by either of:
 * - native S3 replication: a BucketReplicationConfig on the primary (`bucket`) whose rules'
 *   `destination.bucket` names the replica (ARN, or `propertyDependencies` in preview);
 * - Lifeboat's naming: `DisasterRecovery` names buckets `<name>-backups` (primary) and
 *   `<name>-replica-<n>` (replicas); a bucket named `…-replica[-n]` is a replica of the
 *   primary with the same `<name>` stem (or of the only primary, when there is one).
 * Every backup bucket that is nobody's replica is a primary.
 *
 * Where a bucket is: S3 region (bucket `region` input, explicit provider, the region of its
 * SSE-KMS key ARN, or the `defaultAwsRegion` setting); R2 jurisdiction and location hint. Two
 * R2 buckets in one jurisdiction are only in different regions if both have different location
 * hints. A replica whose region cannot be known from inputs is not judged.
 */
import { Bucket, backupBuckets, configures, describeLocation, locationOf } from "./buckets";
import { asArray, Finding, knownString, LifeboatPolicy, obj, PolicyResourceInput, PolicySettings, T } from "./model";

const REPLICA_NAME = /^(.*)-replica(-\d+)?$/;
const PRIMARY_NAME = /^(.*)-backups?$/;

function replicationPairs(resources: PolicyResourceInput[], buckets: Bucket[]): [Bucket, Bucket][] {
  const pairs: [Bucket, Bucket][] = [];
  for (const rc of resources.filter((r) => r.type === T.s3Replication)) {
    const source = buckets.find((b) => b.kind === "s3" && configures(rc, b));
    if (!source) continue;
    const deps = rc.propertyDependencies?.rules ?? [];
    for (const rule of asArray(rc.inputs.rules).map(obj)) {
      const dest = knownString(obj(rule.destination).bucket);
      const replica = buckets.find((b) => b !== source && b.kind === "s3" &&
        (dest ? configures({ ...rc, inputs: { bucket: dest }, propertyDependencies: {} }, b) : deps.includes(b.name)));
      if (replica) pairs.push([source, replica]);
    }
  }
  return pairs;
}

export function checkReplica(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const buckets = backupBuckets(resources, settings);
  const pairs = replicationPairs(resources, buckets);
  const replicas = new Set<Bucket>([...pairs.map(([, r]) => r), ...buckets.filter((b) => REPLICA_NAME.test(b.name))]);
  const primaries = buckets.filter((b) => !replicas.has(b));
  const stem = (b: Bucket) => PRIMARY_NAME.exec(b.name)?.[1] ?? b.name;
  for (const r of buckets.filter((b) => REPLICA_NAME.test(b.name))) {
    const s = REPLICA_NAME.exec(r.name)![1];
    const primary = primaries.find((p) => stem(p) === s) ?? (primaries.length === 1 ? primaries[0] : undefined);
    if (primary) pairs.push([primary, r]);
  }
  const findings: Finding[] = [];
  for (const p of primaries) {
    const mine = [...new Set(pairs.filter(([x]) => x === p).map(([, r]) => r))];
    if (mine.length === 0) {
      findings.push({
        resource: p.name,
        message: `backup bucket ${p.name} has no replica: add one in another region or provider (S3 replication, or a bucket named <name>-replica-1)`,
      });
      continue;
    }
    const here = locationOf(p, resources, buckets, settings);
    if (!here) continue;
    const judged = mine.map((r) => ({ r, there: locationOf(r, resources, buckets, settings) })).filter((x) => x.there !== undefined);
    if (judged.length === 0 || judged.some(({ there }) => differs(here, there!))) continue;
    for (const { r, there } of judged) {
      findings.push({
        resource: r.name,
        message: `replica ${r.name} is in the same region as backup bucket ${p.name} (${describeLocation(there!)}): put the replica in another region or provider`,
      });
    }
  }
  return findings;
}

/** Different provider, region, jurisdiction, or (R2) two different location hints. */
function differs(a: string, b: string): boolean {
  const [pa, ja, ha] = a.split(":");
  const [pb, jb, hb] = b.split(":");
  if (pa !== pb) return true;
  if (pa === "s3") return ja !== jb;
  if (ja !== jb) return true;
  return ha !== "any" && hb !== "any" && ha !== hb;
}

export const replicaPolicy: LifeboatPolicy = {
  name: "lifeboat-replica-other-region",
  description: "Every primary backup bucket has a replica in another region or provider.",
  scope: "stack",
  check: checkReplica,
};
