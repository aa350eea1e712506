import fc from "fast-check";
import { bucketRules } from "../../components/bucket/rules";

const name = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/);

describe("bucket rule ids", () => {
  it("stay unique whatever the source names and compliance prefixes (S3 refuses duplicate rule ids)", () => {
    // The case from issue #13 first, then any mix of names.
    const ids = bucketRules({
      prefix: "backups", sources: ["compliance-x"], retention: { daily: 7, weekly: 1, monthly: 1, yearly: 1 }, compliance: [{ prefix: "x-daily", days: 30 }],
    }).map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 5 }), fc.uniqueArray(name, { maxLength: 5 }), (sources, prefixes) => {
        const rules = bucketRules({
          prefix: "backups", sources, retention: { daily: 7, weekly: 4, monthly: 12, yearly: 1 }, compliance: prefixes.map((prefix) => ({ prefix, days: 30 })),
          walRetentionDays: Object.fromEntries(sources.slice(0, 2).map((s) => [s, 16])),
        });
        expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
      }),
      { examples: [[["compliance-audit"], ["audit-weekly"]]] },
    );
  });
});

describe("status pages", () => {
  it("expire after 14 days under each source's verification prefix (and _all), before the records' 400", () => {
    const rules = bucketRules({ prefix: "backups", sources: ["app-db", "uploads"], retention: { daily: 7, weekly: 4, monthly: 12, yearly: 1 } });
    const pages = rules.filter((r) => r.id.endsWith("-status-pages")).map((r) => [r.prefix, r.expireDays, r.lockDays]);
    expect(pages).toEqual([
      ["backups/_verifications/app-db/status/", 14, undefined],
      ["backups/_verifications/uploads/status/", 14, undefined],
      ["backups/_verifications/_all/status/", 14, undefined],
    ]);
    expect(rules.find((r) => r.id === "verifications")!.expireDays).toBe(400);
  });
});
