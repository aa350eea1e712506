import { Command, Option } from "commander";
import { makeLogger } from "./logger";
import { EXIT_CRASH, EXIT_FAILED, EXIT_USAGE, UsageError, errorMessage } from "./errors";
import { ENV, RUNNER_OPTIONS, RunnerCommand, RunnerOption } from "lifeboat-core";
import { RUNNER_VERSION } from "./version";
import { redactUrl } from "./redact";
import { STOP_GRACE_MS, exitCodeAfter, failureMessage, signalExitCode, stopOnSignals } from "./stop";

/** The one-shot commands that stop cleanly on SIGTERM/SIGINT (stop.ts); long-running ones handle signals themselves. */
const STOPPABLE = new Set(["backup", "restore", "verify", "basebackup"]);

/*
 * Each command's module is loaded when that command runs, not at start: a long-running
 * `schedule` process then holds commander, croner, pino and zod, not the AWS SDK, pg and the
 * pipeline (about 25 MB of RSS less per idle scheduler container). `require` keeps the load
 * synchronous, so a command is called within parse() as before.
 */
/* eslint-disable @typescript-eslint/no-var-requires */
const commands = {
  backup: () => (require("./commands/backup") as typeof import("./commands/backup")).backupCommand,
  list: () => (require("./commands/list") as typeof import("./commands/list")).listCommand,
  restore: () => (require("./commands/restore") as typeof import("./commands/restore")).restoreCommand,
  verify: () => (require("./commands/verify") as typeof import("./commands/verify")).verifyCommand,
  status: () => (require("./commands/status") as typeof import("./commands/status")).statusCommand,
  report: () => (require("./commands/report") as typeof import("./commands/report")).reportCommand,
  schedule: () => (require("./commands/schedule") as typeof import("./commands/schedule")).scheduleCommand,
  replicate: () => (require("./commands/replicate") as typeof import("./commands/replicate")).replicateCommand,
  walStream: () => (require("./commands/walStream") as typeof import("./commands/walStream")).walStreamCommand,
  basebackup: () => (require("./commands/basebackup") as typeof import("./commands/basebackup")).basebackupCommand,
  walFetch: () => (require("./commands/walFetch") as typeof import("./commands/walFetch")).walFetchCommand,
  bucketEvents: () => (require("./bucket/eventsCommand") as typeof import("./bucket/eventsCommand")).bucketEventsCommand,
};
/* eslint-enable @typescript-eslint/no-var-requires */

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** One option of lifeboat-core's table (RUNNER_OPTIONS) as commander declares it. */
function commanderOption(o: RunnerOption): Option {
  const opt = new Option(o.value === undefined ? o.flag : `${o.flag} <${o.value}>`, o.help);
  if (o.env) opt.env(o.env);
  if (o.choices) opt.choices(o.choices);
  if (o.default !== undefined) opt.default(o.default);
  if (o.kind === "repeatable" || o.kind === "assertions") opt.argParser(collect);
  if (o.required) opt.makeOptionMandatory();
  return opt;
}

/** `program.command(name)` with every option the table gives that command, none declared here. */
function command(program: Command, name: RunnerCommand, opts?: { hidden: boolean }): Command {
  const c = program.command(name, opts);
  for (const o of RUNNER_OPTIONS[name]) c.addOption(commanderOption(o));
  return c;
}

export function buildProgram(run: (p: Promise<number>) => void): Command {
  const log = makeLogger();
  const program = new Command("lifeboat-runner")
    .description("Streams encrypted, verifiable backups of Postgres, volumes, Redis and SQLite to S3/R2, and restores, verifies and reports on them.")
    .version(RUNNER_VERSION)
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();

  command(program, "backup")
    .description("stream SOURCE -> zstd -> age -> multipart upload; the manifest is written last; exit 3 when the backup is degraded (a named file missing or changed while read)")
    .action((opts) => run(commands.backup()({ ...opts, recipient: opts.recipient ?? [] }, log)));

  // Commands whose implementation takes the options as commander parsed them.
  const plain = {
    list:
      "list backups (with manifests) by source, tier, time, size and verification, oldest first; a backup whose key time disagrees with the store's own times is marked UNTRUSTED and never chosen; per point-in-time source, a WAL line (newest WAL, lag, sidecar heartbeat, timeline, gap) and its problems",
    restore:
      "restore a backup into an empty or new database, directory or file; with --force into a non-empty one, whose contents are kept aside under a printed name (never deleted, never merged into); --table/--path restore one table or file",
    verify:
      "a restore drill: download, check sha256, decrypt and restore into a scratch database; compare with the manifest (and, for postgres, check freshness and SQL assertions); also restore a randomly chosen older backup of another tier; time each stage; every failure (an identity that cannot decrypt it included) is recorded, alerted and shown by status",
    status:
      "are my backups healthy? exit 1 when overdue, too small, shrunk, Postgres tables emptied/dropped/shrunk, an empty archive, an unreadable manifest, the latest drill failed (or its older backup did), restore drills over, near (80%) or trending over --rto, or a backup's key time disagrees with the store's (judged by the newest backup the store's time confirms); point-in-time sources also when the WAL sidecar stopped (no heartbeat in the bucket), lags, has a gap from the newest base backup, or moved to a timeline no base backup is on",
    report:
      "write the status page: one self-contained HTML file (no scripts or network) with, per source, the newest backup's age against the RPO (--max-age), the last verified restore and its time against --rto, size and row-count trends over the kept backups, WAL lag for point-in-time sources, and every problem status finds; exit 0 once written, whatever it shows (status alerts)",
  } as const;
  for (const [name, description] of Object.entries(plain) as [keyof typeof plain, string][]) {
    command(program, name)
      .description(description)
      .action((opts) => run(commands[name]()(opts, log)));
  }

  command(program, "replicate")
    .description(
      "copy new backups (object first, manifest last) and verification records to a replica bucket: sha256-checked against the manifest before the manifest is written, create-only puts, nothing read or deleted on the replica; exit 1 and alert on failure or when the newest backup is not on the replica within --max-lag",
    )
    .addHelpText(
      "after",
      `\nThe source side uses --dest/--endpoint/--region and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.\nThe replica side uses its own identity from ${ENV.replicaAccessKeyId}/${ENV.replicaSecretAccessKey}\n(optional ${ENV.replicaSessionToken}); without them, the source side's credentials.\nOn the replica the runner only lists and puts (If-None-Match: *); it never gets, heads or deletes.`,
    )
    .action((opts) => run(commands.replicate()(opts, log)));

  command(program, "wal-stream")
    .description(
      "long-running PITR sidecar: pg_receivewal over a physical replication slot (created if missing) into a local spool; uploads each completed WAL segment (zstd + age, manifest) under <prefix>/<source>/wal/ and the partial segment every --flush-interval; stops cleanly on SIGTERM after flushing",
    )
    .action((opts) => run(commands.walStream()({ ...opts, recipient: opts.recipient ?? [] }, log)));

  command(program, "basebackup")
    .description(
      "pg_basebackup -D - -Ft streamed -> zstd -> age -> multipart upload into the tier layout (<ts>-<rand>.base.tar.zst.age, manifest last); the base of point-in-time recovery with wal-stream",
    )
    .action((opts) => run(commands.basebackup()({ ...opts, recipient: opts.recipient ?? [] }, log)));

  // PostgreSQL's restore_command during a point-in-time restore (written by restore; docs/runbook.md).
  command(program, "wal-fetch", { hidden: true })
    .description("restore_command of a point-in-time restore: fetch WAL file FILE into PATH (exit 1: not in the archive; 255: failed, recovery stops)")
    .argument("[file]", "%f: the WAL file PostgreSQL asks for")
    .argument("[path]", "%p: where to put it")
    .action((file: string | undefined, path: string | undefined, opts) => run(commands.walFetch()([file ?? "", path ?? ""], opts)));

  command(program, "bucket-events")
    .description(
      "long-running: pull R2 event notifications for a bucket source from a Cloudflare Queue (HTTP pull API), copy each created object (age, objects/) and journal it and each delete (journal/), ack what was journalled; the next snapshot reconciles anything missed; stops after the batch in hand on SIGTERM",
    )
    .action((opts) => run(commands.bucketEvents()({ ...opts, recipient: opts.recipient ?? [] }, log)));

  command(program, "schedule")
    .description(
      "long-running: run lifeboat-runner commands on cron schedules (UTC), each run a child process: one command (--cron … -- <command>) or a job table (--jobs FILE); one run per job at a time (a tick while it still runs or waits is skipped, logged and counted), at most --max-concurrent runs at once",
    )
    .usage("--cron EXPR [--run-at-start] -- <command...>  |  --jobs FILE [--max-concurrent N]")
    .argument("[command...]", "the lifeboat-runner command to run, after -- (without --jobs)")
    .addHelpText(
      "after",
      "\nA job's env maps the variables its run reads to container variables holding the values,\n" +
        'e.g. {"LIFEBOAT_SOURCE_URL": "LIFEBOAT_JOB_APP_DB_SOURCE_URL"}: secrets stay out of the table and of argv.\n' +
        "Every LIFEBOAT_JOB_* variable is removed from every run's environment; each run gets only its own.",
    )
    .passThroughOptions()
    .action((command: string[], opts) => run(commands.schedule()(command, opts, log)));

  for (const c of program.commands) {
    if (!STOPPABLE.has(c.name())) continue;
    c.addHelpText(
      "after",
      `\nSIGTERM or SIGINT (docker stop, the scheduler, Ctrl-C) stops the run within seconds: its processes, FIFOs,\npartial file or multipart upload are cleaned up (a restore's target is left as after any failed restore),\nthe failure is recorded and alerted, exit ${signalExitCode("SIGTERM")} / ${signalExitCode("SIGINT")};\na second signal, or ${STOP_GRACE_MS / 1000} s without stopping, exits at once.`,
    );
  }
  program.addHelpText(
    "after",
    `\nExit codes: 0 ok; 1 failed run, unhealthy or mismatch (reported and alerted); 2 bad usage;\n3 degraded backup (stored, but a named file is missing or changed while read; alerted);\n${EXIT_CRASH} internal error (a crash: an error the runner did not handle);\n${signalExitCode("SIGTERM")} / ${signalExitCode("SIGINT")} backup, restore, verify or basebackup stopped by SIGTERM / SIGINT (cleaned up, recorded and alerted; see their --help).`,
  );
  return program;
}

/**
 * An error nothing handled is a bug, not a reported failure: exit 70 (EX_SOFTWARE) instead of
 * Node's 1, which is the runner's "failed run". The message is redacted like any other.
 */
export function installCrashHandlers(): void {
  const crash = (e: unknown) => {
    const msg = redactUrl(e instanceof Error && e.stack ? e.stack : errorMessage(e));
    process.stderr.write(`lifeboat-runner: internal error (exit ${EXIT_CRASH}): ${msg}\n`);
    process.exit(EXIT_CRASH);
  };
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
}

export function main(argv: string[] = process.argv): void {
  installCrashHandlers();
  const log = makeLogger();
  let running: Promise<number> | undefined;
  const program = buildProgram((p) => {
    running = p;
  });
  program.hook("preAction", (_program, command) => {
    if (STOPPABLE.has(command.name())) stopOnSignals();
  });
  try {
    program.parse(argv);
  } catch (e) {
    const code = (e as { exitCode?: number; code?: string }).exitCode;
    const c = (e as { code?: string }).code;
    if (c === "commander.helpDisplayed" || c === "commander.version" || c === "commander.help") process.exit(0);
    process.exit(code === 0 ? 0 : EXIT_USAGE);
  }
  if (!running) return;
  running.then(
    (code) => {
      process.exitCode = exitCodeAfter(code);
    },
    (e) => {
      const msg = redactUrl(failureMessage(e));
      if (e instanceof UsageError) {
        process.stderr.write(`lifeboat-runner: ${msg}\n`);
        process.exitCode = exitCodeAfter(EXIT_USAGE);
      } else {
        log.error({ err: msg }, msg);
        process.stderr.write(`lifeboat-runner: ${msg}\n`);
        process.exitCode = exitCodeAfter(EXIT_FAILED);
      }
    },
  );
}

if (require.main === module) main();
