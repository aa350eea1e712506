import fc from "fast-check";
import { rotatingName, rotationEpoch, rotationWindow } from "../../components/access/rotation";

const DAY = 86_400_000;

describe("rotationEpoch", () => {
  it("labels 90-day periods by the UTC date they start on, counted from 1970-01-01", () => {
    // 2025-12-04 is day 20426 = 226 * 90 + 86 since the Unix epoch; the period began on day 20340 = 2025-09-09.
    expect(rotationEpoch(new Date("2025-12-04T10:00:00Z"), 90)).toBe("2025-09-09");
    expect(rotationEpoch(new Date("1970-01-01T00:00:00Z"), 90)).toBe("1970-01-01");
    expect(rotationEpoch(new Date("2026-03-05T12:00:00Z"), 1)).toBe("2026-03-05");
  });

  it("is the same throughout a period", () => {
    const { startsAt, rotatesAt } = rotationWindow(new Date("2026-01-20T00:00:00Z"), 90);
    const label = rotationEpoch(startsAt, 90);
    for (let t = startsAt.getTime(); t < rotatesAt.getTime(); t += 7 * DAY + 12_345) {
      expect(rotationEpoch(new Date(t), 90)).toBe(label);
    }
    expect(rotationEpoch(new Date(rotatesAt.getTime() - 1), 90)).toBe(label);
  });

  it("changes exactly at the boundary, not a millisecond before", () => {
    const { epoch, rotatesAt } = rotationWindow(new Date("2026-01-20T00:00:00Z"), 90);
    expect(rotationEpoch(new Date(rotatesAt.getTime() - 1), 90)).toBe(epoch);
    const next = rotationEpoch(rotatesAt, 90);
    expect(next).not.toBe(epoch);
    expect(next).toBe(rotatesAt.toISOString().slice(0, 10));
  });

  it("advancing the clock past the period gives a new label (the key resource is replaced)", () => {
    const now = new Date("2026-01-20T08:30:00Z");
    const later = new Date(now.getTime() + 90 * DAY);
    expect(rotationEpoch(later, 90)).not.toBe(rotationEpoch(now, 90));
    expect(rotatingName("prod-writer-key", rotationEpoch(later, 90))).not.toBe(rotatingName("prod-writer-key", rotationEpoch(now, 90)));
  });

  it("rejects periods that are not whole positive days, and invalid dates", () => {
    for (const bad of [0, -90, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => rotationEpoch(new Date(), bad)).toThrow(/whole number of days/);
    }
    expect(() => rotationEpoch(new Date("not a date"), 90)).toThrow(/invalid date/);
  });

  describe("properties", () => {
    const time = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) });
    const period = fc.integer({ min: 1, max: 3650 });

    it("now lies in [startsAt, rotatesAt), which is exactly one period long and starts at UTC midnight on the label's date", () => {
      fc.assert(
        fc.property(time, period, (t, days) => {
          const w = rotationWindow(new Date(t), days);
          expect(w.startsAt.getTime()).toBeLessThanOrEqual(t);
          expect(w.rotatesAt.getTime()).toBeGreaterThan(t);
          expect(w.rotatesAt.getTime() - w.startsAt.getTime()).toBe(days * DAY);
          expect(w.startsAt.toISOString()).toBe(`${w.epoch}T00:00:00.000Z`);
        }),
        { numRuns: 500 },
      );
    });

    it("two instants share a label iff no boundary lies between them; labels never go backwards", () => {
      fc.assert(
        fc.property(time, time, period, (a, b, days) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const samePeriod = Math.floor(lo / (days * DAY)) === Math.floor(hi / (days * DAY));
          const la = rotationEpoch(new Date(lo), days);
          const lb = rotationEpoch(new Date(hi), days);
          expect(la === lb).toBe(samePeriod);
          expect(la <= lb).toBe(true);
        }),
        { numRuns: 500 },
      );
    });
  });
});

describe("rotatingName", () => {
  it("appends the epoch to the resource name and refuses non-epochs", () => {
    expect(rotatingName("prod-main-db-writer-key", "2025-09-09")).toBe("prod-main-db-writer-key-2025-09-09");
    expect(() => rotatingName("k", "soon")).toThrow(/epoch/);
  });
});
