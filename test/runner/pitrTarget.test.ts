import fc from "fast-check";
import { parseRecoveryTarget } from "../../runner/src/pitr/target";

describe("parseRecoveryTarget", () => {
  test("keeps microseconds for recovery_target_time", () => {
    const t = parseRecoveryTarget("2026-11-22T13:30:00.123456Z");
    expect(t.pgText).toBe("2026-11-22 13:30:00.123456+00:00");
    expect(t.iso).toBe("2026-11-22T13:30:00.123456Z");
    expect(t.at.toISOString()).toBe("2026-11-22T13:30:00.123Z"); // rounded down: never after the target
  });
  test("offsets are converted to UTC, microseconds kept", () => {
    expect(parseRecoveryTarget("2026-11-22 15:30:00.000001+02:00").pgText).toBe("2026-11-22 13:30:00.000001+00:00");
    expect(parseRecoveryTarget("2026-11-22T08:00:00-0530").iso).toBe("2026-11-22T13:30:00.000000Z");
    expect(parseRecoveryTarget("2026-11-22T13:30:00+00").iso).toBe("2026-11-22T13:30:00.000000Z");
  });
  test("a key timestamp is UTC", () => {
    expect(parseRecoveryTarget("20261122T133000.058Z").iso).toBe("2026-11-22T13:30:00.058000Z");
  });
  test("refuses a time without a zone, naming --at and what to add", () => {
    expect(() => parseRecoveryTarget("2026-11-22 13:30:00")).toThrow(/--at "2026-11-22 13:30:00" has no time zone: add Z \(UTC\) or an offset/);
  });
  test("refuses more than microseconds, rolled-over fields and garbage", () => {
    expect(() => parseRecoveryTarget("2026-11-22T13:30:00.1234567Z")).toThrow(/--at: must be "latest" or a time with a zone/);
    expect(() => parseRecoveryTarget("2026-02-30T13:30:00Z")).toThrow(/is not a valid time/);
    expect(() => parseRecoveryTarget("2026-11-22T25:30:00Z")).toThrow(/is not a valid time/);
    expect(() => parseRecoveryTarget("yesterday")).toThrow(/--at/);
  });
  test("property: any instant with any microseconds and offset round-trips exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }), fc.integer({ min: 0, max: 999 }), fc.integer({ min: -14 * 4, max: 14 * 4 }), (ms, us, q) => {
        const offMin = q * 15;
        const local = new Date(ms + offMin * 60_000).toISOString().slice(0, 23);
        const sign = offMin < 0 ? "-" : "+";
        const abs = Math.abs(offMin);
        const off = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
        const t = parseRecoveryTarget(`${local}${String(us).padStart(3, "0")}${off}`);
        expect(t.at.getTime()).toBe(ms);
        expect(t.iso).toBe(new Date(ms).toISOString().slice(0, 23) + String(us).padStart(3, "0") + "Z");
      }),
    );
  });
});
