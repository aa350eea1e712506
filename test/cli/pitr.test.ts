import { walStreamArgs } from "lifeboat-core";
import { planOnce as plan } from "./planCli";


describe("point-in-time recovery in a stack (pitr: true)", () => {
  it("declares the WAL sidecar beside nightly base backups, and the RPO is the flush interval", async () => {
    const r = await plan("--config", "test/fixtures/pitr/Pulumi.selfhosted.yaml", "--json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    const containers = report.resources.filter((x: any) => x.type === "docker:index/container:Container");
    const backup = containers.find((c: any) => c.name.endsWith("-backup") && c.inputs.command[0] === "schedule");
    const sidecar = containers.find((c: any) => c.name.endsWith("-backup-wal-stream"));
    const [job] = JSON.parse(backup.inputs.uploads.find((u: any) => u.file === "/etc/lifeboat/jobs.json").content).jobs;
    expect(job.cron).toBe("0 2 * * *");
    expect(job.argv).toEqual(expect.arrayContaining(["basebackup", "--name", "crm-db"]));
    const bucket = report.outputs.primaryBucket;
    expect(sidecar.inputs.command).toEqual(walStreamArgs({
      name: "crm-db",
      recipients: ["age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx"],
      spoolDir: "/var/lib/lifeboat/wal-spool",
      flushInterval: "60s",
      maxLag: "5m",
      // S3: each WAL object locked as long as the bucket keeps WAL (a 14-day window + 1 + 1 days).
      walRetention: "16d",
      lockMode: "compliance",
      dest: `s3://${bucket}/backups`,
      endpoint: "https://s3.eu-west-1.amazonaws.com",
      region: "eu-west-1",
      json: true,
    }));
    expect(sidecar.inputs.restart).toBe("unless-stopped");
    // The sidecar holds public keys only: no identity file is uploaded into it.
    expect(sidecar.inputs.uploads).toBeUndefined();
    expect(JSON.stringify(sidecar.inputs.command)).not.toMatch(/AGE-SECRET-KEY|--identity/);
    expect(report.outputs.objectives).toEqual([{ source: "crm-db", kind: "postgres", schedule: "0 2 * * *", rpo: "5m", worstCaseRpo: "1m", rto: "1h", met: true }]);
    expect(report.violations).toEqual([]);
  });

  it("flags dumping every 5 minutes instead of streaming WAL (exit 1, naming the policy)", async () => {
    const r = await plan("--config", "test/fixtures/pitr/Pulumi.dumps.yaml", "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).violations).toEqual([{
      policy: "lifeboat-pitr-for-short-rpo", level: "mandatory", resource: "lifeboat-dumps-crm-db-backup",
      message: "postgres source crm-db declares an RPO of 5m, under 15m: enable point-in-time recovery (pitr: true, WAL streaming) instead of dumping that often",
    }]);
  });
});
