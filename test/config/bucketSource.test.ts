import { ConfigError, validateStackConfig } from "../../components/config";

const AGE = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const r2 = { provider: "r2", accountId: ACCOUNT, bucketName: "acme-media" };

const config = (stack: string, source: Record<string, unknown>) =>
  validateStackConfig({ storage: { provider: "r2", accountId: ACCOUNT }, sources: [{ name: "media", kind: "bucket", bucket: r2, ...source }], ageRecipients: [AGE] }, stack);
const issues = (stack: string, source: Record<string, unknown>) => {
  try {
    config(stack, source);
    return [];
  } catch (e) {
    if (!ConfigError.is(e)) throw e;
    return e.issues.map((i) => `${i.key}: ${i.message}`);
  }
};

describe("bucket source config", () => {
  it.each([["prod", 30], ["staging", 14], ["dev", 7]])("takes the %s profile's window (%i days) and schedule", (stack, days) => {
    const s = config(stack, {}).sources[0]!;
    expect(s.windowDays).toBe(days);
    expect(s).toMatchObject({ kind: "bucket", window: `${days}d`, events: false, bucket: { jurisdiction: "default" } });
  });

  it("keeps a window given in whole days or weeks", () => {
    expect(config("prod", { window: "2w" }).sources[0]!.windowDays).toBe(14);
  });

  it.each([
    [{ window: "36h" }, "lifeboat:sources[0].window: must be whole days such as 30d or 2w (lifecycle rules count days), got \"36h\""],
    [{ window: "18251d" }, "lifeboat:sources[0].window: must be at most 18250d, got 18251d"],
    [{ bucket: { ...r2, prefix: "uploads/" } }, "lifeboat:sources[0].bucket.prefix: must be key prefix segments of letters, digits, '.', '_' and '-' joined by '/', without a leading or trailing '/' (such as uploads/images), got \"uploads/\""],
    [{ bucket: { provider: "s3", region: "eu-west-1", bucketName: "acme-media" }, events: true }, "lifeboat:sources[0].events: is for R2 buckets only (R2 event notifications to a Cloudflare Queue); an S3 bucket is caught by the scheduled snapshots: set events to false or shorten the schedule"],
    [{ bucket: { ...r2, region: "eu-west-1" } }, "lifeboat:sources[0].bucket.region: is not a Lifeboat setting (misspelt? see docs/configuration.md)"],
  ])("names the field: %j", (source, message) => {
    expect(issues("prod", source)).toEqual([message]);
  });

  it("accepts an S3 bucket name with dots, which R2 refuses", () => {
    expect(config("prod", { bucket: { provider: "s3", region: "eu-west-1", bucketName: "acme.media" } }).sources[0]!.kind).toBe("bucket");
    expect(issues("prod", { bucket: { ...r2, bucketName: "acme.media" } })[0]).toMatch(/^lifeboat:sources\[0\]\.bucket\.bucketName: must be 3-63 lowercase letters, digits and dashes/);
  });
});
