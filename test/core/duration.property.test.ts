import fc from "fast-check";
import { formatDuration, humanDuration, parseDuration } from "lifeboat-core";

describe("humanDuration: one way to show a length of time to people", () => {
  test.each([
    [0, "0s"],
    [45, "45s"],
    [1161, "19m 21s"],
    [3600, "1h"],
    [5400, "1h 30m"],
    [86_400, "1d"],
    [604_800, "7d"],
    [5_295_074, "61d 6h"],
    [93_784.6, "1d 2h"],
  ])("%d s is %s", (s, text) => {
    expect(humanDuration(s)).toBe(text);
  });

  test("it parses back to at most the duration, short by less than its last unit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 * 86_400 }), (s) => {
        const text = humanDuration(s);
        expect(text.split(" ").length).toBeLessThanOrEqual(2);
        const back = parseDuration(text);
        const last = { s: 1, m: 60, h: 3600, d: 86_400 }[text.slice(-1) as "s" | "m" | "h" | "d"];
        expect(back).toBeLessThanOrEqual(s);
        expect(s - back).toBeLessThan(last);
      }),
    );
  });

  test("a duration written either way reads the same (24h and 1d)", () => {
    expect(humanDuration(parseDuration("24h"))).toBe(humanDuration(parseDuration("1d")));
    expect(humanDuration(parseDuration("2w"))).toBe("14d");
  });

  test("formatDuration stays exact, for values passed back as flags", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000_000 }), (s) => expect(parseDuration(formatDuration(s))).toBe(s)));
  });
});
