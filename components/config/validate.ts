import { z } from "zod";
import { CompliancePrefix, humanDuration, parseDuration, Retention, tierExpiryDays, walRetentionDays, worstCaseIntervalSeconds } from "lifeboat-core";
import { bucketSourceIssues, environmentFor, prefixIssues, replicaIssues, runtimeIssues } from "./checks";
import { ConfigError, ConfigIssue, configKey } from "./errors";
import { looksLikeAgeIdentity } from "./fields";
import { chooseProfile, PROFILE_DEFAULTS } from "./profiles";
import { Location, ParsedStackConfig, Profile, Runtime, Source, stackConfig } from "./schema";
import { plaintextSecretIssues, SECRET_FIELDS, SecretOracle } from "./secrecy";

/** A source with every default filled in and its objectives in seconds. */
export type ResolvedSource = Source & {
  schedule: string;
  rpo: string;
  rto: string;
  rpoSeconds: number;
  rtoSeconds: number;
  /** The longest gap between two scheduled runs. */
  scheduleIntervalSeconds: number;
  /** The most data a restore can lose: the schedule's gap, or with PITR the WAL flush interval. */
  worstCaseRpoSeconds: number;
  /** PITR sources: the window (as written or the profile's) and the days WAL is kept and locked for it. */
  wal?: { window: string; windowDays: number; retentionDays: number };
  /** bucket sources: the restore window in days (`window`, else the profile's). */
  windowDays?: number;
  /** The health check's `--max-table-shrink`: a postgres source's own, else `alerts.maxTableShrink`, else the profile's. */
  maxTableShrink: number;
};

/** One environment's validated configuration, every default resolved. */
export interface LifeboatConfig {
  stack: string;
  profile: Profile;
  /** Why this profile applies: `set by lifeboat:profile` or `from the stack name "prod"`. */
  profileReason: string;
  environment: string;
  storage: Location;
  prefix: string;
  replicas: Location[];
  retention: Retention;
  compliance: CompliancePrefix[];
  sources: ResolvedSource[];
  runtime: Runtime;
  alerts: ParsedStackConfig["alerts"] & { maxTableShrink: number };
  ageRecipients: string[];
  ageIdentity?: string;
  verification: { schedule: string; statusSchedule: string; scratchUrl?: string };
  credentialRotationDays: number;
  protect: boolean;
  failover: boolean;
  objectLockMode: "GOVERNANCE" | "COMPLIANCE";
  policy: { enforcement: "mandatory" | "advisory" | "disabled"; minimums: Retention };
}

/**
 * A PITR source's window in whole days and how long its WAL is kept ({@link walRetentionDays}).
 * The base backups the window starts from must outlive that WAL: a base backup is kept at least
 * as long as a daily one (the shortest tier), so the daily tier must cover it.
 */
function pitrWindowFor(window: string, baseIntervalSeconds: number, retention: Retention, i: number, issues: ConfigIssue[]) {
  const key = configKey(["sources", i, "pitrWindow"]);
  const seconds = parseDuration(window);
  if (seconds % 86_400 !== 0) {
    issues.push({ key, message: `must be whole days such as 7d or 14d (lifecycle and lock rules count days), got ${window}` });
    return undefined;
  }
  const windowDays = seconds / 86_400;
  const walDays = walRetentionDays(windowDays, baseIntervalSeconds);
  const baseDays = tierExpiryDays(retention).daily;
  if (walDays > baseDays) {
    issues.push({
      key,
      message:
        `a ${humanDuration(seconds)} window keeps WAL ${walDays} days (the window, plus up to ${humanDuration(baseIntervalSeconds)} ` +
        `between base backups, plus a day for the base backup itself), but base backups are kept only ${baseDays} days ` +
        `(retention.daily): shorten the window, take base backups more often, or keep daily backups longer`,
    });
    return undefined;
  }
  return { window, windowDays, retentionDays: walDays };
}

/**
 * Validates the `lifeboat:` keys of one stack (keys without the namespace, values already
 * parsed from YAML/JSON) and resolves the profile's defaults. Throws a {@link ConfigError}
 * naming every bad key, so that nothing is declared from a config that is half right.
 * With `secrets` (which values Pulumi holds encrypted), a credential held in clear is one of
 * them ({@link plaintextSecretIssues}); the program and `lifeboat plan` always pass it.
 */
export function validateStackConfig(raw: Record<string, unknown>, stack: string, secrets?: { isSecret: SecretOracle }): LifeboatConfig {
  const inClear = secrets ? plaintextSecretIssues(raw, secrets.isSecret) : [];
  const parsed = stackConfig.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new ConfigError([...inClear, ...parsed.error.issues.flatMap(describeIssue)]);
  const c = parsed.data;
  const issues: ConfigIssue[] = [...inClear, ...prefixIssues(c), ...replicaIssues(c.storage, c.replicas), ...runtimeIssues(c), ...bucketSourceIssues(c)];
  const env = environmentFor(c.environment, stack);
  if ("issue" in env) issues.push(env.issue);
  const environment = "environment" in env ? env.environment : stack;
  if (c.failover && c.replicas.length === 0) {
    issues.push({ key: configKey(["failover"]), message: "needs at least one replica in lifeboat:replicas to fail over to" });
  }
  if (c.ageIdentity && !c.verification.scratchUrl && c.sources.some((s) => s.kind === "postgres")) {
    issues.push({
      key: configKey(["verification", "scratchUrl"]),
      message: "is required to verify postgres sources: a server where the drill may create and drop a scratch database",
    });
  }

  const choice = chooseProfile(c.profile, stack);
  if (!choice) {
    issues.push({
      key: configKey(["profile"]),
      message:
        `is required: the stack name ${JSON.stringify(stack)} does not say which profile applies ` +
        `(a word such as prod, staging or dev does); set it to production, staging or development`,
    });
    // Without a profile the defaults (schedules, objectives) are unknown: report what is known.
    throw new ConfigError([...issues, ...duplicateNames(c.sources)]);
  }
  const { profile } = choice;
  const d = PROFILE_DEFAULTS[profile];
  issues.push(...duplicateNames(c.sources));

  const maxTableShrink = c.alerts.maxTableShrink ?? d.maxTableShrink;
  const sources = c.sources.map((s, i): ResolvedSource => {
    const schedule = s.schedule ?? d.schedule;
    const rpo = s.rpo ?? c.objectives.rpo ?? d.rpo;
    const rto = s.rto ?? c.objectives.rto ?? d.rto;
    const interval = worstCaseIntervalSeconds(schedule);
    const rpoSeconds = parseDuration(rpo);
    const pitr = s.kind === "postgres" && s.pitr;
    // With PITR the base-backup schedule does not bound the loss: the WAL flush interval does.
    const worstCase = pitr ? parseDuration(s.walFlushInterval) : interval;
    if (worstCase > rpoSeconds) {
      issues.push(
        pitr
          ? {
            key: configKey(["sources", i, "walFlushInterval"]),
            message: `WAL flush interval ${s.walFlushInterval} is longer than the RPO ${rpo}: shorten it or raise the RPO`,
          }
          : {
            key: configKey(["sources", i, s.rpo ? "rpo" : s.schedule ? "schedule" : "rpo"]),
            message:
              `RPO ${rpo} is shorter than the schedule ${JSON.stringify(schedule)} allows ` +
              `(up to ${humanDuration(interval)} between backups): back up more often or raise the RPO`,
          },
      );
    }
    const window = pitr ? pitrWindowFor(s.pitrWindow ?? d.pitrWindow, interval, c.retention ?? d.retention, i, issues) : undefined;
    if (s.kind === "postgres" && !s.pitr && s.pitrWindow !== undefined) {
      issues.push({ key: configKey(["sources", i, "pitrWindow"]), message: "is set but pitr is false: the window is how long WAL is kept, and only a pitr source streams WAL" });
    }
    const resolved = {
      ...s, schedule, rpo, rto, rpoSeconds, rtoSeconds: parseDuration(rto), scheduleIntervalSeconds: interval, worstCaseRpoSeconds: worstCase,
      ...(window ? { wal: window } : {}),
      maxTableShrink: (s.kind === "postgres" ? s.maxTableShrink : undefined) ?? maxTableShrink,
    };
    if (s.kind !== "bucket") return resolved;
    const bucketWindow = s.window ?? d.bucketWindow;
    return { ...resolved, window: bucketWindow, windowDays: parseDuration(bucketWindow) / 86_400 } as ResolvedSource;
  });

  if (issues.length > 0) throw new ConfigError(issues);

  const objectLockMode = (c.storage.provider === "s3" && c.storage.objectLockMode) || d.objectLockMode;
  return {
    stack,
    profile,
    profileReason: choice.reason,
    environment,
    storage: c.storage,
    prefix: c.prefix,
    replicas: c.replicas,
    retention: c.retention ?? d.retention,
    compliance: c.compliance ?? d.compliance,
    sources,
    runtime: c.runtime,
    alerts: { ...c.alerts, maxTableShrink },
    ageRecipients: c.ageRecipients,
    ...(c.ageIdentity ? { ageIdentity: c.ageIdentity } : {}),
    verification: {
      schedule: c.verification.schedule ?? d.verificationSchedule,
      statusSchedule: c.verification.statusSchedule,
      ...(c.verification.scratchUrl ? { scratchUrl: c.verification.scratchUrl } : {}),
    },
    credentialRotationDays: c.credentialRotationDays,
    protect: c.protect,
    failover: c.failover,
    objectLockMode,
    policy: { enforcement: c.policy.enforcement ?? d.enforcement, minimums: c.policy.minimums ?? d.retention },
  };
}

function duplicateNames(sources: ReadonlyArray<{ name: string }>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const firstIndex = new Map<string, number>();
  sources.forEach((s, i) => {
    const seen = firstIndex.get(s.name);
    if (seen === undefined) firstIndex.set(s.name, i);
    else issues.push({ key: configKey(["sources", i, "name"]), message: `duplicate source name ${JSON.stringify(s.name)} (also sources[${seen}])` });
  });
  return issues;
}

/** Whether an issue's value may be quoted: not under a secret field, and not an age private key. */
function mayEcho(path: ReadonlyArray<PropertyKey>, input: unknown): boolean {
  if (path.some((p) => typeof p === "string" && SECRET_FIELDS.has(p))) return false;
  return !(typeof input === "string" && looksLikeAgeIdentity(input));
}

/** Turns a zod issue into `key: what is wrong, got <value>` (the value only where {@link mayEcho}). */
function describeIssue(issue: z.core.$ZodIssue): ConfigIssue[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => ({
      key: configKey([...issue.path, k]),
      message: "is not a Lifeboat setting (misspelt? see docs/configuration.md)",
    }));
  }
  return [describeOne(issue)];
}

function describeOne(issue: z.core.$ZodIssue): ConfigIssue {
  const input = (issue as { input?: unknown }).input;
  const secret = !mayEcho(issue.path, input);
  const got = !secret && input !== undefined && (typeof input !== "object" || input === null) ? `, got ${JSON.stringify(input)}` : "";
  if (secret) return { key: configKey(issue.path), message: redactedMessage(issue) };
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined) {
        return { key: configKey(issue.path), message: issue.message.startsWith("is required") ? issue.message : "is required" };
      }
      return { key: configKey(issue.path), message: withGot(plainType(issue.message, input), got) };
    case "invalid_value":
      return { key: configKey(issue.path), message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}${got}` };
    case "invalid_union": {
      const disc = (issue as { discriminator?: string; options?: unknown[] }).discriminator;
      if (disc) {
        const options = ((issue as { options?: unknown[] }).options ?? []).map((v) => JSON.stringify(v)).join(", ");
        const value = (input as Record<string, unknown> | undefined)?.[disc];
        const path = issue.path[issue.path.length - 1] === disc ? issue.path : [...issue.path, disc];
        return {
          key: configKey(path),
          message: value === undefined ? `is required: one of ${options}` : `must be one of ${options}, got ${JSON.stringify(value)}`,
        };
      }
      return { key: configKey(issue.path), message: withGot(issue.message, got) };
    }
    default:
      return { key: configKey(issue.path), message: withGot(issue.message, got) };
  }
}

/** YAML words for zod's type names: a stack file has mappings and lists, not objects and arrays. */
const YAML_TYPES: Record<string, string> = { object: "a mapping (key: value lines)", array: "a list (- item lines)", string: "text", number: "a number", boolean: "true or false" };

/** zod's own `Invalid input: expected object, received string` as `must be a mapping (…), not text`. */
function plainType(message: string, input: unknown): string {
  const m = /^Invalid input: expected (\w+)/.exec(message);
  if (!m) return message;
  const received = Array.isArray(input) ? "array" : input === null ? "null" : typeof input;
  return `must be ${YAML_TYPES[m[1]!] ?? m[1]}, not ${YAML_TYPES[received] ?? received}`;
}

/** The issue's message with any quoted value cut, for secret-bearing fields. */
function redactedMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type") {
    const input = (issue as { input?: unknown }).input;
    return input === undefined ? "is required" : plainType(issue.message, input);
  }
  return issue.message.replace(/,? got .*$/s, "") + " (value not shown: this key holds a secret)";
}

function withGot(message: string, got: string): string {
  return message.includes(", got ") ? message : message + got;
}
