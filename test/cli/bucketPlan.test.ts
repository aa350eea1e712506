import { cliInProcess } from "./planCli";

describe("lifeboat plan of the media-bucket example (a bucket source on R2 with events)", () => {
  it("exits 0 and shows the bucket source's identities, queue, notification and events container", async () => {
    const r = await cliInProcess("plan", "--config", "examples/media-bucket/Pulumi.prod.yaml", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as { resources: { type: string; name: string }[]; violations: unknown[] };
    const names = (type: string) => plan.resources.filter((x) => x.type === type).map((x) => x.name);
    expect(names("lifeboat:index:BackupAccess")).toEqual(expect.arrayContaining(["lifeboat-prod-media-app-reader", "lifeboat-prod-media-writer"]));
    expect(names("cloudflare:index/queue:Queue")).toEqual(["lifeboat-prod-media-events"]);
    expect(names("cloudflare:index/r2BucketEventNotification:R2BucketEventNotification")).toEqual(["lifeboat-prod-media-events-notification"]);
    expect(names("docker:index/container:Container")).toContain("lifeboat-prod-media-backup-bucket-events");
    expect(plan.violations).toEqual([]);
    expect(r.stdout).not.toMatch(/mock-token-/);
  });
});
