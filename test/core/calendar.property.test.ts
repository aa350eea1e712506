import fc from "fast-check";
import { Retention, TIERS, tierExpiryDays, tierFor } from "lifeboat-core";
import { bucketRules } from "../../components/bucket/rules";

const DAY = 86400_000;
/** Instants from 1970 to 2200, whole milliseconds. */
const instant = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }).map((ms) => new Date(ms));
const retention: fc.Arbitrary<Retention> = fc.record({
  daily: fc.integer({ min: 1, max: 400 }),
  weekly: fc.integer({ min: 0, max: 104 }),
  monthly: fc.integer({ min: 0, max: 120 }),
  yearly: fc.integer({ min: 0, max: 30 }),
});

describe("retention calendar", () => {
  it("files the documented dates under the documented tiers (UTC)", () => {
    expect(tierFor(new Date("2027-01-01T00:00:00Z"))).toBe("yearly");
    expect(tierFor(new Date("2026-12-01T23:59:59Z"))).toBe("monthly");
    expect(tierFor(new Date("2026-11-22T12:00:00Z"))).toBe("weekly"); // a Sunday
    expect(tierFor(new Date("2026-11-23T00:00:00Z"))).toBe("daily");
    // 1 March 2026 is a Sunday: the monthly rule wins over the weekly one.
    expect(tierFor(new Date("2026-03-01T10:00:00Z"))).toBe("monthly");
    // Late on 31 Dec in New York is already 1 Jan in UTC.
    expect(tierFor(new Date("2026-12-31T23:30:00-05:00"))).toBe("yearly");
  });

  it("maps every instant to exactly one tier, the one its UTC date asks for", () => {
    fc.assert(
      fc.property(instant, (t) => {
        const tier = tierFor(t);
        const matches = {
          yearly: t.getUTCDate() === 1 && t.getUTCMonth() === 0,
          monthly: t.getUTCDate() === 1 && t.getUTCMonth() !== 0,
          weekly: t.getUTCDate() !== 1 && t.getUTCDay() === 0,
          daily: t.getUTCDate() !== 1 && t.getUTCDay() !== 0,
        };
        expect(TIERS.filter((k) => matches[k])).toEqual([tier]);
      }),
    );
  });

  it("keeps a restore point for every day inside the daily window, whatever the retention", () => {
    fc.assert(
      fc.property(retention, instant, fc.integer({ min: 0, max: 1000 }), (r, now, back) => {
        const daysBack = back % r.daily; // a day strictly inside the daily window
        const taken = new Date(now.getTime() - daysBack * DAY);
        const expiry = tierExpiryDays(r);
        const ageDays = (now.getTime() - taken.getTime()) / DAY;
        expect(ageDays).toBeLessThan(expiry[tierFor(taken)]);
      }),
    );
  });

  it("keeps at least the configured number of points in each tier", () => {
    fc.assert(
      fc.property(retention, (r) => {
        const e = tierExpiryDays(r);
        expect(e.daily).toBeGreaterThanOrEqual(r.daily);
        expect(e.weekly).toBeGreaterThanOrEqual(r.weekly * 7);
        expect(e.monthly).toBeGreaterThanOrEqual(r.monthly * 31);
        expect(e.yearly).toBeGreaterThanOrEqual(r.yearly * 366);
        // A longer-lived tier never expires first.
        expect(e.daily).toBeLessThanOrEqual(e.weekly);
        expect(e.weekly).toBeLessThanOrEqual(e.monthly);
        expect(e.monthly).toBeLessThanOrEqual(e.yearly);
      }),
    );
  });

  it("never locks an object longer than it lives, and expires every tier prefix (R2 locks override lifecycle)", () => {
    const source = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/);
    fc.assert(
      fc.property(retention, fc.uniqueArray(source, { minLength: 1, maxLength: 6 }), (r, sources) => {
        const rules = bucketRules({ prefix: "backups", sources, retention: r, compliance: [{ prefix: "audit-logs", days: 365 }] });
        for (const rule of rules) {
          expect(rule.expireDays).toBeGreaterThan(0);
          if (rule.lockDays !== undefined) expect(rule.lockDays).toBeLessThanOrEqual(rule.expireDays);
        }
        for (const s of sources) for (const t of TIERS) expect(rules.some((x) => x.prefix === `backups/${s}/${t}/`)).toBe(true);
        expect(new Set(rules.map((x) => x.id)).size).toBe(rules.length);
      }),
    );
  });
});
