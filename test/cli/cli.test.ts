import { execFile } from "child_process";
import { promisify } from "util";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { cliInProcess as cli, plan, ROOT } from "./planCli";

const run = promisify(execFile);

describe("lifeboat usage", () => {
  it("exits 2 (not 1, the violations code) on an unknown option, naming it, with the usage", async () => {
    const r = await cli("plan", "--stack", "prod", "--bogus");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
    expect(r.stderr).toMatch(/Usage: lifeboat plan \[options\]/);
    expect(r.stdout).toBe("");
  });

  it("exits 2 on an unknown command and on plan without --stack or --config", async () => {
    expect((await cli("deploy")).code).toBe(2);
    const r = await cli("plan");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/give --stack NAME or --config FILE/);
  });

  it("--version prints the package's version and exits 0", async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    const r = await cli("--version");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });

  it("--help exits 0 and documents exit 2 for usage errors", async () => {
    const r = await cli("plan", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 invalid config or usage/);
  });
});

describe("lifeboat plan, an error the program itself throws", () => {
  it("exits 2 with the message naming the key, not 1 from the runtime's leftover rejection (ECS region against the cluster's)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-ecs-"));
    const file = path.join(dir, "Pulumi.prod.yaml");
    fs.writeFileSync(file, YAML.stringify({ config: {
      "lifeboat:storage": { provider: "s3", region: "eu-west-1" },
      "lifeboat:runtime": { kind: "ecs", region: "eu-west-1", clusterArn: "arn:aws:ecs:us-east-2:123456789012:cluster/backups", subnetIds: ["subnet-0abc"] },
      "lifeboat:sources": [{ name: "app-db", kind: "postgres", url: "postgres://b@db/app" }],
      "lifeboat:ageRecipients": ["age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx"],
    } }));
    try {
      const r = await plan("--config", file);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        "lifeboat plan: invalid Lifeboat stack configuration:\n" +
        "  lifeboat:runtime.region: is eu-west-1, but the cluster in lifeboat:runtime.clusterArn is in us-east-2: ECS tasks run in their cluster's region\n",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("lifeboat plan into a pipe", () => {
  it("writes the whole --json document (> 128 KiB) to a reader that starts late, then exits 0", async () => {
    // prod plus ten more sources: well past the 64 KiB pipe buffer and the 128 KiB cut seen before.
    const doc = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8"));
    const sources = doc.config["lifeboat:sources"];
    for (let i = 0; i < 10; i++) sources.push({ name: `extra-${i}`, kind: "directory", path: `/srv/extra-${i}`, schedule: "0 4 * * *" });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-pipe-"));
    const file = path.join(dir, "Pulumi.prod.yaml");
    fs.writeFileSync(file, YAML.stringify(doc));
    try {
      // A reader that starts late, like `| jq` on a busy machine; pipefail keeps plan's own exit code.
      const script = `set -o pipefail; "$0" "$1" plan --config "$2" --json | { sleep 3; cat; }`;
      const { stdout: text, stderr } = await run("bash", ["-c", script, process.execPath, path.join(ROOT, "bin/lifeboat.js"), file], { cwd: ROOT, maxBuffer: 64 << 20 });
      expect(stderr).toBe("");
      expect(text.length).toBeGreaterThan(128 * 1024);
      const report = JSON.parse(text);
      expect(report.resources.filter((r: { type: string }) => r.type === "lifeboat:index:ScheduledBackup")).toHaveLength(sources.length);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
