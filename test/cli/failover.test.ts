import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { cliInProcess, ROOT } from "./planCli";

const root = ROOT;

interface Resource { type: string; name: string; parent: string | null; inputs: Record<string, unknown> }

async function planJson(file: string): Promise<{ resources: Resource[]; outputs: Record<string, any>; violations: unknown[] }> {
  const r = await cliInProcess("plan", "--config", file, "--stack", "prod", "--json");
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout);
}

const key = (r: Resource) => `${r.type}::${r.name}`;

/** What a failover may touch: per source, its writer, restorer, backup, verification and restore; and the host's two schedulers that run those jobs. */
const FAILOVER_SCOPE = /^lifeboat-prod-((app-db|n8n-data|wa-sessions|uploads|cache)-(writer|restorer|backup|verify|failover-restore)(-|$)|(backup|verify)$)/;

/** The job table of the host's scheduler on side `side` (the backup side's is plain in the plan). */
function jobs(plan: { resources: Resource[] }, side: string): { name: string; argv: string[] }[] {
  const c = plan.resources.find((r) => r.type === "docker:index/container:Container" && r.name === `lifeboat-prod-${side}`)!;
  const uploads = c.inputs.uploads as { file: string; content: string }[];
  return JSON.parse(uploads.find((u) => u.file === "/etc/lifeboat/jobs.json")!.content).jobs;
}

describe("failover (lifeboat:failover: true)", () => {
  let normal: Awaited<ReturnType<typeof planJson>>;
  let failover: Awaited<ReturnType<typeof planJson>>;
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-failover-"));
    const prod = fs.readFileSync(path.join(root, "Pulumi.prod.yaml"), "utf8");
    const file = path.join(dir, "Pulumi.prod.yaml");
    fs.writeFileSync(file, prod.replace(/^config:$/m, "config:\n  lifeboat:failover: true"));
    [normal, failover] = await Promise.all([planJson(path.join(root, "Pulumi.prod.yaml")), planJson(file)]);
  });

  it("differs from the normal plan only in the writers, their backups and verification, and the added DR restores", () => {
    const before = new Map(normal.resources.map((r) => [key(r), r]));
    const after = new Map(failover.resources.map((r) => [key(r), r]));
    const added = [...after.keys()].filter((k) => !before.has(k));
    const removed = [...before.keys()].filter((k) => !after.has(k));
    const changed = [...after.keys()].filter((k) => before.has(k) && JSON.stringify(before.get(k)!.inputs) !== JSON.stringify(after.get(k)!.inputs));
    for (const k of [...added, ...removed, ...changed]) expect(k.split("::")[1]).toMatch(FAILOVER_SCOPE);
    // Buckets, replication and the replicator stay exactly as they were.
    for (const k of before.keys()) if (/lifeboat-prod-(backups|replica-1|replicator-1|replicate-1)/.test(k)) expect(after.get(k)).toEqual(before.get(k));
    // The added DR restores, one per source with a DR target.
    expect(added.filter((k) => k.startsWith("lifeboat:index:FailoverRestore::")).sort()).toEqual([
      "lifeboat:index:FailoverRestore::lifeboat-prod-app-db-failover-restore",
      "lifeboat:index:FailoverRestore::lifeboat-prod-n8n-data-failover-restore",
    ]);
    expect(normal.resources.some((r) => r.type === "lifeboat:index:FailoverRestore")).toBe(false);
  });

  it("points every scheduled backup at the replica, with credentials for the replica", () => {
    const replica = normal.outputs.replicaBuckets[0];
    expect(normal.outputs.writeBucket).toBe(normal.outputs.primaryBucket);
    expect(failover.outputs.writeBucket).toBe(replica);
    const backups = jobs(failover, "backup");
    expect(backups).toHaveLength(5);
    for (const j of backups) expect(j.argv).toEqual(expect.arrayContaining(["--dest", `s3://${replica}/backups`]));
    for (const j of jobs(normal, "backup")) expect(j.argv).toEqual(expect.arrayContaining(["--dest", `s3://${normal.outputs.primaryBucket}/backups`]));
    // The replica is S3: writers become IAM identities there instead of R2 tokens.
    const writerUsers = failover.resources.filter((r) => r.type === "aws:iam/userPolicy:UserPolicy" && /-writer-policy-/.test(r.name));
    expect(writerUsers.length).toBeGreaterThanOrEqual(5);
    for (const p of writerUsers) expect(String(p.inputs.policy)).toContain(`arn:aws:s3:::${replica}/backups/`);
  });

  it("restores the newest verified backup from the replica into each DR target, and says so in the outputs", () => {
    const restores = failover.resources.filter((r) => r.type === "docker:index/container:Container" && /-failover-restore$/.test(r.parent ?? ""));
    expect(restores).toHaveLength(2);
    for (const c of restores) {
      expect(c.inputs.restart).toBe("no");
      expect(c.inputs.command).toEqual(expect.arrayContaining(["restore", "--at", "latest-verified"]));
    }
    const n8n = restores.find((c) => c.parent === "lifeboat-prod-n8n-data-failover-restore")!;
    expect(n8n.inputs.volumes).toContainEqual({ hostPath: "/srv/lifeboat-dr", containerPath: "/target", readOnly: false });
    const replica = normal.outputs.replicaBuckets[0];
    expect(failover.outputs.failover).toEqual({
      active: true,
      writeBucket: replica,
      restores: [
        { source: "app-db", from: `s3://${replica}/backups/app-db (newest verified backup)`, to: "postgres target (secret)" },
        { source: "n8n-data", from: `s3://${replica}/backups/n8n-data (newest verified backup)`, to: "/srv/lifeboat-dr/n8n-data" },
        { source: "wa-sessions", from: "", to: "nothing restored: no drTargetUrl/drTargetPath configured" },
        { source: "uploads", from: "", to: "nothing restored: no drTargetUrl/drTargetPath configured" },
        { source: "cache", from: "", to: "nothing restored: no drTargetUrl/drTargetPath configured" },
      ],
    });
    expect(normal.outputs.failover).toEqual({ active: false, writeBucket: normal.outputs.primaryBucket, restores: [] });
    expect(failover.violations).toEqual([]);
  });
});
