/**
 * How a one-shot run (backup, restore, verify, basebackup) stops on SIGTERM or SIGINT: the
 * scheduler's backstop, `docker stop`, an ECS task stop or Ctrl-C. Without a handler node dies at
 * once and leaves its FIFO directory, its child processes, a partial file or an unfinished
 * multipart upload, and no record of the run.
 *
 * The first signal makes the run fail the way any run fails, so the one failure path of each
 * command cleans up, records and alerts: every child process of the run is stopped (proc.ts
 * registers each with {@link whenStopped}) and {@link runStopped}, which the stores' requests and
 * writes honour like the run's deadline (context.ts), is aborted with "stopped by SIGTERM". The
 * run then exits 128 + the signal's number (143, 130). A second signal exits at once, and so does
 * a run still going {@link STOP_GRACE_MS} after the first.
 */
import { constants } from "node:os";
import { EXIT_DEGRADED, EXIT_OK, RunError, errorMessage } from "./errors";

const controller = new AbortController();

/** Aborted, with `stopped by SIGNAL` as its reason, when a signal stopped this run (only after {@link stopOnSignals}). */
export const runStopped: AbortSignal = controller.signal;

const stoppers = new Set<() => void>();
let exitCode: number | undefined;
let installed = false;

/**
 * How long a stopped run has to go through its failure path (kill, abort the upload, record, alert)
 * before it exits anyway: inside the 10 s the scheduler and `docker stop` give before SIGKILL.
 */
export const STOP_GRACE_MS = 8000;

/** The signals a one-shot run stops on. */
export const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The shell's convention for a process ended by a signal: 128 + its number (SIGTERM 143, SIGINT 130). */
export function signalExitCode(sig: StopSignal): number {
  return 128 + constants.signals[sig];
}

/** The stop signal a runner's exit code says ended its run (143: SIGTERM, 130: SIGINT), for the scheduler's job state. */
export function stoppedBy(code: number): StopSignal | undefined {
  return STOP_SIGNALS.find((s) => signalExitCode(s) === code);
}

/** Installs the SIGTERM/SIGINT handlers of a one-shot run (cli.ts, before the command starts). */
export function stopOnSignals(): void {
  if (installed) return;
  installed = true;
  const say = (text: string) => process.stderr.write(`lifeboat-runner: ${text}\n`);
  for (const sig of STOP_SIGNALS) {
    process.on(sig, () => {
      if (exitCode !== undefined) {
        say(`second signal (${sig}): exiting now`);
        process.exit(signalExitCode(sig));
      }
      const code = signalExitCode(sig);
      exitCode = code;
      say(`${sig}: stopping the run (a second signal exits at once)`);
      controller.abort(new RunError(`stopped by ${sig}`));
      for (const stop of [...stoppers]) stop();
      // unref: a run that finished its failure path exits on its own, sooner.
      setTimeout(() => {
        say(`the run did not stop within ${STOP_GRACE_MS / 1000} s of ${sig}: exiting now`);
        process.exit(code);
      }, STOP_GRACE_MS).unref();
    });
  }
}

/**
 * Calls `stop` when the run is stopped (at once if it already was), and also when the runner
 * exits by any path while it is still registered; returns what forgets it. proc.ts registers
 * every child process until it closes, so a runner never leaves a child behind: a stage waiting
 * to open a FIFO whose reader never came would otherwise wait forever once the runner is gone
 * (no pipe break reaches a process that has not opened its end yet).
 */
export function whenStopped(stop: () => void): () => void {
  if (runStopped.aborted) {
    stop();
    return () => undefined;
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const s of [...stoppers]) s();
    });
  }
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

let exitHookInstalled = false;

/**
 * The exit code of a run that ended with `code`: 128 + the signal when a signal stopped it and it
 * failed; a run that had already succeeded (its manifest written, its restore done) keeps its code.
 */
export function exitCodeAfter(code: number): number {
  if (exitCode === undefined || code === EXIT_OK || code === EXIT_DEGRADED) return code;
  return exitCode;
}

/**
 * A failure's message as the run records and alerts it: when a signal stopped the run, it says so
 * first (what broke as a consequence, a pipe or a request, follows).
 */
export function failureMessage(e: unknown): string {
  const m = errorMessage(e);
  if (!runStopped.aborted) return m;
  const why = errorMessage(runStopped.reason);
  return m.includes(why) ? m : `${why}: ${m}`;
}
