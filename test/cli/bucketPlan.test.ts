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

describe("lifeboat plan of a bucket source on the ECS runtime", () => {
  it("exits 0; the Fargate task runs the bucket job with the app bucket's key from Secrets Manager, never on its command line", async () => {
    const r = await cliInProcess("plan", "--config", "test/fixtures/bucket/Pulumi.prod-ecs.yaml", "--json");
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as { resources: { type: string; name: string; inputs: Record<string, any> }[]; violations: unknown[] };
    expect(plan.violations).toEqual([]);
    const task = plan.resources.find((x) => x.type === "aws:ecs/taskDefinition:TaskDefinition" && x.name === "lifeboat-prod-ecs-media-backup-backup")!;
    const [container] = JSON.parse(task.inputs.containerDefinitions);
    expect(container.command.slice(0, 5)).toEqual(["backup", "--source", "bucket", "--name", "media"]);
    expect(container.command[container.command.indexOf("--bucket-url") + 1]).toBe("s3://acme-media");
    expect(container.secrets.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(["LIFEBOAT_BUCKET_ACCESS_KEY_ID", "LIFEBOAT_BUCKET_SECRET_ACCESS_KEY"]));
    expect(JSON.stringify(container.environment ?? [])).not.toContain("LIFEBOAT_BUCKET_SECRET_ACCESS_KEY");
  });
});
