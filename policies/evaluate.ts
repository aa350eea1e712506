/**
 * All Lifeboat policies, and one call that runs them over a resource list. `lifeboat plan`
 * uses this directly; the CrossGuard pack (`index.ts`) wraps the same policies.
 */
import { clientSideEncryptionPolicy } from "./clientSideEncryption";
import { encryptionPolicy } from "./encryption";
import { immutabilityPolicy } from "./immutability";
import { lifecyclePolicy } from "./lifecycle";
import { DEFAULT_SETTINGS, EnforcementLevel, LifeboatPolicy, PolicyResourceInput, PolicySettings } from "./model";
import { pitrPolicy } from "./pitr";
import { walProtectionPolicy } from "./walProtection";
import { publicAccessPolicy } from "./publicAccess";
import { replicaPolicy } from "./replica";
import { retentionPolicy } from "./retention";
import { schedulePolicy } from "./schedule";
import { writerPrivilegePolicy } from "./writerPrivilege";
import { bucketSourcePolicy } from "./bucketSource";

export * from "./model";

/** Every policy, in the order reports list them. */
export const POLICIES: readonly LifeboatPolicy[] = [
  encryptionPolicy,
  clientSideEncryptionPolicy,
  immutabilityPolicy,
  lifecyclePolicy,
  publicAccessPolicy,
  writerPrivilegePolicy,
  replicaPolicy,
  retentionPolicy,
  schedulePolicy,
  pitrPolicy,
  walProtectionPolicy,
  bucketSourcePolicy,
];

/** A finding with its policy and level, as `lifeboat plan` reports it. */
export interface Violation {
  policy: string;
  level: "mandatory" | "advisory";
  message: string;
  resource?: string;
}

export function levelOf(policy: string, settings: PolicySettings): EnforcementLevel {
  return settings.levels?.[policy] ?? settings.enforcement;
}

/** Runs every policy not disabled; `settings` fills in from {@link DEFAULT_SETTINGS}. */
export function evaluatePolicies(resources: PolicyResourceInput[], settings: Partial<PolicySettings> = {}): Violation[] {
  const s: PolicySettings = { ...DEFAULT_SETTINGS, ...settings };
  const out: Violation[] = [];
  for (const p of POLICIES) {
    const level = levelOf(p.name, s);
    if (level === "disabled") continue;
    for (const f of p.check(resources, s)) {
      out.push({ policy: p.name, level, message: f.message, ...(f.resource ? { resource: f.resource } : {}) });
    }
  }
  return out;
}
