import fc from "fast-check";
const { longestFirst } = require("./sequencer") as { longestFirst: (tests: Suite[], failed: (t: Suite) => boolean) => Suite[] };

interface Suite {
  path: string;
  duration?: number;
  failed?: boolean;
}
const order = (tests: Suite[]) => longestFirst(tests, (t) => !!t.failed).map((t) => t.path);

describe("the suite order (test/support/sequencer.js)", () => {
  it("runs timed suites longest first, untimed end-to-end suites before them and untimed other suites after them", () => {
    expect(order([
      { path: "unit-new.test.ts" },
      { path: "a.test.ts", duration: 2000 },
      { path: "slow.e2e.test.ts", duration: 90_000 },
      { path: "new.e2e.test.ts" },
      { path: "b.e2e.test.ts", duration: 5000 },
    ])).toEqual(["new.e2e.test.ts", "slow.e2e.test.ts", "b.e2e.test.ts", "a.test.ts", "unit-new.test.ts"]);
  });

  it("runs a suite that failed last time first, however short", () => {
    expect(order([{ path: "slow.e2e.test.ts", duration: 90_000 }, { path: "quick.test.ts", duration: 10, failed: true }])).toEqual(["quick.test.ts", "slow.e2e.test.ts"]);
  });

  it("is a permutation: every suite once, failed ones first, then never a shorter weight before a longer one, ties in the order given", () => {
    const suite = fc.record({
      name: fc.stringMatching(/^[a-z]{1,6}$/),
      e2e: fc.boolean(),
      duration: fc.option(fc.nat(100_000), { nil: undefined }),
      failed: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(suite, { maxLength: 30 }), (raw) => {
      const tests: Suite[] = raw.map((s, i) => ({ path: `${i}-${s.name}${s.e2e ? ".e2e" : ""}.test.ts`, ...(s.duration !== undefined ? { duration: s.duration } : {}), failed: s.failed }));
      const out = longestFirst(tests, (t) => !!t.failed);
      expect([...out].sort((a, b) => a.path.localeCompare(b.path))).toEqual([...tests].sort((a, b) => a.path.localeCompare(b.path)));
      const weight = (t: Suite) => t.duration ?? (t.path.endsWith(".e2e.test.ts") ? Infinity : 0);
      for (let i = 1; i < out.length; i++) {
        const [a, b] = [out[i - 1]!, out[i]!];
        if (!!a.failed !== !!b.failed) expect(a.failed).toBe(true);
        else if (weight(a) === weight(b)) expect(tests.indexOf(a)).toBeLessThan(tests.indexOf(b));
        else expect(weight(a)).toBeGreaterThan(weight(b));
      }
    }));
  });
});
