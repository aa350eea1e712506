import fc from "fast-check";
import { parseBackupKey } from "lifeboat-core";
import { AtTime, parseAt, pickBackup } from "../../runner/src/catalog";

const at = (text: string) => {
  const r = parseAt(text);
  if (!(r instanceof AtTime)) throw new Error(`${text} parsed to ${String(r)}, not a time`);
  return r;
};

describe("--at: ISO 8601 with a zone, latest, latest-verified or a key timestamp; nothing else", () => {
  test("the keywords and the key timestamp form", () => {
    expect(parseAt(undefined)).toBe("latest");
    expect(parseAt("latest")).toBe("latest");
    expect(parseAt("latest-verified")).toBe("latest-verified");
    expect(at("20261122T124042.123Z").toISOString()).toBe("2026-11-22T12:40:42.123Z");
  });

  test("zones: Z, +HH:MM, +HHMM, +HH, and the space form PostgreSQL prints", () => {
    expect(at("2026-11-22T12:00:00Z").toISOString()).toBe("2026-11-22T12:00:00.000Z");
    expect(at("2026-11-22T12:00Z").toISOString()).toBe("2026-11-22T12:00:00.000Z");
    expect(at("2026-11-22T13:30:00+01:30").toISOString()).toBe("2026-11-22T12:00:00.000Z");
    expect(at("2026-11-22T07:00:00-0500").toISOString()).toBe("2026-11-22T12:00:00.000Z");
    expect(at("2026-11-22 14:00:00+02").toISOString()).toBe("2026-11-22T12:00:00.000Z");
  });

  test("keeps microseconds (a Date keeps only milliseconds): the instant is floored to the ms for picking, the µs kept for display and recovery targets", () => {
    const t = at("2026-11-22T12:00:00.123456Z");
    expect(t.toISOString()).toBe("2026-11-22T12:00:00.123Z");
    expect(t.micros).toBe(456);
    expect(t.toIsoMicros()).toBe("2026-11-22T12:00:00.123456Z");
    // Never rounded up: .000999 is before a backup keyed at .001.
    const k = "p/db/daily/20261122T120000.001Z-abcdef.dump.zst.age";
    const parts = parseBackupKey("p", k)!;
    const e = { key: k, manifestKey: k + ".manifest.json", parts, size: 1, storedAt: parts.time, flags: [] };
    expect(() => pickBackup([e], "db", at("2026-11-22T12:00:00.000999Z"))).toThrow(/no backup of db taken at or before 2026-11-22T12:00:00.000999Z/);
    expect(pickBackup([e], "db", at("2026-11-22T12:00:00.001Z")).key).toBe(k);
  });

  test.each([
    ["2026-11-22T12:00:00", /no time zone/],
    ["2026-11-22 12:00", /no time zone/],
    ["2026-11-22", /no time zone/],
    ["Dec 1", /ISO 8601/],
    ["Tue Dec 01 2026 12:00:00 GMT+0000", /ISO 8601/],
    ["1733000000", /ISO 8601/],
    ["yesterday", /ISO 8601/],
    ["2026-02-30T00:00:00Z", /no such date/],
    ["2026-13-01T00:00:00Z", /no such date/],
    ["2026-11-22T24:00:00Z", /no such time/],
    ["2026-11-22T12:60:00Z", /no such time/],
    ["2026-11-22T12:00:00+25:00", /zone offset/],
    ["2026-11-22T12:00:00.1234567Z", /microseconds/],
  ])("%s is refused, naming --at", (text, why) => {
    expect(() => parseAt(text)).toThrow(/^--at: /);
    expect(() => parseAt(text)).toThrow(why);
  });

  test("property: every instant written as ISO 8601 in any whole-minute offset parses back to that instant", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date("1971-01-01T00:00:00Z"), max: new Date("2999-12-31T00:00:00Z"), noInvalidDate: true }),
        fc.integer({ min: -14 * 60, max: 14 * 60 }),
        fc.integer({ min: 0, max: 999 }),
        (d, offMin, micros) => {
          const local = new Date(d.getTime() + offMin * 60_000).toISOString().slice(0, 23);
          const sign = offMin < 0 ? "-" : "+";
          const abs = Math.abs(offMin);
          const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
          const t = at(`${local}${String(micros).padStart(3, "0")}${zone}`);
          return t.getTime() === d.getTime() && t.micros === micros;
        },
      ),
    );
  });

  test("property: a time without a zone is always refused (never read in the host's zone)", () => {
    fc.assert(
      fc.property(fc.date({ min: new Date("1971-01-01T00:00:00Z"), max: new Date("2999-12-31T00:00:00Z"), noInvalidDate: true }), (d) => {
        const local = d.toISOString().slice(0, 19);
        expect(() => parseAt(local)).toThrow(/--at: .*no time zone/);
      }),
    );
  });
});
