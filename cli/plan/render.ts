import { InventedName, PlannedResource, PlanRun } from "./runPlan";

/** A policy finding, as the policy pack reports it. */
export interface PlanViolation {
  policy: string;
  level: "mandatory" | "advisory";
  message: string;
  resource?: string;
}

export interface PlanReport {
  stack: string;
  resources: { type: string; name: string; parent: string | null; inputs: Record<string, unknown> }[];
  outputs: Record<string, unknown>;
  violations: PlanViolation[];
}

/** The `--json` document: `{stack, resources:[{type,name,parent,inputs}], outputs, violations}`. */
export function planReport(run: PlanRun, violations: PlanViolation[]): PlanReport {
  return {
    stack: run.stack,
    resources: run.resources.map((r) => ({ type: r.type, name: r.name, parent: r.parent ?? null, inputs: r.inputs })),
    outputs: run.outputs,
    violations,
  };
}

/** Inputs worth a line in the tree: what a reviewer checks, not every default. */
const KEY_INPUTS: Record<string, string[]> = {
  "cloudflare:index/r2Bucket:R2Bucket": ["name", "location", "jurisdiction"],
  "aws:s3/bucket:Bucket": ["bucket", "bucketPrefix", "objectLockEnabled"],
  "aws:kms/key:Key": ["enableKeyRotation", "deletionWindowInDays"],
  "aws:s3/bucketVersioning:BucketVersioning": ["versioningConfiguration"],
  "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": ["rule"],
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"],
  "pulumi:providers:aws": ["region"],
};

/** The resource tree, indented by parent, then a one-line summary. */
export function renderTree(report: PlanReport, run: PlanRun): string {
  const lines: string[] = [`Stack ${report.stack}: ${report.resources.length} resources`];
  const children = new Map<string | undefined, PlannedResource[]>();
  for (const r of run.resources) {
    const list = children.get(r.parent) ?? [];
    list.push(r);
    children.set(r.parent, list);
  }
  const walk = (parent: string | undefined, depth: number) => {
    for (const r of children.get(parent) ?? []) {
      lines.push(`${"  ".repeat(depth + 1)}${r.type}  ${r.name}${describe(r)}`);
      if (r.type.startsWith("lifeboat:")) walk(r.name, depth + 1);
    }
  };
  walk(undefined, 0);
  const outs = Object.entries(report.outputs);
  if (outs.length) {
    lines.push("", "Outputs:");
    for (const [k, v] of outs) lines.push(`  ${k}: ${outputSummary(k, v)}`);
  }
  lines.push("", ...renderViolations(report.violations));
  return lines.join("\n");
}

/**
 * The policy section of the tree output: a count, then one line per violation (mandatory
 * first) naming its level, policy and resource.
 */
export function renderViolations(violations: PlanViolation[]): string[] {
  if (violations.length === 0) return ["Policies: no violations"];
  const mandatory = violations.filter((v) => v.level === "mandatory").length;
  const sorted = [...violations].sort((a, b) => (a.level === b.level ? 0 : a.level === "mandatory" ? -1 : 1));
  return [
    `Policy violations: ${mandatory} mandatory, ${violations.length - mandatory} advisory`,
    ...sorted.map((v) => `  [${v.level}] ${v.policy}${v.resource ? ` (${v.resource})` : ""}: ${v.message}`),
  ];
}

/** A stack output on one line; a document (the runbook) is named, not printed: `--json` or `--runbook` has it. */
function outputSummary(key: string, value: unknown): string {
  if (typeof value === "string" && value.includes("\n")) {
    return `(${value.split("\n").length} lines of text${key === "runbook" ? "; print it with --runbook" : ""})`;
  }
  return JSON.stringify(value);
}

/** Rules listed per resource in the tree; `--json` has them all. */
const SHOWN_RULES = 4;

function describe(r: PlannedResource): string {
  const keys = KEY_INPUTS[r.type];
  if (keys) {
    const parts = keys.filter((k) => r.inputs[k] !== undefined).map((k) => `${k}=${JSON.stringify(r.inputs[k])}`);
    return parts.length ? `  (${parts.join(", ")})` : "";
  }
  const rules = r.inputs.rules;
  if (Array.isArray(rules)) {
    const ages = rules.map(ruleSummary).filter(Boolean);
    const shown = ages.slice(0, SHOWN_RULES).join(", ") + (ages.length > SHOWN_RULES ? `, … ${ages.length - SHOWN_RULES} more` : "");
    return `  (${rules.length} rules${ages.length ? ": " + shown : ""})`;
  }
  return "";
}

/** `backups/app-db/daily/ 30d` for R2 and S3 lifecycle and lock rules. */
function ruleSummary(rule: any): string {
  const prefix = rule?.conditions?.prefix ?? rule?.prefix ?? rule?.filter?.prefix;
  const seconds = rule?.deleteObjectsTransition?.condition?.maxAge ?? rule?.condition?.maxAgeSeconds;
  const days = seconds !== undefined ? seconds / 86400 : rule?.expiration?.days;
  return prefix && days !== undefined ? `${prefix} ${days}d` : "";
}

/**
 * The runbook as an offline plan can honestly print it: each name the mocks made up (an S3
 * bucket's generated suffix) becomes `<known part><suffix>`, which no shell runs by accident,
 * and a note under the title says where the real name comes from.
 */
export function markInventedNames(runbook: string, invented: InventedName[]): string {
  const present = invented.filter((n) => runbook.includes(n.name));
  if (present.length === 0) return runbook;
  let text = runbook;
  for (const n of present) text = text.split(n.name).join(`${n.known}<suffix>`);
  const names = present.map((n) => `\`${n.known}<suffix>\``).join(", ");
  const note =
    `> **Offline plan:** AWS completes ${names} with a random suffix when \`pulumi up\` creates the bucket, so ` +
    `this copy cannot know it. After \`pulumi up\`, \`pulumi stack output runbook\` has the real names ` +
    `(also \`pulumi stack output replicaBuckets\` and \`primaryBucket\`).`;
  const [title, ...rest] = text.split("\n");
  return [title, "", note, ...rest].join("\n");
}
