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
        });
        expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
      }),
      { examples: [[["compliance-audit"], ["audit-weekly"]]] },
    );
  });
});
