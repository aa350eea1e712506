/**
 * `lifeboat-client-side-encryption`: every scheduled backup encrypts client-side to age
 * recipients before upload. On R2 this is the only encryption under the team's control (R2's
 * at-rest AES-256 uses Cloudflare's keys, and R2 tokens cannot be write-only); on S3 it means a
 * leaked bucket credential still reveals nothing.
 *
 * Reads the inputs of `lifeboat:index:ScheduledBackup` components: `ageRecipients` (alias
 * `recipients`), a non-empty list of `age1…` public keys. A secret or unknown list counts as
 * configured. A ScheduledBackup that registers no inputs at all is not judged.
 */
import { Finding, LifeboatPolicy, PolicyResourceInput, SECRET, T, UNKNOWN } from "./model";

const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

export function checkClientSideEncryption(resources: PolicyResourceInput[]): Finding[] {
  const findings: Finding[] = [];
  // A component that registers no inputs (`super(type, name, {}, opts)`) cannot be judged.
  for (const r of resources.filter((x) => x.type === T.scheduledBackup && Object.keys(x.inputs).length > 0)) {
    const value = r.inputs.ageRecipients ?? r.inputs.recipients;
    if (value === UNKNOWN || value === SECRET) continue;
    const list = Array.isArray(value) ? value : typeof value === "string" ? value.split(",").filter(Boolean) : [];
    if (list.length === 0) {
      findings.push({
        resource: r.name,
        message: `scheduled backup ${r.name} has no age recipients: every backup must be encrypted client-side before upload (set ageRecipients)`,
      });
      continue;
    }
    const bad = list.filter((k) => k !== UNKNOWN && k !== SECRET && !(typeof k === "string" && AGE_RECIPIENT.test(k.trim())));
    if (bad.length > 0) {
      findings.push({
        resource: r.name,
        message: `scheduled backup ${r.name} has recipients that are not age public keys (age1…): ${bad.map((k) => JSON.stringify(k)).join(", ")}`,
      });
    }
  }
  return findings;
}

export const clientSideEncryptionPolicy: LifeboatPolicy = {
  name: "lifeboat-client-side-encryption",
  description: "Every ScheduledBackup encrypts client-side to age public keys (ageRecipients).",
  scope: "resource",
  check: (resources) => checkClientSideEncryption(resources),
};
