import { spawn, ChildProcess } from "node:child_process";
import { Cron } from "croner";
import { Logger } from "pino";
import { ENV, JobTable, parseDuration, ScheduledJob } from "lifeboat-core";
import { EXIT_DEGRADED, UsageError, errorMessage } from "../errors";
import { JobPhase, checkJobTable, childEnv, loadJobTable, missingJobEnv, tickDecision } from "../jobTable";
import { JobState, StateFile, defaultStatePath, updateState } from "../state";
import { stoppedBy } from "../stop";

export interface ScheduleOpts {
  cron?: string;
  runAtStart?: boolean;
  stateFile?: string;
  /** A job table file (JSON, see jobTable.ts) instead of one command. */
  jobs?: string;
  /** Runs at once across the table. */
  maxConcurrent?: string;
  /** Each run's default bound, and the backstop's (see {@link KILL_GRACE_SECONDS}). */
  runTimeout?: string;
}

/** A run still going this long past its bound (or the bound itself, if shorter) is killed. */
export const KILL_GRACE_SECONDS = 60;

/** The scheduler's run bound: what each run inherits, and when the backstop kills a run. */
function runBound(text: string): { runTimeout: string; killAfterMs: number } {
  try {
    const bound = parseDuration(text);
    return { runTimeout: text, killAfterMs: (bound + Math.min(KILL_GRACE_SECONDS, bound)) * 1000 };
  } catch (e) {
    throw new UsageError(`--run-timeout: ${(e as Error).message}`);
  }
}

/** `--cron EXPR [--run-at-start] -- <command>`: a table of one job, named after the command. */
function singleJobTable(command: string[], o: ScheduleOpts): JobTable {
  if (!o.cron) throw new UsageError("--cron EXPR is required (or --jobs FILE), e.g. --cron '0 3 * * *'");
  if (command.length === 0) throw new UsageError("schedule needs a command after --, e.g. schedule --cron '0 3 * * *' -- backup --source postgres --name db");
  const table = { version: 1, jobs: [{ name: command[0], cron: o.cron, argv: command, runAtStart: !!o.runAtStart }] };
  try {
    return checkJobTable(table, "schedule");
  } catch (e) {
    // Name the flag the user typed, not the table field it became.
    throw new UsageError(errorMessage(e).replace(/jobs\[0\]\.cron/, "--cron").replace(/jobs\[0\]\.argv/, "the command after --"));
  }
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--max-concurrent: must be a whole number of at least 1, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * Long-running mode for a container: runs every job of a job table on its cron (UTC), each run
 * a child process of its own (`node <runner> <argv…>`, with only its own secrets in its
 * environment), so one run's crash or memory never reaches another job or the scheduler, which
 * stays small. At most `--max-concurrent` runs at once (so dumps don't pile onto one database)
 * and one run per job: a tick that comes while the job is still running or still waiting for a
 * slot is skipped, logged and counted in the state file. Each job's state (running, last result,
 * last success, skipped ticks) is in the state file, where `status --local` reports it.
 */
export async function scheduleCommand(command: string[], o: ScheduleOpts, log: Logger): Promise<number> {
  if (o.jobs && command.length) throw new UsageError("give either --jobs FILE or a command after --, not both");
  if (o.jobs && (o.cron || o.runAtStart)) throw new UsageError("--cron and --run-at-start are for one command; with --jobs each job has its own cron and runAtStart");
  const table = o.jobs ? loadJobTable(o.jobs) : singleJobTable(command, o);
  const limit = parseLimit(o.maxConcurrent ?? "1");
  const bound = runBound(o.runTimeout ?? "6h");
  const missing = missingJobEnv(table, process.env);
  if (missing.length) throw new UsageError(`job table: environment variables not set: ${missing.join(", ")}`);
  const stateFile = o.stateFile || defaultStatePath();
  const scheduler = new JobScheduler(table, limit, bound, stateFile, process.argv[1]!, log);
  await scheduler.start();
  return new Promise<number>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      log.info({ signal: sig }, "stopping scheduler");
      void scheduler.stop(sig).then(() => resolve(0));
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

class JobScheduler {
  private readonly phase = new Map<string, JobPhase>();
  private readonly running = new Map<string, ChildProcess>();
  private readonly queue: ScheduledJob[] = [];
  private readonly crons: Cron[] = [];
  private stopping = false;
  /** State writes in the order the events happened. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly table: JobTable,
    private readonly limit: number,
    private readonly bound: { runTimeout: string; killAfterMs: number },
    private readonly stateFile: string,
    private readonly script: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const now = new Date().toISOString();
    this.record((s) => {
      s.schedulerStartedAt = now;
      const prev = s.jobs ?? {};
      // Jobs no longer in the table are dropped; a job's last success survives a restart.
      s.jobs = Object.fromEntries(
        this.table.jobs.map((j) => {
          const p = prev[j.name];
          const st: JobState = {
            cron: j.cron,
            ...(j.maxAge ? { maxAgeSeconds: parseDuration(j.maxAge) } : {}),
            phase: "idle",
            skipped: 0,
            ...(p?.lastSuccess ? { lastSuccess: p.lastSuccess } : {}),
          };
          return [j.name, st];
        }),
      );
    });
    await this.writes;
    for (const job of this.table.jobs) {
      this.phase.set(job.name, "idle");
      const cron = new Cron(job.cron, { timezone: "UTC" }, () => this.tick(job));
      this.crons.push(cron);
      this.log.info({ job: job.name, cron: job.cron, next: cron.nextRun()?.toISOString() }, `scheduled ${job.name} at "${job.cron}" (UTC)`);
    }
    this.log.info({ jobs: this.table.jobs.length, maxConcurrent: this.limit }, `scheduler running ${this.table.jobs.length} job(s), at most ${this.limit} at a time`);
    for (const job of this.table.jobs) if (job.runAtStart) this.tick(job);
  }

  private record(mutate: (s: StateFile) => void): void {
    this.writes = this.writes
      .then(() => updateState(this.stateFile, mutate))
      .catch((e) => this.log.warn(`could not write state file ${this.stateFile}: ${errorMessage(e)}`));
  }

  private recordJob(name: string, patch: (j: JobState) => void): void {
    this.record((s) => {
      const j = s.jobs?.[name];
      if (j) patch(j);
    });
  }

  private tick(job: ScheduledJob): void {
    if (this.stopping) return;
    const decision = tickDecision(this.phase.get(job.name)!, this.running.size, this.limit);
    if (decision === "skip") {
      const at = new Date().toISOString();
      this.log.warn({ job: job.name, phase: this.phase.get(job.name) }, `${job.name}: previous run still ${this.phase.get(job.name)}; skipping this tick`);
      this.recordJob(job.name, (j) => {
        j.skipped += 1;
        j.lastSkippedAt = at;
      });
    } else if (decision === "queue") {
      this.phase.set(job.name, "queued");
      this.queue.push(job);
      this.log.info({ job: job.name, running: [...this.running.keys()] }, `${job.name}: waiting for a free slot (${this.limit} running)`);
      this.recordJob(job.name, (j) => {
        j.phase = "queued";
      });
    } else this.run(job);
  }

  private run(job: ScheduledJob): void {
    const started = new Date();
    this.phase.set(job.name, "running");
    // Runs bound themselves: each inherits the scheduler's --run-timeout (one in its own argv or
    // env wins). As a backstop a run still going past that bound and a grace is killed, so that no
    // run stuck where its own deadline does not reach can hold its job: every later tick would skip.
    const env = childEnv(job, { ...process.env, [ENV.runTimeout]: this.bound.runTimeout });
    const child = spawn(process.execPath, [this.script, ...job.argv], { stdio: ["ignore", "inherit", "inherit"], env });
    let hardKill: NodeJS.Timeout | undefined;
    const backstop = setTimeout(() => {
      this.log.error({ job: job.name, seconds: this.bound.killAfterMs / 1000 }, `run of ${job.name} still going ${this.bound.killAfterMs / 1000}s after it started (--run-timeout ${this.bound.runTimeout} and grace): killing it`);
      child.kill("SIGTERM");
      hardKill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    }, this.bound.killAfterMs);
    this.running.set(job.name, child);
    this.log.info({ job: job.name, command: job.argv[0], pid: child.pid }, `run started: ${job.name}`);
    this.recordJob(job.name, (j) => {
      j.phase = "running";
      j.lastStart = started.toISOString();
    });
    let spawnError: string | undefined;
    child.on("error", (e) => {
      spawnError = e.message;
    });
    child.on("close", (code, signal) => {
      clearTimeout(backstop);
      clearTimeout(hardKill);
      const ended = new Date();
      const seconds = (ended.getTime() - started.getTime()) / 1000;
      // A degraded backup (exit 3) was stored and alerted on by the run itself: the job succeeded.
      const degraded = code === EXIT_DEGRADED;
      const ok = code === 0 || degraded;
      // 143 / 130: the run stopped cleanly on a signal (stop.ts), e.g. the one stop() forwarded.
      const stopped = code !== null ? stoppedBy(code) : undefined;
      const note = degraded ? " (degraded: see its warnings)" : stopped ? ` (stopped by ${stopped})` : "";
      const result = spawnError ? `could not start: ${spawnError}` : code !== null ? `exit ${code}${note}` : `signal ${signal}`;
      if (code === 0) this.log.info({ job: job.name, code, seconds }, `run finished: ${job.name}`);
      else if (degraded) this.log.warn({ job: job.name, code, seconds }, `run degraded: ${job.name} (see its warnings)`);
      else this.log.error({ job: job.name, code, signal, seconds }, `run failed: ${job.name}: ${result}`);
      this.running.delete(job.name);
      this.phase.set(job.name, "idle");
      this.recordJob(job.name, (j) => {
        j.phase = "idle";
        j.lastEnd = ended.toISOString();
        j.lastResult = result;
        j.lastOk = ok;
        if (ok) j.lastSuccess = ended.toISOString();
      });
      this.drain();
    });
  }

  /** Starts waiting jobs, oldest first, while slots are free. */
  private drain(): void {
    while (!this.stopping && this.running.size < this.limit && this.queue.length) this.run(this.queue.shift()!);
  }

  async stop(sig: NodeJS.Signals): Promise<void> {
    this.stopping = true;
    for (const c of this.crons) c.stop();
    for (const job of this.queue.splice(0)) {
      this.phase.set(job.name, "idle");
      this.recordJob(job.name, (j) => {
        j.phase = "idle";
      });
    }
    const closed = [...this.running.values()].map((c) => new Promise<void>((r) => {
      c.once("close", () => r());
      c.kill(sig);
    }));
    await Promise.all(closed);
    await this.writes;
  }
}
