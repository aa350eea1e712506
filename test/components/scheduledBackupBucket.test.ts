import { ScheduledBackup } from "../../components";
import { installMocks } from "./mockHarness";

installMocks();

const base = {
  sourceName: "media", sourceKind: "bucket" as const, bucketName: "b-1", ageRecipients: ["age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx"],
  bucketUrl: "s3://acme-media/uploads", window: "30d", appAccessKeyId: "AKIAEXAMPLE", appSecretAccessKey: "app-secret-value",
};
const ecs = { runtime: "ecs" as const, clusterArn: "arn:aws:ecs:eu-west-1:1:cluster/c", subnetIds: ["subnet-1"], taskRoleArn: "arn:aws:iam::1:role/r" };

describe("ScheduledBackup of a bucket source rejects what it cannot do, naming the argument", () => {
  it.each([
    ["no bucketUrl", { bucketUrl: undefined }, /needs bucketUrl, s3:\/\/APPBUCKET\[\/PREFIX\], got undefined/],
    ["a bucketUrl that is not s3://", { bucketUrl: "https://acme-media" }, /needs bucketUrl, s3:\/\/APPBUCKET\[\/PREFIX\], got "https:\/\/acme-media"/],
    ["a window in hours", { window: "36h" }, /needs window in whole days or weeks, such as 30d, got "36h"/],
    ["no app bucket key", { appSecretAccessKey: undefined }, /needs appAccessKeyId and appSecretAccessKey/],
    ["tier retention", { objectLockRetention: { daily: 30, weekly: 12, monthly: 12, yearly: 7 } }, /objectLockRetention is for tiered sources/],
    ["events on ECS", { ...ecs, events: { queue: "a/b", queueToken: "t" } }, /events need runtime docker/],
  ])("%s", (_what, change, message) => {
    expect(() => new ScheduledBackup("e", { ...base, ...change } as never)).toThrow(message);
  });

  it("bucket arguments on another kind", () => {
    expect(() => new ScheduledBackup("e", { ...base, sourceKind: "volume", volume: "v1" })).toThrow(/bucketUrl, window and events are for bucket sources, not volume/);
  });

  it("never echoes the app bucket's secret in an error", () => {
    expect(() => new ScheduledBackup("e", { ...base, window: "1h" })).toThrow(expect.objectContaining({ message: expect.not.stringContaining("app-secret-value") }));
  });
});

describe("ScheduledBackup of a bucket source with events", () => {
  it("gives the events container the queue token but not the backup's healthcheck URL (its pings would mask a missed snapshot)", async () => {
    const { declare, envMap, unwrap, scheduledJob } = await import("./mockHarness");
    const rs = await declare(() => new ScheduledBackup("ev", {
      ...base, healthcheckUrl: "https://hc.example/ping/abc", events: { queue: "0123456789abcdef0123456789abcdef/q1", queueToken: "queue-token-value" },
    }));
    const events = rs.find((r) => r.type === "docker:index/container:Container" && r.name === "ev-bucket-events")!;
    const env = envMap(unwrap(events.inputs.envs));
    expect(env.LIFEBOAT_QUEUE_TOKEN).toBe("queue-token-value");
    expect(env.LIFEBOAT_BUCKET_SECRET_ACCESS_KEY).toBe("app-secret-value");
    expect(env.LIFEBOAT_PING_URL).toBeUndefined();
    const scheduler = rs.find((r) => r.type === "docker:index/container:Container" && r.name === "ev-backup")!;
    expect(scheduledJob(scheduler, "backup-media").env.LIFEBOAT_PING_URL).toBe("https://hc.example/ping/abc");
  });
});
