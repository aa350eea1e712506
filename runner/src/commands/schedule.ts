import { spawn, ChildProcess } from "node:child_process";
import { Cron } from "croner";
import { Logger } from "pino";
import { assertCron, parseDuration } from "lifeboat-core";
import { UsageError, errorMessage } from "../errors";
import { ENV } from "../env";
import { defaultStatePath, recordSchedulerStart } from "../state";

export interface ScheduleOpts {
  cron?: string;
  runAtStart?: boolean;
  stateFile?: string;
  runTimeout?: string;
}

/** How long past its --run-timeout a run may take to fail cleanly (alert, state file) before the scheduler kills it: a minute, or the bound itself when shorter. */
export const KILL_GRACE_SECONDS = 60;

/**
 * Long-running mode for the container: runs `lifeboat-runner <command...>` on a cron schedule
 * (UTC), one run at a time (a tick that comes while a run is still going is skipped and
 * logged), each run a fresh child process so that one run's memory never carries to the next.
 * Runs bound themselves (--run-timeout, LIFEBOAT_RUN_TIMEOUT, which they inherit); as a backstop
 * a run still going a grace period ({@link KILL_GRACE_SECONDS}) past the scheduler's bound is
 * killed, so that no run (one given a longer bound of its own, or one stuck where its deadline
 * does not reach) can hold the schedule: every later tick would be skipped.
 */
export async function scheduleCommand(command: string[], o: ScheduleOpts, log: Logger): Promise<number> {
  if (!o.cron) throw new UsageError("--cron EXPR is required, e.g. --cron '0 3 * * *'");
  try {
    assertCron(o.cron);
  } catch (e) {
    throw new UsageError(`--cron: ${(e as Error).message}`);
  }
  if (command.length === 0) throw new UsageError("schedule needs a command after --, e.g. schedule --cron '0 3 * * *' -- backup --source postgres --name db");
  if (command[0] === "schedule") throw new UsageError("schedule cannot schedule itself");
  const runTimeout = o.runTimeout ?? "6h";
  let killAfterMs: number;
  try {
    const bound = parseDuration(runTimeout);
    killAfterMs = (bound + Math.min(KILL_GRACE_SECONDS, bound)) * 1000;
  } catch (e) {
    throw new UsageError(`--run-timeout: ${(e as Error).message}`);
  }
  const script = process.argv[1]!;
  const stateFile = o.stateFile || defaultStatePath();
  await recordSchedulerStart(stateFile, new Date()).catch((e) => log.warn(`could not write state file ${stateFile}: ${errorMessage(e)}`));
  let current: ChildProcess | undefined;
  let stopping = false;
  const runOnce = (): Promise<void> =>
    new Promise((resolve) => {
      const started = Date.now();
      log.info({ command: command[0] }, `run started: ${command[0]}`);
      // The run's own bound defaults to the scheduler's (a --run-timeout in the command wins).
      const env = { ...process.env, [ENV.runTimeout]: runTimeout };
      const child = spawn(process.execPath, [script, ...command], { stdio: ["ignore", "inherit", "inherit"], env });
      current = child;
      let hard: NodeJS.Timeout | undefined;
      const backstop = setTimeout(() => {
        log.error({ command: command[0], seconds: killAfterMs / 1000 }, `run of ${command[0]} still going ${killAfterMs / 1000}s after it started (--run-timeout ${runTimeout} and grace): killing it`);
        child.kill("SIGTERM");
        hard = setTimeout(() => child.kill("SIGKILL"), 10_000);
      }, killAfterMs);
      child.on("close", (code, signal) => {
        clearTimeout(backstop);
        clearTimeout(hard);
        const seconds = (Date.now() - started) / 1000;
        if (code === 0) log.info({ command: command[0], code, seconds }, `run finished: ${command[0]}`);
        else log.error({ command: command[0], code, signal, seconds }, `run failed: ${command[0]} exited ${code ?? signal}`);
        current = undefined;
        resolve();
      });
      child.on("error", (e) => log.error({ err: e.message }, "could not start run"));
    });
  const job = new Cron(o.cron, { timezone: "UTC", protect: () => log.warn("previous run still going; skipping this tick") }, async () => {
    if (!stopping) await runOnce();
  });
  log.info({ cron: o.cron, next: job.nextRun()?.toISOString() }, `scheduled ${command[0]} at "${o.cron}" (UTC)`);
  if (o.runAtStart) void job.trigger();
  return new Promise<number>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      job.stop();
      log.info({ signal: sig }, "stopping scheduler");
      if (current) {
        current.kill(sig);
        current.on("close", () => resolve(0));
      } else resolve(0);
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}
