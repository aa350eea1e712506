import fc from "fast-check";
import { bucketRules } from "../../components/bucket/rules";
import { bucketSourceRules } from "../../components/bucket/bucketSourceRules";
import { r2LockRules } from "../../components/bucket/r2Rules";

const DAY = 86_400_000;
const name = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/);

/**
 * The contract's model of a bucket source: a snapshot taken at t references, for each app object,
 * a stored copy; the runner reuses the previous copy unless it is `window` days old or more, else
 * copies again. Lifecycle then deletes a copy and a snapshot at the ages the rules say.
 */
describe("bucketSourceRules", () => {
  it("never expires a stored copy that a kept snapshot references", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        // Snapshot gaps in hours (a schedule may skip days, or run hourly), and when we look.
        fc.array(fc.integer({ min: 1, max: 24 * 90 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 24 * 800 }),
        (windowDays, gapsHours, lookAfterHours) => {
          const rules = bucketSourceRules("backups", [{ name: "media", windowDays }]);
          const expire = (dir: string) => rules.find((r) => r.prefix === `backups/media/${dir}/`)!.expireDays * DAY;
          const window = windowDays * DAY;
          // One app object that never changes: the hardest case (only the age rule re-copies it).
          let copiedAt: number | undefined;
          const snapshots: { at: number; copy: number }[] = [];
          let t = 0;
          for (const gap of gapsHours) {
            t += gap * 3_600_000;
            if (copiedAt === undefined || t - copiedAt >= window) copiedAt = t;
            snapshots.push({ at: t, copy: copiedAt });
          }
          const now = t + lookAfterHours * 3_600_000;
          for (const s of snapshots) {
            const snapshotKept = now < s.at + expire("snapshots");
            const copyKept = now < s.copy + expire("objects");
            if (snapshotKept) expect(copyKept).toBe(true);
          }
        },
      ),
    );
  });

  it("keeps snapshots and the journal for the window, copies twice as long, each locked for the window and never past its expiry", () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 18_250 }), (names, windowDays) => {
        const rules = bucketSourceRules("prod", names.map((n) => ({ name: n, windowDays })));
        for (const n of names) {
          const of = (dir: string) => rules.find((r) => r.prefix === `prod/${n}/${dir}/`)!;
          expect(of("snapshots").expireDays).toBe(windowDays);
          expect(of("journal").expireDays).toBe(windowDays);
          expect(of("objects").expireDays).toBe(2 * windowDays);
        }
        for (const r of rules) {
          expect(r.lockDays).toBe(windowDays);
          expect(r.lockDays!).toBeLessThanOrEqual(r.expireDays);
        }
        // R2 gets a lock rule per prefix.
        expect(r2LockRules(rules).map((l) => l.prefix).sort()).toEqual(rules.map((r) => r.prefix).sort());
      }),
    );
  });

  it("appends rules whose ids never collide with the tier, compliance and verification rules (S3 refuses duplicate ids)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 5 }), fc.uniqueArray(name, { maxLength: 4 }), (sources, compliance) => {
        const rules = [
          ...bucketRules({ prefix: "backups", sources, retention: { daily: 7, weekly: 4, monthly: 12, yearly: 1 }, compliance: compliance.map((prefix) => ({ prefix, days: 30 })) }),
          ...bucketSourceRules("backups", sources.map((n) => ({ name: n, windowDays: 7 }))),
        ];
        expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
      }),
    );
  });
});
