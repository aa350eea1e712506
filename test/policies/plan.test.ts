/**
 * `lifeboat plan` runs the policy pack's pure policies over the mocked resources: the shipped
 * stacks are clean, and weakening each guardrail in turn makes plan exit 1 naming the policy.
 *
 * Not every weakening can be written as Lifeboat stack config, because Lifeboat never declares
 * it: there is no setting for a public R2 domain, for a bucket without locks or for a writer that
 * may delete, and a schedule slower than its RPO is rejected by config validation itself (exit 2)
 * before any policy runs. For those, the test takes the real `plan --json` resources, modifies
 * one resource as another stack (or a hand edit) would, and evaluates the same pure policies
 * plan uses. The policies stay the guard for stacks that are not built from Lifeboat config.
 */
import * as fs from "fs";
import * as path from "path";
import { evaluatePolicies } from "../../policies/evaluate";
import { PolicyResourceInput } from "../../policies/model";
import { cliInProcess } from "../cli/planCli";

// In-process: the plan CLI's own process (argv, exit code, streams) is tested in test/cli/plan.test.ts.
const plan = (...args: string[]) => cliInProcess("plan", ...args);

const root = path.resolve(__dirname, "../..");
const weakened = (name: string) => path.join("test/fixtures/weakened", `Pulumi.${name}.yaml`);

interface Report {
  resources: { type: string; name: string; parent: string | null; inputs: Record<string, any> }[];
  outputs: Record<string, any>;
  violations: { policy: string; level: string; message: string; resource?: string }[];
}

/** Plan's JSON resources as policy input (parent types looked up from the component list). */
function policyInput(report: Report): PolicyResourceInput[] {
  const typeOf = new Map(report.resources.filter((r) => r.type.startsWith("lifeboat:")).map((r) => [r.name, r.type]));
  return report.resources.map((r) => ({
    type: r.type, name: r.name, inputs: r.inputs,
    ...(r.parent ? { parent: r.parent, parentType: typeOf.get(r.parent) ?? "" } : {}),
  }));
}

const reports: Record<string, Report> = {};
beforeAll(async () => {
  if (!fs.existsSync(path.join(root, "dist/cli/lifeboat.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm test does)");
  for (const stack of ["prod", "staging"]) {
    const r = await plan("--stack", stack, "--json");
    expect(r.code).toBe(0);
    reports[stack] = JSON.parse(r.stdout);
  }
});

describe("lifeboat plan with the policy pack", () => {
  it("prod and staging report no violations, in the tree and in --json", async () => {
    expect(reports.prod!.violations).toEqual([]);
    expect(reports.staging!.violations).toEqual([]);
    const tree = await plan("--stack", "prod");
    expect(tree.code).toBe(0);
    expect(tree.stdout).toMatch(/\nPolicies: no violations$/m);
  });

  it.each([
    ["prod-replica-same-region", "lifeboat-replica-other-region", /replica lifeboat-prod-replica-same-region-replica-1 is in the same region as backup bucket lifeboat-prod-replica-same-region-backups \(S3 eu-central-1\)/],
    ["prod-r2-replica-same-hint", "lifeboat-replica-other-region", /is in the same region as backup bucket lifeboat-prod-r2-replica-same-hint-backups \(R2 default\/weur\)/],
    ["prod-short-retention", "lifeboat-retention-minimums", /backups\/app-db\/daily\/ expires after 7 days, below the daily minimum of 30 days/],
  ])("%s: exits 1 and names %s", async (stack, policy, message) => {
    const tree = await plan("--config", weakened(stack));
    expect(tree.stderr).toBe("");
    expect(tree.code).toBe(1);
    expect(tree.stdout).toMatch(new RegExp(`\\[mandatory\\] ${policy} \\(`));
    expect(tree.stdout).toMatch(message);
    const json = await plan("--config", weakened(stack), "--json");
    expect(json.code).toBe(1);
    const violations = (JSON.parse(json.stdout) as Report).violations;
    expect(new Set(violations.map((v) => v.policy))).toEqual(new Set([policy]));
    expect(violations.every((v) => v.level === "mandatory")).toBe(true);
  });

  it("a staging stack gets the same finding as advisory and exits 0", async () => {
    const r = await plan("--config", weakened("staging-replica-same-region"), "--json");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Report).violations).toEqual([{
      policy: "lifeboat-replica-other-region",
      level: "advisory",
      resource: "lifeboat-staging-replica-same-region-replica-1",
      message: "replica lifeboat-staging-replica-same-region-replica-1 is in the same region as backup bucket lifeboat-staging-replica-same-region-backups (S3 eu-west-1): put the replica in another region or provider",
    }]);
  });

  it("schedule slower than RPO: config validation rejects it (exit 2) before policies run", async () => {
    const r = await plan("--config", weakened("prod-rpo-shorter-than-schedule"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/lifeboat:sources\[0\]\.rpo: RPO 1h is shorter than the schedule "0 3 \* \* \*" allows/);
  });
});

// Weakenings Lifeboat's config cannot express: one resource of the real plan modified, then
// the same pure policies plan runs.
describe("the plan's resources with one resource weakened", () => {
  it("public domain: an r2.dev managed domain on the prod backup bucket", () => {
    const resources = policyInput(reports.prod!);
    const bucket = resources.find((r) => r.type === "cloudflare:index/r2Bucket:R2Bucket")!;
    resources.push({
      type: "cloudflare:index/r2ManagedDomain:R2ManagedDomain", name: "public-dev",
      inputs: { accountId: bucket.inputs.accountId, bucketName: bucket.inputs.name, jurisdiction: bucket.inputs.jurisdiction, enabled: true },
    });
    expect(evaluatePolicies(resources)).toEqual([{
      policy: "lifeboat-no-public-access", level: "mandatory", resource: "public-dev",
      message: "R2 backup bucket lifeboat-prod-backups has its public r2.dev domain enabled (public-dev): backups must never be served over public HTTP",
    }]);
  });

  it("no lock: the prod R2 bucket without its R2BucketLock, the replica without object lock", () => {
    const resources = policyInput(reports.prod!)
      .filter((r) => r.type !== "cloudflare:index/r2BucketLock:R2BucketLock")
      .map((r) => (r.type === "aws:s3/bucket:Bucket" ? { ...r, inputs: { ...r.inputs, objectLockEnabled: false } } : r));
    expect(evaluatePolicies(resources).map((v) => [v.policy, v.message])).toEqual([
      ["lifeboat-backup-immutability", "R2 backup bucket lifeboat-prod-backups has no R2BucketLock: lock every tier prefix so that no token can delete or overwrite a backup before it expires"],
      ["lifeboat-backup-immutability", "S3 backup bucket lifeboat-prod-replica-1 does not have object lock enabled: create it with objectLockEnabled: true"],
    ]);
  });

  it("writer with delete: s3:DeleteObject added to a staging writer's policy", () => {
    const resources = policyInput(reports.staging!);
    const target = resources.find((r) => r.type === "aws:iam/userPolicy:UserPolicy" && /writer/.test(r.name));
    expect(target).toBeDefined();
    const doc = JSON.parse(target!.inputs.policy as string);
    doc.Statement[0].Action.push("s3:DeleteObject");
    target!.inputs = { ...target!.inputs, policy: JSON.stringify(doc) };
    // Staging's own policy settings (its profile's retention minimums), as plan uses them.
    expect(evaluatePolicies(resources, { minimums: { daily: 14, weekly: 2, monthly: 0, yearly: 0 } })).toEqual([{
      policy: "lifeboat-writer-least-privilege", level: "mandatory", resource: target!.name,
      message: `writer policy ${target!.name} allows delete (s3:DeleteObject): writers never delete, lifecycle rules expire backups`,
    }]);
  });

  it("schedule slower than RPO: prod's own ScheduledBackup for app-db with its schedule made daily", () => {
    const resources = policyInput(reports.prod!);
    // The program's ScheduledBackup components register `sourceName`, `schedule` and `rpo`.
    const backups = resources.filter((r) => r.type === "lifeboat:index:ScheduledBackup");
    expect(backups.map((b) => [b.inputs.sourceName, b.inputs.rpo]).sort()).toEqual([
      ["app-db", "1h"], ["cache", "24h"], ["n8n-data", "24h"], ["uploads", "24h"], ["wa-sessions", "6h"],
    ]);
    expect(evaluatePolicies(resources)).toEqual([]);
    const appDb = backups.find((b) => b.inputs.sourceName === "app-db")!;
    expect(appDb.inputs.rpo).toBe("1h");
    appDb.inputs = { ...appDb.inputs, schedule: "0 3 * * *" };
    expect(evaluatePolicies(resources)).toEqual([{
      policy: "lifeboat-schedule-meets-rpo", level: "mandatory", resource: appDb.name,
      message: 'scheduled backup of app-db runs up to 1d apart ("0 3 * * *"), longer than its RPO of 1h: back up more often or raise the RPO',
    }]);
  });
});
