/**
 * The WAL of a point-in-time-recovery source is expired and locked on its window's clock, in
 * every bucket that holds it, and the policy pack says so when it is not. The clean cases are
 * real `lifeboat plan` runs (R2 + S3 replica, S3 + S3 replica); the weakened ones take those
 * resources and change one rule, as a hand-written stack could.
 */
import { evaluatePolicies } from "../../policies/evaluate";
import { checkWalProtection } from "../../policies/walProtection";
import { DEFAULT_SETTINGS, PolicyResourceInput } from "../../policies/model";
import { planOnce } from "../cli/planCli";

interface Report {
  resources: { type: string; name: string; parent: string | null; inputs: Record<string, any> }[];
  violations: { policy: string; message: string }[];
}

const fixture = (name: string) => `test/fixtures/pitr/Pulumi.${name}.yaml`;
async function report(name: string): Promise<Report> {
  const r = await planOnce("--config", fixture(name), "--json");
  if (r.code !== 0) throw new Error(`plan ${name} exited ${r.code}: ${r.stderr}${r.stdout.slice(0, 2000)}`);
  return JSON.parse(r.stdout);
}
function policyInput(rep: Report): PolicyResourceInput[] {
  const typeOf = new Map(rep.resources.filter((r) => r.type.startsWith("lifeboat:")).map((r) => [r.name, r.type]));
  return rep.resources.map((r) => ({
    type: r.type, name: r.name, inputs: JSON.parse(JSON.stringify(r.inputs)),
    ...(r.parent ? { parent: r.parent, parentType: typeOf.get(r.parent) ?? "" } : {}),
  }));
}
const ofType = (rs: { type: string; name: string; inputs: Record<string, any> }[], type: string) => rs.filter((r) => r.type === type);
const walMessages = (rs: PolicyResourceInput[]) => checkWalProtection(rs, DEFAULT_SETTINGS).map((f) => f.message);

describe("PITR WAL on R2 with an S3 replica (production defaults: a 14-day window, daily base backups)", () => {
  let rep: Report;
  beforeAll(async () => {
    rep = await report("prod-pitr-r2");
  });

  it("plans clean: no policy finds anything", () => {
    expect(rep.violations).toEqual([]);
  });

  it("expires and locks the WAL prefix for 14 + 1 + 1 = 16 days on R2", () => {
    const lifecycle = ofType(rep.resources, "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle")[0]!;
    const wal = lifecycle.inputs.rules.find((r: any) => r.conditions.prefix === "backups/app-db/wal/");
    expect(wal.deleteObjectsTransition.condition).toEqual({ type: "Age", maxAge: 16 * 86400 });
    const lock = ofType(rep.resources, "cloudflare:index/r2BucketLock:R2BucketLock")[0]!;
    expect(lock.inputs.rules).toContainEqual({ id: "lock-app-db-wal", enabled: true, prefix: "backups/app-db/wal/", condition: { type: "Age", maxAgeSeconds: 16 * 86400 } });
  });

  it("gives the S3 replica the same WAL expiry (replicate copies wal/)", () => {
    const lifecycle = ofType(rep.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0]!;
    expect(lifecycle.inputs.rules.find((r: any) => r.filter.prefix === "backups/app-db/wal/").expiration).toEqual({ days: 16 });
  });

  it("a WAL prefix without expiry, or locked shorter than its window, is a finding", () => {
    const noExpiry = policyInput(rep);
    const r2Lifecycle = noExpiry.find((r) => r.type === "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle")!;
    r2Lifecycle.inputs.rules = (r2Lifecycle.inputs.rules as any[]).filter((r) => r.conditions.prefix !== "backups/app-db/wal/");
    expect(walMessages(noExpiry)).toEqual([
      expect.stringMatching(/^R2 backup bucket lifeboat-prod-pitr-r2-backups: WAL of PITR source app-db \(backups\/app-db\/wal\/\) never expires: it grows forever/),
    ]);
    expect(evaluatePolicies(noExpiry).map((v) => v.policy)).toEqual(["lifeboat-pitr-wal-protected"]);

    const shortLock = policyInput(rep);
    const lock = shortLock.find((r) => r.type === "cloudflare:index/r2BucketLock:R2BucketLock")!;
    for (const rule of lock.inputs.rules as any[]) if (rule.prefix === "backups/app-db/wal/") rule.condition.maxAgeSeconds = 2 * 86400;
    expect(walMessages(shortLock)).toEqual([
      "R2 backup bucket lifeboat-prod-pitr-r2-backups: WAL of PITR source app-db (backups/app-db/wal/) is locked only 2 days: the sidecar's token could delete it; lock it 16 days with an R2BucketLock rule",
    ]);
  });

  it("a PITR source that declares no window is a finding", () => {
    const rs = policyInput(rep);
    delete rs.find((r) => r.type === "lifeboat:index:ScheduledBackup")!.inputs.walRetentionDays;
    expect(walMessages(rs)).toContainEqual(expect.stringMatching(/^PITR source app-db declares no walRetentionDays/));
  });
});

describe("PITR WAL on S3 (a 21-day window, base backups every 6 hours)", () => {
  let rep: Report;
  beforeAll(async () => {
    rep = await report("prod-pitr-s3");
  });

  it("plans clean and keeps WAL 21 + 1 + 1 = 23 days in both buckets", () => {
    expect(rep.violations).toEqual([]);
    for (const lc of ofType(rep.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")) {
      expect(lc.inputs.rules.find((r: any) => r.filter.prefix === "backups/app-db/wal/").expiration).toEqual({ days: 23 });
    }
  });

  it("has the sidecar lock each WAL object for those 23 days (S3 per-object lock)", () => {
    const sidecar = ofType(rep.resources, "docker:index/container:Container").find((c) => c.name.endsWith("wal-stream"))!;
    const argv: string[] = sidecar.inputs.command;
    expect(argv.slice(argv.indexOf("--wal-retention"), argv.indexOf("--wal-retention") + 2)).toEqual(["--wal-retention", "23d"]);
    expect(argv.slice(argv.indexOf("--lock-mode"), argv.indexOf("--lock-mode") + 2)).toEqual(["--lock-mode", "compliance"]);
  });

  it("without per-object WAL lock, the bucket default retention must cover the WAL's life", () => {
    const rs = policyInput(rep);
    delete rs.find((r) => r.type === "lifeboat:index:ScheduledBackup")!.inputs.objectLockRetention;
    // The buckets' default retention is their shortest lock: here the WAL's own 23 days.
    expect(walMessages(rs)).toEqual([]);
    for (const r of rs.filter((x) => x.type === "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")) {
      expect((r.inputs.rule as any).defaultRetention.days).toBe(23);
      (r.inputs.rule as any).defaultRetention.days = 7;
    }
    expect(walMessages(rs)).toEqual([
      expect.stringMatching(/^S3 backup bucket lifeboat-prod-pitr-s3-backups: WAL of PITR source app-db is locked only 7 days \(the bucket's default retention\), not the 23 days it is kept/),
      expect.stringMatching(/^S3 backup bucket lifeboat-prod-pitr-s3-replica-1: WAL of PITR source app-db is locked only 7 days/),
    ]);
  });

  it("base backups that expire before the WAL that starts from them are a finding", () => {
    const rs = policyInput(rep);
    for (const lc of rs.filter((r) => r.type === "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")) {
      for (const rule of lc.inputs.rules as any[]) if (rule.filter?.prefix === "backups/app-db/daily/") rule.expiration.days = 10;
    }
    expect(walMessages(rs).filter((m) => /base backups/.test(m))).toHaveLength(2);
    expect(walMessages(rs)[0]).toMatch(/base backups of PITR source app-db expire after 10 days \(backups\/app-db\/daily\/\), before the 23 days of WAL that starts from them/);
  });
});
