import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { STOCK_RESTORE_SCRIPT } from "../../components/runbook/stockTools";
import { cliInProcess, planOnce, ROOT } from "./planCli";

const root = ROOT;
const run = promisify(execFile);


beforeAll(() => {
  if (!fs.existsSync(path.join(root, "dist/cli/lifeboat.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm test does)");
});

describe("lifeboat plan", () => {
  it("prints the prod tree: the R2 bucket with its lifecycle and lock rules, the S3 replica with versioning", async () => {
    const r = await planOnce("--stack", "prod");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cloudflare:index\/r2Bucket:R2Bucket\s+lifeboat-prod-backups/);
    expect(r.stdout).toMatch(/R2BucketLifecycle\s+lifeboat-prod-backups-lifecycle/);
    expect(r.stdout).toMatch(/R2BucketLock\s+lifeboat-prod-backups-lock/);
    expect(r.stdout).toMatch(/BucketVersioning\s+lifeboat-prod-replica-1-versioning/);
    // Documents among the outputs are named, not dumped into the tree.
    expect(r.stdout).toMatch(/\n  runbook: \(\d+ lines of text; print it with --runbook\)\n/);
  });

  it("--json gives {stack, resources, outputs, violations}; prod and staging declare both providers between them", async () => {
    const reports = await Promise.all(["prod", "staging"].map(async (stack) => {
      const r = await planOnce("--stack", stack, "--json");
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout);
    }));
    for (const [i, report] of reports.entries()) {
      expect(Object.keys(report).sort()).toEqual(["outputs", "resources", "stack", "violations"]);
      expect(report.stack).toBe(["prod", "staging"][i]);
      expect(Array.isArray(report.violations)).toBe(true);
      for (const r of report.resources) {
        expect(Object.keys(r).sort()).toEqual(["inputs", "name", "parent", "type"]);
        expect(typeof r.type).toBe("string");
      }
      const lock = report.resources.find((r: any) => r.type.endsWith("BucketObjectLockConfiguration") || r.type.endsWith("R2BucketLock"));
      expect(lock).toBeDefined();
      expect(report.resources.find((r: any) => r.name.endsWith("-lifecycle"))?.parent).toMatch(/^lifeboat-/);
    }
    const types = reports.flatMap((r) => r.resources.map((x: any) => x.type));
    expect(types).toContain("cloudflare:index/r2Bucket:R2Bucket");
    expect(types).toContain("aws:s3/bucket:Bucket");
    const staging = reports[1];
    expect(staging.resources.filter((r: any) => r.type === "aws:s3/bucket:Bucket")).toHaveLength(2);
    expect(staging.outputs.primaryRegion).toBe("eu-west-1");
  });

  it("resolves documents derived from other resources (the bucket policy names the bucket's ARN)", async () => {
    const report = JSON.parse((await planOnce("--stack", "staging", "--json")).stdout);
    const bucket = report.resources.find((r: any) => r.type === "aws:s3/bucket:Bucket" && r.name === "lifeboat-staging-backups");
    const policy = report.resources.find((r: any) => r.type === "aws:s3/bucketPolicy:BucketPolicy" && r.parent === "lifeboat-staging-backups");
    const doc = JSON.parse(policy.inputs.policy);
    expect(doc.Statement[0].Resource[0]).toMatch(new RegExp(`^arn:aws:s3:::${bucket.inputs.bucketPrefix}[0-9a-f]{12}$`));
  });

  it("shows no credential value anywhere, only \"[secret]\" (R2 tokens in prod, IAM access keys in staging)", async () => {
    for (const stack of ["prod", "staging"]) {
      const r = await planOnce("--stack", stack, "--json");
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      const types = report.resources.map((x: any) => x.type);
      expect(types).toContain(stack === "prod" ? "cloudflare:index/accountToken:AccountToken" : "aws:iam/accessKey:AccessKey");
      expect(report.outputs.credentials).toBe("[secret]");
      // The mocks return these (as secrets) for every token value and access-key secret; an age
      // identity or a URL with a password would be a leaked secret too. (The runbook output shows
      // password-less example URLs such as postgres://postgres@NEW-DB-HOST, which are fine.)
      expect(r.stdout).not.toMatch(/mock-token-|mock-secret-|AGE-SECRET-KEY-1[0-9A-Z]{58}|[a-z]+:\/\/[^\s"/@:]*:[^\s"/@]+@/);
    }
  });

  it("declares a scheduled backup per source and a verification job per source in prod", async () => {
    const report = JSON.parse((await planOnce("--stack", "prod", "--json")).stdout);
    const named = (type: string) => report.resources.filter((r: any) => r.type === type).map((r: any) => r.name).sort();
    const sources = ["app-db", "cache", "n8n-data", "uploads", "wa-sessions"];
    expect(named("lifeboat:index:ScheduledBackup")).toEqual(sources.map((s) => `lifeboat-prod-${s}-backup`));
    expect(named("lifeboat:index:ScheduledVerification")).toEqual(sources.map((s) => `lifeboat-prod-${s}-verify`));
    // One scheduler container per side of the host runs them: its job table is plain in the plan, for review.
    const scheduler = report.resources.find((r: any) => r.type === "docker:index/container:Container" && r.name === "lifeboat-prod-backup");
    expect(scheduler.inputs.command).toEqual(["schedule", "--jobs", "/etc/lifeboat/jobs.json", "--max-concurrent", "1", "--state-file", "/var/lib/lifeboat/runner-state.json"]);
    const table = JSON.parse(scheduler.inputs.uploads.find((u: any) => u.file === "/etc/lifeboat/jobs.json").content);
    const appDb = table.jobs.find((j: any) => j.name === "backup-app-db");
    expect(appDb.cron).toBe("0 * * * *");
    expect(appDb.argv).toEqual(expect.arrayContaining(["backup", "--source", "postgres", "--name", "app-db"]));
  });

  it("prints, per source, the declared RPO next to the worst-case RPO the schedule gives", async () => {
    const r = await planOnce("--stack", "prod");
    expect(r.stdout).toMatch(/Objectives:\n\s+source\s+kind\s+schedule \(UTC\)\s+declared RPO\s+worst-case RPO\s+RTO/);
    expect(r.stdout).toMatch(/\n\s+app-db\s+postgres\s+0 \* \* \* \*\s+1h\s+1h\s+1h\n/);
    expect(r.stdout).toMatch(/\n\s+wa-sessions\s+volume\s+0 \*\/6 \* \* \*\s+6h\s+6h\s+4h\n/);
    const staging = JSON.parse((await planOnce("--stack", "staging", "--json")).stdout);
    expect(staging.outputs.objectives).toContainEqual({
      source: "app-db", kind: "postgres", schedule: "0 3 * * 0", rpo: "7d", worstCaseRpo: "7d", rto: "1d", met: true,
    });
  });

  it("--runbook prints prod's runbook, whose stock-tools block is the script the runner's stock restore test runs", async () => {
    const r = await planOnce("--stack", "prod", "--runbook");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# Lifeboat runbook: prod\n/);
    for (const h of ["## Restore with stock tools only", "## Fail over and fail back", "### Database corruption", "### Lost volume", "### Server loss", "### Ransomware"]) {
      expect(r.stdout).toContain(h);
    }
    expect(r.stdout).toContain("`lifeboat-prod-backups`");
    expect(r.stdout).toContain(STOCK_RESTORE_SCRIPT);
    expect(r.stdout).not.toContain("[secret]");
    const json = JSON.parse((await planOnce("--stack", "prod", "--json")).stdout);
    expect(json.outputs.runbook).toBe(r.stdout.replace(/\n$/, ""));
  });

  it("--runbook does not pass made-up names off as real, names a secret DR target by its key, and mounts only what it restored", async () => {
    const r = await planOnce("--stack", "prod", "--runbook");
    const json = JSON.parse((await planOnce("--stack", "prod", "--json")).stdout);
    // The replica's S3 name gets its suffix from AWS at `pulumi up`: the plan's stand-in is not in the runbook.
    const replica = json.outputs.replicaBuckets[0];
    expect(r.stdout).not.toContain(replica);
    expect(r.stdout).toContain("s3://lifeboat-prod-replica-1-<suffix>/backups");
    expect(r.stdout).toMatch(/^# Lifeboat runbook: prod\n\n> \*\*Offline plan:\*\* AWS completes `lifeboat-prod-replica-1-<suffix>`/);
    // app-db's drTargetUrl is a secure: value: it is configured, not "none configured".
    const failoverTable = r.stdout.slice(r.stdout.indexOf("| source | DR target | RTO |"));
    expect(failoverTable).toMatch(/\| `app-db` \| the secret `lifeboat:sources\[0\]\.drTargetUrl` \(`pulumi config get --path 'lifeboat:sources\[0\]\.drTargetUrl' --stack prod`\) \| 1h \|/);
    expect(failoverTable).not.toMatch(/\| `app-db` \| none configured/);
    // n8n-data restores into its DR directory: no `n8n_data_restored` volume exists to mount.
    expect(r.stdout).not.toContain("n8n_data_restored");
    // ... and by hand into the same place the failover restore job writes (`/srv/lifeboat-dr/n8n-data`), not over the whole DR directory.
    expect(r.stdout).toContain("`/srv/lifeboat-dr/n8n-data` bind-mounted");
    expect(r.stdout).toContain("export TARGET_DIR=/srv/lifeboat-dr/n8n-data ");
    expect(r.stdout).not.toMatch(/TARGET_DIR=\/srv\/lifeboat-dr\s/);
    // Every section that restores into a `_restored` volume creates it (failover and stock tools too).
    const sections = r.stdout.split(/\n(?=#{2,3} )/);
    for (const section of sections) {
      for (const m of section.matchAll(/TARGET_DIR=\/var\/lib\/docker\/volumes\/([^/]+)\/_data/g)) {
        expect([section.split("\n")[0], section.includes(`docker volume create ${m[1]}`)]).toEqual([section.split("\n")[0], true]);
      }
    }
  });

  const invalid = fs.readdirSync(path.join(__dirname, "../fixtures/invalid")).filter((f) => f.endsWith(".yaml"));
  it("has at least 8 distinct invalid configs", () => expect(invalid.length).toBeGreaterThanOrEqual(8));

  it.each(invalid)("exits 2 on %s with a message naming the key and no stack trace", async (file) => {
    const r = await cliInProcess("plan", "--config", path.join("test/fixtures/invalid", file), "--cwd", root);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^lifeboat plan: invalid Lifeboat stack configuration:\n {2}lifeboat:[A-Za-z\[\]0-9.]+: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("exits 2 naming the file when the stack has no config file", async () => {
    const r = await cliInProcess("plan", "--stack", "nope", "--cwd", root);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/stack file not found: .*Pulumi\.nope\.yaml/);
  });
});

describe("the built package", () => {
  it("is importable from another program, with declarations, and declares a BackupBucket under mocks", async () => {
    const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "lifeboat-consumer-"));
    try {
      fs.mkdirSync(path.join(dir, "node_modules"));
      fs.symlinkSync(root, path.join(dir, "node_modules/lifeboat"));
      fs.symlinkSync(path.join(root, "node_modules/@pulumi"), path.join(dir, "node_modules/@pulumi"));
      fs.symlinkSync(path.join(root, "node_modules/@types"), path.join(dir, "node_modules/@types"));
      fs.copyFileSync(path.join(__dirname, "../fixtures/consumer/program.ts"), path.join(dir, "program.ts"));
      const tsc = path.join(root, "node_modules/typescript/bin/tsc");
      await run(process.execPath, [tsc, "--strict", "--skipLibCheck", "--module", "commonjs", "--target", "ES2022", "--types", "node", "--esModuleInterop", "program.ts"], { cwd: dir });
      const { stdout } = await run(process.execPath, ["program.js"], { cwd: dir });
      const out = JSON.parse(stdout);
      expect(out.tier).toBe("yearly");
      expect(out.declared).toEqual(expect.arrayContaining([
        "lifeboat:index:BackupBucket", "aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      ]));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
