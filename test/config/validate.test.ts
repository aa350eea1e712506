import * as fs from "fs";
import * as path from "path";
import { ConfigError, rawStackConfig, SECRET_PLACEHOLDER, validateStackConfig } from "../../components/config";
import { readStackFile } from "../../cli/plan/stackFile";

const root = path.resolve(__dirname, "../..");
const load = (stack: string, file?: string) => {
  const sf = readStackFile({ projectDir: root, stack, ...(file ? { file } : {}) });
  return validateStackConfig(rawStackConfig(sf.config), sf.stack);
};
const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (ConfigError.is(e)) return e.issues;
    throw e;
  }
  throw new Error("expected a ConfigError");
};

describe("stack config", () => {
  it("resolves prod with production defaults and keeps secure values as placeholders", () => {
    const c = load("prod");
    expect(c.profile).toBe("production");
    expect(c.retention).toEqual({ daily: 30, weekly: 12, monthly: 12, yearly: 7 });
    expect(c.compliance).toEqual([{ prefix: "audit-logs", days: 365 }, { prefix: "closed-deals", days: 2562 }]);
    expect(c.policy.enforcement).toBe("mandatory");
    const db = c.sources.find((s) => s.name === "app-db")!;
    expect(db.kind === "postgres" && db.url).toBe(SECRET_PLACEHOLDER);
    expect(db.rpoSeconds).toBe(3600);
    expect(db.scheduleIntervalSeconds).toBe(3600);
    const n8n = c.sources.find((s) => s.name === "n8n-data")!;
    expect(n8n.schedule).toBe("0 3 * * *");
    expect(c.verification.schedule).toBe("0 5 * * 0");
  });

  it("resolves staging to weekly backups kept 14 days, advisory policies", () => {
    const c = load("staging");
    expect(c.profile).toBe("staging");
    expect(c.sources.every((s) => s.schedule === "0 3 * * 0")).toBe(true);
    expect(c.retention.daily).toBe(14);
    expect(c.retention.weekly).toBe(2);
    expect(c.policy.enforcement).toBe("advisory");
    expect(c.storage.provider).toBe("s3");
  });

  const cases: [string, string, RegExp][] = [
    ["negative-retention", "lifeboat:retention.daily", /must be a positive integer, got -1/],
    ["unknown-provider", "lifeboat:storage.provider", /must be one of "r2", "s3", got "gcs"/],
    ["unknown-r2-location", "lifeboat:storage.location", /must be one of .*"weur".*, got "mars"/],
    ["bad-cron", "lifeboat:sources[0].schedule", /5-field cron expression.*got "every day at 3"/],
    ["missing-account-id", "lifeboat:storage.accountId", /is required: the 32-character Cloudflare account id/],
    ["rpo-shorter-than-schedule", "lifeboat:sources[0].rpo", /RPO 1h is shorter than the schedule "0 3 \* \* \*" allows \(up to 1d/],
    ["duplicate-source-names", "lifeboat:sources[1].name", /duplicate source name "app-db" \(also sources\[0\]\)/],
    ["non-age-recipient", "lifeboat:ageRecipients[0]", /must be an age public key.*got "ssh-ed25519/],
    ["unknown-key", "lifeboat:retension", /is not a Lifeboat setting/],
    ["bad-source-kind", "lifeboat:sources[0].kind", /must be one of "postgres", "volume", "directory", "redis", "sqlite", "bucket", got "mysql"/],
    ["failover-without-replica", "lifeboat:failover", /needs at least one replica/],
    ["bad-s3-region", "lifeboat:storage.region", /must be an AWS region.*got "Frankfurt"/],
  ];
  it.each(cases)("rejects %s naming %s", (name, key, message) => {
    const file = path.join(__dirname, "../fixtures/invalid", `Pulumi.${name}.yaml`);
    expect(fs.existsSync(file)).toBe(true);
    const issues = issuesOf(() => load("prod", file));
    expect(issues).toContainEqual({ key, message: expect.stringMatching(message) });
  });

  it("with pitr, judges the RPO against the WAL flush interval, not the base-backup schedule", () => {
    const base = {
      storage: { provider: "s3", region: "eu-west-1" },
      ageRecipients: ["age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx"],
    };
    const pg = { name: "crm-db", kind: "postgres", url: "postgres://db/crm", schedule: "0 2 * * *", rpo: "5m" };
    const c = validateStackConfig({ ...base, sources: [{ ...pg, pitr: true }] }, "prod");
    expect(c.sources[0]).toMatchObject({ worstCaseRpoSeconds: 60, scheduleIntervalSeconds: 86400, rpoSeconds: 300 });
    expect(issuesOf(() => validateStackConfig({ ...base, sources: [{ ...pg, pitr: true, walFlushInterval: "10m" }] }, "prod"))).toEqual([
      { key: "lifeboat:sources[0].walFlushInterval", message: "WAL flush interval 10m is longer than the RPO 5m: shorten it or raise the RPO" },
    ]);
    expect(issuesOf(() => validateStackConfig({ ...base, sources: [pg] }, "prod"))[0]!.key).toBe("lifeboat:sources[0].rpo");
  });

  describe("pitrWindow: how far back a PITR source can be restored", () => {
    const base = {
      storage: { provider: "s3", region: "eu-west-1" },
      ageRecipients: ["age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx"],
    };
    const pg = { name: "crm-db", kind: "postgres", url: "postgres://db/crm", rpo: "5m", pitr: true };
    const walOf = (stack: string, source: object, extra: object = {}) => validateStackConfig({ ...base, ...extra, sources: [source] }, stack).sources[0]!.wal;

    it("defaults from the profile and keeps WAL the window plus a base-backup interval plus a day", () => {
      expect(walOf("prod", pg)).toEqual({ window: "14d", windowDays: 14, retentionDays: 16 });
      // Staging backs up weekly (Sunday) and keeps 14 days: a 6-day window's WAL (6 + 7 + 1) fits.
      expect(walOf("staging", { ...pg, rpo: "7d" })).toEqual({ window: "6d", windowDays: 6, retentionDays: 14 });
      expect(walOf("dev", pg)).toEqual({ window: "3d", windowDays: 3, retentionDays: 5 });
      expect(walOf("prod", { ...pg, pitrWindow: "3w", schedule: "0 */6 * * *" })).toEqual({ window: "3w", windowDays: 21, retentionDays: 23 });
      expect(walOf("prod", { ...pg, pitr: false, rpo: "24h" })).toBeUndefined();
    });

    it("refuses a window that is not whole days, one without pitr, and one the base backups cannot start", () => {
      expect(issuesOf(() => walOf("prod", { ...pg, pitrWindow: "36h" }))).toEqual([
        { key: "lifeboat:sources[0].pitrWindow", message: "must be whole days such as 7d or 14d (lifecycle and lock rules count days), got 36h" },
      ]);
      expect(issuesOf(() => walOf("prod", { ...pg, pitr: false, rpo: "24h", pitrWindow: "7d" }))).toEqual([
        { key: "lifeboat:sources[0].pitrWindow", message: "is set but pitr is false: the window is how long WAL is kept, and only a pitr source streams WAL" },
      ]);
      expect(issuesOf(() => walOf("prod", { ...pg, pitrWindow: "29d" }))).toEqual([
        {
          key: "lifeboat:sources[0].pitrWindow",
          message:
            "a 29d window keeps WAL 31 days (the window, plus up to 1d between base backups, plus a day for the base backup itself), " +
            "but base backups are kept only 30 days (retention.daily): shorten the window, take base backups more often, or keep daily backups longer",
        },
      ]);
      expect(walOf("prod", { ...pg, pitrWindow: "29d" }, { retention: { daily: 31, weekly: 12, monthly: 12, yearly: 7 } })!.retentionDays).toBe(31);
    });
  });

  it("reports every bad key at once, not only the first", () => {
    const issues = issuesOf(() =>
      validateStackConfig({ storage: { provider: "r2" }, sources: [], ageRecipients: ["nope"], retention: { daily: 0, weekly: 1, monthly: 1, yearly: 1 } }, "prod"),
    );
    expect(issues.map((i) => i.key).sort()).toEqual(
      ["lifeboat:ageRecipients[0]", "lifeboat:retention.daily", "lifeboat:sources", "lifeboat:storage.accountId"].sort(),
    );
  });

  it("keeps long digit strings as text when reading Pulumi's config strings", () => {
    expect(rawStackConfig({ "lifeboat:x": "01234567890123456789", "lifeboat:n": "90", "lifeboat:b": "true", "aws:region": "eu-west-1" })).toEqual({
      x: "01234567890123456789",
      n: 90,
      b: true,
    });
  });
});

describe("stack config that the providers or Pulumi would refuse (issue #13)", () => {
  const AGE = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
  const base = {
    storage: { provider: "s3", region: "eu-west-1" },
    sources: [{ name: "app-db", kind: "postgres", url: "postgres://app@db/app" }],
    ageRecipients: [AGE],
  };
  const issues = (over: Record<string, unknown>, stack = "prod") => issuesOf(() => validateStackConfig({ ...base, ...over }, stack));
  const keys = (over: Record<string, unknown>, stack = "prod") => issues(over, stack).map((i) => i.key);

  describe("profile", () => {
    it("says which profile applies and why", () => {
      expect(validateStackConfig(base, "prod-eu")).toMatchObject({ profile: "production", profileReason: 'from the stack name "prod-eu"' });
      expect(validateStackConfig(base, "eu_Staging")).toMatchObject({ profile: "staging" });
      expect(validateStackConfig({ ...base, profile: "production" }, "eu")).toMatchObject({ profile: "production", profileReason: "set by lifeboat:profile" });
    });

    it.each(["eu", "products", "prod-staging", "customer-a"])("refuses stack %s, whose name does not say, without lifeboat:profile", (stack) => {
      expect(issues({}, stack)).toContainEqual({ key: "lifeboat:profile", message: expect.stringMatching(/is required: the stack name .* does not say which profile applies/) });
    });
  });

  describe("restore drill checks and alert limits (issue #17)", () => {
    const pg = base.sources[0]!;
    it("takes a freshness column and SQL assertions on a postgres source, and the table-shrink limit", () => {
      const c = validateStackConfig({
        ...base,
        sources: [{ ...pg, freshness: { column: 'app."Chat".created_at', within: "2d" }, assertions: [{ name: "has users", sql: "SELECT count(*) > 0 FROM users" }] }],
        alerts: { maxTableShrink: 0.3 },
      }, "prod");
      expect(c.sources[0]).toMatchObject({ freshness: { column: 'app."Chat".created_at', within: "2d" }, assertions: [{ name: "has users", sql: "SELECT count(*) > 0 FROM users" }] });
      expect(c.alerts.maxTableShrink).toBe(0.3);
      expect(validateStackConfig(base, "prod").alerts.maxTableShrink).toBe(0.5);
    });
    it("names each bad field", () => {
      expect(issues({
        sources: [{ ...pg, freshness: { column: "messages.created_at", within: "soon" }, assertions: [{ name: "a=b", sql: " " }, { name: "x", sql: "SELECT 1" }, { name: "x", sql: "SELECT 2" }] }],
        alerts: { maxTableShrink: 1.5 },
      })).toEqual(expect.arrayContaining([
        { key: "lifeboat:sources[0].freshness.column", message: expect.stringMatching(/must be schema\.table\.column/) },
        { key: "lifeboat:sources[0].freshness.within", message: expect.stringMatching(/duration/) },
        { key: "lifeboat:sources[0].assertions[0].name", message: expect.stringMatching(/no =/) },
        { key: "lifeboat:sources[0].assertions[0].sql", message: expect.stringMatching(/^must be a SQL query/) },
        { key: "lifeboat:sources[0].assertions[2].name", message: '"x" is used twice' },
        { key: "lifeboat:alerts.maxTableShrink", message: expect.stringMatching(/^must be between 0 and 1/) },
      ]));
      expect(keys({ sources: [{ name: "files", kind: "directory", path: "/srv/files", freshness: { column: "a.b.c" } }] })).toEqual(["lifeboat:sources[0].freshness"]);
    });
  });

  describe("environment", () => {
    it("derives a valid environment from a stack name such as Prod_EU", () => {
      expect(validateStackConfig(base, "Prod_EU").environment).toBe("prod-eu");
    });
    it("refuses a stack name that cannot make one, naming lifeboat:environment", () => {
      expect(keys({}, "prod-" + "x".repeat(60))).toEqual(["lifeboat:environment"]);
      expect(keys({ environment: "e".repeat(41) })).toEqual(["lifeboat:environment"]);
    });
  });

  describe("retention prefixes", () => {
    it("refuses a compliance prefix equal to a source name: its expiry would cut the source's yearly backups", () => {
      expect(issues({ compliance: [{ prefix: "app-db", days: 365 }] })).toEqual([
        { key: "lifeboat:compliance[0].prefix", message: expect.stringMatching(/is also a source name, so it overlaps that source's tier prefixes/) },
      ]);
    });
    it("refuses a repeated compliance prefix and one named like a tier", () => {
      expect(keys({ compliance: [{ prefix: "audit", days: 365 }, { prefix: "audit", days: 30 }] })).toEqual(["lifeboat:compliance[1].prefix"]);
      expect(keys({ compliance: [{ prefix: "yearly", days: 3650 }] })).toEqual(["lifeboat:compliance[0].prefix"]);
    });
  });

  describe("values the providers reject", () => {
    it("refuses retention above S3 object lock's 36 500 days, naming the tier", () => {
      expect(issues({ retention: { daily: 1e9, weekly: 0, monthly: 0, yearly: 0 } })).toEqual([
        { key: "lifeboat:retention.daily", message: expect.stringMatching(/36500 days/) },
      ]);
      expect(keys({ retention: { daily: 7, weekly: 0, monthly: 0, yearly: 100 } })).toEqual(["lifeboat:retention.yearly"]);
      expect(keys({ compliance: [{ prefix: "deals", days: 36501 }] })).toEqual(["lifeboat:compliance[0].days"]);
      expect(validateStackConfig({ ...base, retention: { daily: 7, weekly: 0, monthly: 0, yearly: 99 } }, "prod").retention.yearly).toBe(99);
    });

    it("refuses regions that do not exist, for S3 and ECS", () => {
      expect(keys({ storage: { provider: "s3", region: "zz-nowhere-1" } })).toEqual(["lifeboat:storage.region"]);
      expect(keys({ replicas: [{ provider: "s3", region: "eu-west-9" }] })).toEqual(["lifeboat:replicas[0].region"]);
      expect(validateStackConfig({ ...base, storage: { provider: "s3", region: "ap-southeast-7" } }, "prod").storage).toMatchObject({ region: "ap-southeast-7" });
    });

    it("refuses two identical replicas and a replica with the primary's bucket name", () => {
      const replica = { provider: "s3", region: "eu-north-1" };
      expect(keys({ replicas: [replica, { ...replica }] })).toEqual(["lifeboat:replicas[1]"]);
      expect(keys({ storage: { provider: "s3", region: "eu-west-1", bucketName: "acme-backups" }, replicas: [{ ...replica, bucketName: "acme-backups" }] })).toEqual([
        "lifeboat:replicas[0].bucketName",
      ]);
    });

    it("refuses an RPO of 1000000w and other objectives past a year", () => {
      expect(issues({ objectives: { rpo: "1000000w" } })).toEqual([{ key: "lifeboat:objectives.rpo", message: "must be at most 366d, got 1000000w" }]);
      expect(keys({ sources: [{ ...base.sources[0], rto: "400d" }] })).toEqual(["lifeboat:sources[0].rto"]);
    });

    it.each([
      ["sources", { sources: [{ ...base.sources[0], schedule: "0 0 31 2 *" }] }, "lifeboat:sources[0].schedule"],
      ["drill", { verification: { schedule: "0 0 30 2 *" } }, "lifeboat:verification.schedule"],
      ["status check", { verification: { statusSchedule: "0 0 31 4 *" } }, "lifeboat:verification.statusSchedule"],
    ])("refuses a %s schedule that never fires, naming the key (no crash)", (_what, over, key) => {
      expect(issues(over)).toEqual([{ key, message: expect.stringMatching(/^never fires/) }]);
    });
  });

  describe("secrets never echoed", () => {
    const SECRET = "hunter2-very-secret";
    it.each([
      ["sources[0].url", { sources: [{ name: "db", kind: "postgres", url: `mysql://u:${SECRET}@db/x` }] }],
      ["sources[0].drTargetUrl", { sources: [{ ...base.sources[0], drTargetUrl: `pg://u:${SECRET}@dr/x` }] }],
      ["sources[0].url", { sources: [{ name: "cache", kind: "redis", url: `http://:${SECRET}@redis` }] }],
      ["alerts.webhookUrl", { alerts: { webhookUrl: `hooks.slack.com/services/${SECRET}` } }],
      ["alerts.healthcheckUrl", { alerts: { healthcheckUrl: `ftp://${SECRET}` } }],
      ["verification.scratchUrl", { verification: { scratchUrl: `x${SECRET}` } }],
      ["ageIdentity", { ageIdentity: `AGE-SECRET-KEY-1${SECRET}` }],
      ["ageIdentity", { ageIdentity: 12345 }],
    ])("a malformed %s is named, its value is not shown", (key, over) => {
      const found = issues(over);
      expect(found.map((i) => i.key)).toContain(`lifeboat:${key}`);
      expect(JSON.stringify(found)).not.toMatch(new RegExp(`${SECRET}|12345`));
    });

    it("says an age identity pasted into ageRecipients is a private key, without printing it", () => {
      const identity = "AGE-SECRET-KEY-18WCMQX0RX6D0ZXHGQH3FZGY5DLM0GPDY2QG8ZJ3PA6VDLTYWN4ESJ8TGH2";
      const found = issues({ ageRecipients: [identity] });
      expect(found).toEqual([{ key: "lifeboat:ageRecipients[0]", message: expect.stringMatching(/^this is an age identity \(private key\)/) }]);
      expect(JSON.stringify(found)).not.toContain("18WCMQX0");
    });
  });

  describe("age recipients", () => {
    it("refuses a recipient whose bech32 checksum does not match (a typo)", () => {
      const typo = AGE.slice(0, 20) + (AGE[20] === "q" ? "p" : "q") + AGE.slice(21);
      expect(issues({ ageRecipients: [AGE, typo] })).toEqual([
        { key: "lifeboat:ageRecipients[1]", message: expect.stringMatching(/bech32 checksum does not match/) },
      ]);
    });
  });

  describe("components with no valid config path", () => {
    const ecs = { kind: "ecs", clusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/backups", subnetIds: ["subnet-0abc"] };
    it("refuses volume, directory and sqlite sources on the ECS runtime, naming the source's kind", () => {
      expect(keys({ runtime: ecs, sources: [base.sources[0], { name: "n8n", kind: "volume", volume: "n8n_data" }, { name: "files", kind: "directory", path: "/srv" }] })).toEqual([
        "lifeboat:sources[1].kind", "lifeboat:sources[2].kind",
      ]);
    });
    it("refuses pitr on the ECS runtime, and a failover restore into a host path", () => {
      expect(keys({ runtime: ecs, sources: [{ ...base.sources[0], pitr: true, rpo: "5m" }] })).toEqual(["lifeboat:sources[0].pitr"]);
      expect(keys({ runtime: ecs, failover: true, replicas: [{ provider: "s3", region: "eu-north-1" }], sources: [base.sources[0], { name: "cache", kind: "redis", url: "redis://r", drTargetPath: "/dr" }] })).toEqual([
        "lifeboat:sources[1].drTargetPath",
      ]);
    });
    it("refuses CloudWatch log retentions CloudWatch does not accept", () => {
      expect(keys({ runtime: { ...ecs, logRetentionDays: 31 } })).toEqual(["lifeboat:runtime.logRetentionDays"]);
    });
  });
});
