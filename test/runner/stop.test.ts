/**
 * The exit codes of a run stopped by a signal (runner/src/stop.ts) and how the scheduler reads
 * them back into a job's state. The stop itself is tested end to end in stop.e2e.test.ts.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { signalExitCode, stoppedBy, STOP_GRACE_MS } from "../../runner/src/stop";
import { REPO } from "../support/runner";

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

describe("a runner's exit", () => {
  test("stops every child it started that is still running, whatever path it exits by", async () => {
    // A child no pipe ties to node (pg_restore, a shell waiting to open a FIFO) would outlive it.
    const script = `
      const { startProc } = require(${JSON.stringify(join(REPO, "runner/dist/proc.js"))});
      const p = startProc("sleeper", "sleep", ["60"], { stdinIgnore: true });
      p.done.catch(() => undefined);
      setTimeout(() => process.stdout.write(String(p.child.pid) + "\\n", () => process.exit(1)), 200);`;
    const pid = Number(spawnSync(process.execPath, ["-e", script], { encoding: "utf8" }).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    const alive = () => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false);
  }, 20_000);
});
