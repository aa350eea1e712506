import fc from "fast-check";
import { NAME_RULES, NameKind, physicalName } from "../../components/naming";

const KINDS = Object.keys(NAME_RULES) as NameKind[];
/** Parts as components pass them: names, roles, epochs, and anything else a caller might. */
const part = fc.oneof(
  fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/),
  fc.string({ maxLength: 80 }),
  fc.constantFrom("backup", "verify", "status", "state", "2026-01-15", "writer", "restorer"),
);
const parts = fc.array(part, { minLength: 1, maxLength: 5 });

describe("physicalName", () => {
  it("keeps a name that already fits as the parts joined with '-'", () => {
    expect(physicalName("docker", "lifeboat", "lifeboat-prod-app-db-backup", "backup")).toBe("lifeboat-lifeboat-prod-app-db-backup-backup");
    expect(physicalName("s3BucketPrefix", "lifeboat-prod-backups")).toBe("lifeboat-prod-backups-");
    expect(physicalName("logGroup", "/lifeboat/lifeboat-prod-app-db-backup")).toBe("/lifeboat/lifeboat-prod-app-db-backup");
  });

  it("gives the backup, verify and status containers of a 40-character source distinct names within 63 (they were cut to one name)", () => {
    const component = `lifeboat-production-eu-${"s".repeat(40)}`;
    const names = ["backup", "verify", "status"].map((role) => physicalName("docker", "lifeboat", component, role));
    expect(new Set(names).size).toBe(3);
    for (const n of names) expect(n.length).toBeLessThanOrEqual(63);
    expect(names[0]).toMatch(/^lifeboat-lifeboat-production-eu-s+-[0-9a-f]{8}$/);
  });

  it("always gives a name of the kind's characters within its limit, the same for the same parts", () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), parts, (kind, p) => {
        const n = physicalName(kind, ...p);
        const rule = NAME_RULES[kind];
        expect(n.length).toBeLessThanOrEqual(rule.max);
        expect(n).toMatch(rule.valid);
        expect(physicalName(kind, ...p)).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });

  it("gives distinct names to distinct parts", () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), parts, parts, (kind, a, b) => {
        fc.pre(a.join("-") !== b.join("-"));
        expect(physicalName(kind, ...a)).not.toBe(physicalName(kind, ...b));
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps names that differ only past the limit, or only by a replaced character, apart", () => {
    const long = "x".repeat(70);
    expect(physicalName("iamRole", long, "a")).not.toBe(physicalName("iamRole", long, "b"));
    expect(physicalName("r2Bucket", "app_db")).not.toBe(physicalName("r2Bucket", "app-db"));
    expect(physicalName("r2Bucket", "App-db")).not.toBe(physicalName("r2Bucket", "app-db"));
  });
});
