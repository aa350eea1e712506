/**
 * The Lifeboat CrossGuard policy pack: `pulumi preview --policy-pack policies`.
 *
 * Entry point only: constructing the PolicyPack starts the analyzer server, so nothing may
 * import this file. The policies themselves are pure functions (see `evaluate.ts`), which
 * `lifeboat plan` runs over its mocked resources.
 *
 * Enforcement is mandatory unless the stack's policy config says otherwise
 * (`--policy-pack-config policies/config/staging.json`, see README.md).
 */
import { PolicyPack, ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PackConfig, settingsFromConfig, toPolicyResource } from "./engine";
import { POLICIES } from "./evaluate";
import { LifeboatPolicy } from "./model";

const retentionCount = { type: "integer", minimum: 0 } as const;

/** The config keys each policy reads; `enforcementLevel` is always accepted by the SDK. */
function configSchema(p: LifeboatPolicy) {
  const properties: Record<string, object> = {};
  if (p.scope === "stack") properties.backupBucketPattern = { type: "string", default: "backup|replica" };
  if (p.name === "lifeboat-writer-least-privilege") properties.writerPattern = { type: "string", default: "writer" };
  if (p.name === "lifeboat-replica-other-region") properties.defaultAwsRegion = { type: "string" };
  if (p.name === "lifeboat-schedule-meets-rpo") properties.rpo = { type: "string", pattern: "^(\\d+[smhdw])+$" };
  if (p.name === "lifeboat-retention-minimums") {
    properties.minimums = {
      type: "object",
      properties: { daily: retentionCount, weekly: retentionCount, monthly: retentionCount, yearly: retentionCount },
      additionalProperties: false,
    };
  }
  return { properties };
}

function wrap(p: LifeboatPolicy): StackValidationPolicy | ResourceValidationPolicy {
  const base = { name: p.name, description: p.description, configSchema: configSchema(p) as any };
  if (p.scope === "resource") {
    return {
      ...base,
      validateResource: (args, report: ReportViolation) => {
        const settings = settingsFromConfig(args.getConfig<PackConfig>());
        for (const f of p.check([toPolicyResource(args as any)], settings)) report(f.message);
      },
    };
  }
  return {
    ...base,
    validateStack: (args, report: ReportViolation) => {
      const settings = settingsFromConfig(args.getConfig<PackConfig>());
      const resources = args.resources.map((r) => toPolicyResource(r as any));
      for (const f of p.check(resources, settings)) {
        const urn = f.resource ? args.resources.find((r) => r.name === f.resource)?.urn : undefined;
        report(f.message, urn);
      }
    },
  };
}

new PolicyPack("lifeboat", {
  enforcementLevel: "mandatory",
  description: "Lifeboat backup guardrails: encryption, immutability, lifecycle, no public access, writer least privilege, replicas, retention minimums, schedules meeting RPO.",
  policies: POLICIES.map(wrap),
});
