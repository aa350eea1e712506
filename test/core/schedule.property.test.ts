import { Cron } from "croner";
import fc from "fast-check";
import { worstCaseIntervalSeconds } from "lifeboat-core";

/** The reference: walk every run over the horizon and take the longest gap. Slow, obviously right. */
function bruteForce(expr: string, from: Date, horizonDays: number): number {
  const cron = new Cron(expr, { timezone: "UTC", paused: true });
  const start = Math.floor(from.getTime() / 86_400_000) * 86_400_000;
  const end = start + horizonDays * 86_400_000;
  let prev = cron.nextRun(new Date(start - 1));
  if (!prev || prev.getTime() >= end) throw new RangeError("does not run");
  let worst = 0;
  for (;;) {
    const next = cron.nextRun(prev);
    if (!next || next.getTime() >= end) break;
    worst = Math.max(worst, (next.getTime() - prev.getTime()) / 1000);
    prev = next;
  }
  if (worst === 0) throw new RangeError("runs once");
  return worst;
}

const field = (options: string[]) => fc.constantFrom(...options);
const cronExpr = fc
  .tuple(
    field(["0", "*/15", "0,30", "15", "5,50"]),
    field(["*", "3", "*/6", "0-5", "9-17", "23"]),
    field(["*", "1", "15", "1,15", "*/10", "L"]),
    field(["*", "1", "*/2", "6-8"]),
    field(["*", "0", "1-5", "6", "0,3"]),
  )
  .map((f) => f.join(" "));

describe("worstCaseIntervalSeconds", () => {
  it("equals the longest gap found by walking every run (35-day horizons)", () => {
    fc.assert(
      fc.property(cronExpr, fc.integer({ min: 0, max: 730 }), (expr, dayOffset) => {
        const from = new Date(Date.UTC(2026, 0, 1) + dayOffset * 86_400_000);
        let expected: number | "throws";
        try {
          expected = bruteForce(expr, from, 35);
        } catch {
          expected = "throws";
        }
        if (expected === "throws") expect(() => worstCaseIntervalSeconds(expr, from, 35)).toThrow(RangeError);
        else expect(worstCaseIntervalSeconds(expr, from, 35)).toBe(expected);
      }),
      { numRuns: 60 },
    );
  });

  it("sees gaps longer than a walk of 20 000 runs would reach", () => {
    // Every minute of January, then nothing until the next January.
    expect(worstCaseIntervalSeconds("* * * 1 *")).toBe((365 - 31) * 86400 + 60);
    expect(worstCaseIntervalSeconds("0 * * * *")).toBe(3600);
    expect(worstCaseIntervalSeconds("15 1 * * 1-5")).toBe(3 * 86400);
  });
});
