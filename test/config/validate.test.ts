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
    ["bad-source-kind", "lifeboat:sources[0].kind", /must be one of "postgres", "volume", "directory", "redis", "sqlite", got "mysql"/],
    ["failover-without-replica", "lifeboat:failover", /needs at least one replica/],
    ["bad-s3-region", "lifeboat:storage.region", /must be an AWS region.*got "Frankfurt"/],
  ];
  it.each(cases)("rejects %s naming %s", (name, key, message) => {
    const file = path.join(__dirname, "../fixtures/invalid", `Pulumi.${name}.yaml`);
    expect(fs.existsSync(file)).toBe(true);
    const issues = issuesOf(() => load(name, file));
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
