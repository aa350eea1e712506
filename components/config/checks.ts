import { isDeepStrictEqual } from "util";
import { NAME_PATTERN, TIERS } from "lifeboat-core";
import { ConfigIssue, configKey } from "./errors";
import { Location, ParsedStackConfig } from "./schema";

/**
 * Checks across keys that one field's schema cannot make: each returns the issues it finds,
 * naming the key to change. Pure, so validate.ts reports them all at once.
 */

/**
 * The longest environment name: it goes into bucket names (`lifeboat-<env>-replica-9`, at most
 * 63 characters for R2 and S3) and resource names.
 */
export const MAX_ENVIRONMENT_LENGTH = 40;

/**
 * The environment name: `lifeboat:environment`, else the stack name made into a valid one
 * (`Prod_EU` → `prod-eu`: lower case, `_` and `.` as `-`). A name that cannot be made valid is an
 * issue on lifeboat:environment instead of a crash when a bucket name is built from it.
 */
export function environmentFor(stated: string | undefined, stack: string): { environment: string } | { issue: ConfigIssue } {
  const key = configKey(["environment"]);
  if (stated !== undefined) {
    return stated.length > MAX_ENVIRONMENT_LENGTH
      ? { issue: { key, message: `must be at most ${MAX_ENVIRONMENT_LENGTH} characters (it is part of every bucket name), got ${stated.length}` } }
      : { environment: stated };
  }
  const derived = stack.toLowerCase().replace(/[_.]+/g, "-");
  if (NAME_PATTERN.test(derived) && derived.length <= MAX_ENVIRONMENT_LENGTH) return { environment: derived };
  return {
    issue: {
      key,
      message:
        `is required: the stack name ${JSON.stringify(stack)} does not make a valid environment name ` +
        `(lowercase letters, digits and dashes, at most ${MAX_ENVIRONMENT_LENGTH} characters; it goes into bucket names)`,
    },
  };
}

/**
 * Every prefix the bucket's rules act on must be disjoint: on S3 the shortest of overlapping
 * expirations wins, so a compliance prefix equal to a source name (`<prefix>/app-db/`, which
 * holds `<prefix>/app-db/yearly/`) would delete yearly backups after the compliance days. A
 * compliance prefix named like a tier would be read as a tier by the policy pack, and a repeated
 * one gives two rules for one prefix.
 */
export function prefixIssues(c: Pick<ParsedStackConfig, "sources" | "compliance">): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const sources = new Set(c.sources.map((s) => s.name));
  const seen = new Map<string, number>();
  (c.compliance ?? []).forEach((p, i) => {
    const key = configKey(["compliance", i, "prefix"]);
    const first = seen.get(p.prefix);
    if (first !== undefined) {
      issues.push({ key, message: `repeats compliance[${first}].prefix ${JSON.stringify(p.prefix)}: give each compliance prefix once` });
    } else if (sources.has(p.prefix)) {
      issues.push({
        key,
        message:
          `${JSON.stringify(p.prefix)} is also a source name, so it overlaps that source's tier prefixes and its ` +
          `${p.days}-day expiry would cut their retention (S3 applies the shortest overlapping expiration): rename one`,
      });
    } else if ((TIERS as readonly string[]).includes(p.prefix)) {
      issues.push({ key, message: `${JSON.stringify(p.prefix)} is a tier name (${TIERS.join(", ")}); tier prefixes are <prefix>/<source>/<tier>/, so name it differently` });
    }
    seen.set(p.prefix, seen.get(p.prefix) ?? i);
  });
  return issues;
}

/**
 * Replicas must add a copy somewhere new: two identical replicas are one bucket declared
 * twice, and a replica named like the primary bucket (same provider) is the primary itself.
 */
export function replicaIssues(storage: Location, replicas: Location[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  replicas.forEach((r, i) => {
    const twin = replicas.findIndex((o, j) => j < i && isDeepStrictEqual(o, r));
    if (twin >= 0) {
      issues.push({ key: configKey(["replicas", i]), message: `is identical to replicas[${twin}]: a second copy in the same place adds nothing; remove it or change its region` });
      return;
    }
    if (r.bucketName === undefined) return;
    if (r.provider === storage.provider && r.bucketName === storage.bucketName) {
      issues.push({ key: configKey(["replicas", i, "bucketName"]), message: `is the primary bucket's name (lifeboat:storage.bucketName): a replica must be another bucket` });
    }
    const named = replicas.findIndex((o, j) => j < i && o.provider === r.provider && o.bucketName === r.bucketName);
    if (named >= 0) issues.push({ key: configKey(["replicas", i, "bucketName"]), message: `is also replicas[${named}].bucketName: each replica needs its own bucket` });
  });
  return issues;
}

/**
 * Sources the ECS runtime cannot serve: a Fargate task cannot reach a volume, directory or
 * SQLite file on a Docker host, nor restore into a host path in failover, and the PITR WAL
 * sidecar runs continuously beside the database, which ECS scheduled tasks do not.
 */
export function runtimeIssues(c: Pick<ParsedStackConfig, "runtime" | "sources" | "failover">): ConfigIssue[] {
  if (c.runtime.kind !== "ecs") return [];
  const issues: ConfigIssue[] = [];
  c.sources.forEach((s, i) => {
    if (s.kind === "volume" || s.kind === "directory" || s.kind === "sqlite") {
      issues.push({
        key: configKey(["sources", i, "kind"]),
        message: `a ${s.kind} source lives on a Docker host, which an ECS task cannot reach (lifeboat:runtime.kind is ecs): use runtime docker, or back it up from another stack`,
      });
    } else if (s.kind === "postgres" && s.pitr) {
      issues.push({
        key: configKey(["sources", i, "pitr"]),
        message: "needs lifeboat:runtime.kind docker: the WAL-streaming sidecar runs continuously, and ECS jobs here are scheduled tasks",
      });
    } else if (c.failover && s.kind !== "postgres" && s.kind !== "bucket" && s.drTargetPath !== undefined) {
      issues.push({
        key: configKey(["sources", i, "drTargetPath"]),
        message: "cannot be restored into with lifeboat:runtime.kind ecs: a Fargate task cannot write to a host path (failover restores only postgres sources there)",
      });
    }
  });
  return issues;
}

/**
 * What a `bucket` source cannot do: event notifications exist on R2 only (S3 has no Cloudflare
 * Queue), the events consumer runs continuously beside the Docker scheduler (ECS jobs here are
 * scheduled tasks), and Cloudflare refuses two notification rules on one bucket whose prefixes
 * overlap, so two event-driven sources of one R2 bucket must watch disjoint prefixes.
 */
export function bucketSourceIssues(c: Pick<ParsedStackConfig, "runtime" | "sources">): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const watched: { i: number; bucket: string; prefix: string }[] = [];
  c.sources.forEach((s, i) => {
    if (s.kind !== "bucket" || !s.events) return;
    const key = configKey(["sources", i, "events"]);
    if (s.bucket.provider !== "r2") {
      issues.push({ key, message: "is for R2 buckets only (R2 event notifications to a Cloudflare Queue); an S3 bucket is caught by the scheduled snapshots: set events to false or shorten the schedule" });
      return;
    }
    if (c.runtime.kind !== "docker") {
      issues.push({ key, message: "needs lifeboat:runtime.kind docker: the events consumer runs continuously beside the scheduler, and ECS jobs here are scheduled tasks" });
      return;
    }
    const bucket = `${s.bucket.accountId}/${s.bucket.jurisdiction}/${s.bucket.bucketName}`;
    const prefix = s.bucket.prefix ? s.bucket.prefix + "/" : "";
    const other = watched.find((w) => w.bucket === bucket && (w.prefix.startsWith(prefix) || prefix.startsWith(w.prefix)));
    if (other) {
      issues.push({
        key: configKey(["sources", i, "bucket", "prefix"]),
        message: `overlaps sources[${other.i}]'s prefix on the same R2 bucket with events on: Cloudflare refuses overlapping notification rules on one bucket; give each a disjoint prefix`,
      });
    }
    watched.push({ i, bucket, prefix });
  });
  return issues;
}
