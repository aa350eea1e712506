import fc from "fast-check";
import { formatRetention, tierFor, TIERS } from "lifeboat-core";
import { lockFor, lockPolicy, parseRetention } from "../../runner/src/lock";
import { runStart } from "../../runner/src/clock";

const DAY = 86_400_000;

describe("--retention / --lock-mode", () => {
  test("parses every tier in its own unit, with an optional floor", () => {
    expect(parseRetention("daily=30d,weekly=12w,monthly=12m,yearly=7y")).toEqual({ retention: { daily: 30, weekly: 12, monthly: 12, yearly: 7 }, floorDays: 0 });
    expect(parseRetention(" yearly=7y, monthly=12m,weekly=2w,daily=14d,floor=365d ")).toEqual({ retention: { daily: 14, weekly: 2, monthly: 12, yearly: 7 }, floorDays: 365 });
  });

  test.each([
    ["daily=30d,weekly=12w,monthly=12m", /missing yearly/],
    ["daily=30w,weekly=12w,monthly=12m,yearly=7y", /daily is counted in d/],
    ["daily=30d,weekly=12w,monthly=12m,yearly=7y,hourly=3d", /unknown tier "hourly"/],
    ["daily=30d,daily=31d,weekly=12w,monthly=12m,yearly=7y", /daily is given twice/],
    ["daily=thirty", /must be TIER=COUNT\+UNIT/],
  ])("%s is refused, naming the flag", (text, why) => {
    expect(() => parseRetention(text)).toThrow(/^--retention: /);
    expect(() => parseRetention(text)).toThrow(why);
  });

  test("both flags or neither", () => {
    expect(lockPolicy(undefined, undefined)).toBeUndefined();
    expect(() => lockPolicy("daily=30d,weekly=12w,monthly=12m,yearly=7y", undefined)).toThrow(/--retention needs --lock-mode/);
    expect(() => lockPolicy(undefined, "governance")).toThrow(/--lock-mode needs --retention/);
    expect(() => lockPolicy("daily=30d,weekly=12w,monthly=12m,yearly=7y", "strict")).toThrow(/--lock-mode: must be governance or compliance/);
    expect(lockPolicy("daily=30d,weekly=12w,monthly=12m,yearly=7y", "compliance")?.mode).toBe("compliance");
  });

  test("the production defaults lock each tier for the days its lifecycle rule keeps it", () => {
    const policy = lockPolicy("daily=30d,weekly=12w,monthly=12m,yearly=7y", "governance")!;
    const at = new Date("2027-03-03T03:00:00Z");
    const days = (t: (typeof TIERS)[number]) => (lockFor(policy, t, at).retainUntil.getTime() - at.getTime()) / DAY;
    expect(TIERS.map(days)).toEqual([30, 84, 372, 2562]);
    expect(lockFor(policy, "daily", at).mode).toBe("GOVERNANCE");
  });

  test("property: format/parse round-trips, retain-until is the tier's expiry (never below the floor), longer tiers are never locked shorter", () => {
    const count = fc.integer({ min: 0, max: 500 });
    fc.assert(
      fc.property(
        fc.record({ daily: count, weekly: count, monthly: count, yearly: count }),
        fc.integer({ min: 0, max: 4000 }),
        fc.date({ min: new Date("2020-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }),
        (retention, floorDays, at) => {
          const parsed = parseRetention(formatRetention(retention, floorDays));
          expect(parsed).toEqual({ retention, floorDays });
          const policy = { mode: "compliance" as const, ...parsed };
          const until = TIERS.map((t) => lockFor(policy, t, at).retainUntil.getTime());
          for (let i = 0; i < TIERS.length; i++) {
            expect(until[i]! - at.getTime()).toBeGreaterThanOrEqual(floorDays * DAY);
            if (i > 0) expect(until[i]!).toBeGreaterThanOrEqual(until[i - 1]!);
          }
          expect(until[0]! - at.getTime()).toBe(Math.max(retention.daily, floorDays) * DAY);
        },
      ),
    );
  });
});

describe("LIFEBOAT_NOW (the run's start time)", () => {
  test("unset: the wall clock; set: that time, which decides the tier", () => {
    const before = Date.now();
    expect(runStart({}).getTime()).toBeGreaterThanOrEqual(before);
    expect(tierFor(runStart({ LIFEBOAT_NOW: "2027-01-01T03:00:00Z" }))).toBe("yearly");
    expect(() => runStart({ LIFEBOAT_NOW: "yesterday" })).toThrow(/LIFEBOAT_NOW: must be an ISO 8601 time/);
  });
});
