import fc from "fast-check";
import { BASE_BACKUP_RUN_DAYS, walRetentionDays } from "lifeboat-core";

const DAY = 86_400;

describe("walRetentionDays: WAL kept long enough that every time in the PITR window is restorable", () => {
  // Base backups start every `interval` seconds (the schedule's worst gap) and each runs up to
  // BASE_BACKUP_RUN_DAYS. A time t is restorable from the newest base that finished by t, with
  // WAL from that base's start. The WAL the bucket still holds at `now` is what is younger
  // than walRetentionDays. Every t in [now - window, now] must find its WAL.
  it("covers the oldest time of the window whatever the phase of the base-backup schedule", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 600, max: 30 * DAY }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (windowDays, interval, phase, runShare, targetShare) => {
          const now = 1000 * 365 * DAY;
          const run = runShare * BASE_BACKUP_RUN_DAYS * DAY;
          const target = now - windowDays * DAY * targetShare;
          // The newest base backup that finished by `target`: starts at first + k * interval.
          const first = phase * interval;
          const k = Math.floor((target - run - first) / interval);
          const baseStart = first + k * interval;
          expect(baseStart + run).toBeLessThanOrEqual(target);
          const walNeededFrom = baseStart;
          expect(now - walNeededFrom).toBeLessThanOrEqual(walRetentionDays(windowDays, interval) * DAY);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("is no longer than that bound needs: the window, one interval rounded up to days, one day", () => {
    expect(walRetentionDays(14, DAY)).toBe(16);
    expect(walRetentionDays(21, 6 * 3600)).toBe(23);
    expect(walRetentionDays(6, 7 * DAY)).toBe(14);
  });

  it("refuses a window that is not whole days and an interval that is not positive", () => {
    expect(() => walRetentionDays(0.5, DAY)).toThrow(/whole number of days/);
    expect(() => walRetentionDays(7, 0)).toThrow(/interval must be positive/);
  });
});
