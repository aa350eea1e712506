/**
 * The exit codes of a run stopped by a signal (runner/src/stop.ts) and how the scheduler reads
 * them back into a job's state. The stop itself is tested end to end in stop.e2e.test.ts.
 */
import { signalExitCode, stoppedBy, STOP_GRACE_MS } from "../../runner/src/stop";

describe("a stopped run's exit code", () => {
  test("128 + the signal's number, as a shell reports a process a signal ended: SIGTERM 143, SIGINT 130", () => {
    expect(signalExitCode("SIGTERM")).toBe(143);
    expect(signalExitCode("SIGINT")).toBe(130);
  });

  test("the scheduler reads 143 and 130 back as the signal that stopped the run, and no other code", () => {
    expect(stoppedBy(143)).toBe("SIGTERM");
    expect(stoppedBy(130)).toBe("SIGINT");
    for (const code of [0, 1, 2, 3, 70, 128, 137, 255]) expect(stoppedBy(code)).toBeUndefined();
  });

  test("a stopped run gives up inside the 10 s the scheduler's backstop and docker stop wait before SIGKILL", () => {
    expect(STOP_GRACE_MS).toBeLessThan(10_000);
  });
});
