import { Command, Option } from "commander";
import { makeLogger } from "./logger";
import { EXIT_CRASH, EXIT_FAILED, EXIT_USAGE, UsageError, errorMessage } from "./errors";
import { ENV, SOURCE_KINDS } from "lifeboat-core";
import { RUNNER_VERSION } from "./version";
import { redactUrl } from "./redact";

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

/** How a Postgres connection may be given (runner/src/pgconn.ts parses all of them). */
const PG_FORMS = "postgres://USER:PASSWORD@HOST:PORT/DB URL, password percent-encoded or as ?password=, or a libpq key=value string; with no password, PGPASSWORD or PGPASSFILE";

const collect = (v: string, prev: string[] = []) => [...prev, v];

function destOptions(c: Command): Command {
  return c
    .addOption(new Option("--dest <s3url>", "destination s3://BUCKET/PREFIX").env(ENV.dest))
    .addOption(new Option("--endpoint <url>", "S3-compatible endpoint (R2: https://ACCOUNT.r2.cloudflarestorage.com)").env(ENV.endpoint))
    .addOption(new Option("--region <region>", "region; `auto` for R2").env(ENV.region))
    .addOption(new Option("--local-dir <dir>", "a local directory instead of a bucket (local mode)").env(ENV.localDir))
    .option("--part-size <mib>", "multipart part size in MiB, the same for every part", "16")
    .option("--concurrency <n>", "parts uploaded in parallel", "3")
    .option("--max-attempts <n>", "attempts per S3 request, including the first (retries back off exponentially)", "4")
    .option("--timeout <seconds>", "idle timeout per S3 request attempt: no byte sent or received for this long ends the attempt (it is retried up to --max-attempts)", "120")
    .option("--request-timeout <seconds>", "total time per S3 request attempt until its answer arrives (a part upload included)", "900");
}

/** The bound of a command that runs to an end (everything but wal-stream and schedule). */
function runOptions(c: Command): Command {
  return c.addOption(
    new Option("--run-timeout <duration>", "the whole run's bound (e.g. 6h): past it every S3 request is aborted and the run fails (and alerts)").env(ENV.runTimeout).default("6h"),
  );
}

/** backup and basebackup: S3 Object Lock on each object until its tier expires. */
function lockOptions(c: Command): Command {
  return c
    .addOption(
      new Option(
        "--retention <tiers>",
        "lock each object until its tier expires: daily=30d,weekly=12w,monthly=12m,yearly=7y (the bucket's retention; add floor=365d under a compliance prefix). S3 only; default none: the bucket's default retention",
      ).env(ENV.retention),
    )
    .addOption(new Option("--lock-mode <mode>", "S3 Object Lock mode of each object, with --retention").choices(["governance", "compliance"]).env(ENV.lockMode));
}

function commonOptions(c: Command): Command {
  return c
    .option("--json", "print the result as JSON on stdout")
    .addOption(new Option("--alert-webhook <url>", "Slack-compatible webhook for failures (secret)").env(ENV.alertWebhook))
    .addOption(new Option("--ping-url <url>", "healthcheck ping URL: URL/start, URL, URL/fail (secret)").env(ENV.pingUrl))
    .addOption(new Option("--state-file <file>", "runner state file read by status --local").env(ENV.stateFile))
    .addOption(new Option("--work-dir <dir>", "work directory for SQLite snapshots, restores and verify's scratch extraction of archives; a postgres restore decodes the whole dump here first and checks it has room (default: the OS temp dir)").env(ENV.workDir));
}

function selectOptions(c: Command): Command {
  return c
    .option("--name <name>", "source name")
    .option("--at <time>", "newest backup taken at or before TIME (ISO 8601 with a zone, e.g. 2026-11-22T12:00:00Z or 2026-11-22 13:00:00+01:00, microseconds kept; or a key timestamp; for point-in-time recovery it must not be after the newest WAL unless --allow-partial-target), `latest`, or `latest-verified` (newest with a passing verification); backups whose key time disagrees with the store's are never chosen", "latest")
    .option("--key <key>", "an exact backup key instead of --at (the only way to pick an UNTRUSTED backup)")
    .addOption(new Option("--identity <keyfile>", "age private key file").env(ENV.identity));
}

export function buildProgram(run: (p: Promise<number>) => void): Command {
  const log = makeLogger();
  const program = new Command("lifeboat-runner")
    .description("Streams encrypted, verifiable backups of Postgres, volumes, Redis and SQLite to S3/R2, and restores, verifies and reports on them.")
    .version(RUNNER_VERSION)
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();

  commonOptions(
    lockOptions(runOptions(destOptions(
      program
        .command("backup")
        .description("stream SOURCE -> zstd -> age -> multipart upload; the manifest is written last; exit 3 when the backup is degraded (a named file missing or changed while read)")
        .addOption(new Option("--source <kind>", "what to back up").choices(SOURCE_KINDS as unknown as string[]))
        .option("--name <name>", "source name: the key prefix segment (lowercase, digits, hyphens)")
        .addOption(new Option("--url <url>", `redis:// URL or postgres source (${PG_FORMS}) (secret)`).env(ENV.url))
        .addOption(new Option("--path <path>", "directory, volume mount point or SQLite file").env(ENV.path))
        .addOption(new Option("--recipient <age1...>", "age public key; repeatable").env(ENV.recipients).argParser(collect))
        .option("--no-upload", "local mode: write to --local-dir instead of uploading (each run also removes this source's partial files left by killed runs)")
        .addOption(new Option("--keep-local <n>", "local mode: keep only the newest N backups of this source (removed files, stale partials included, are listed as pruned)").env(ENV.keepLocal))
        .option("--zstd-level <n>", "zstd compression level", "3")
        .addOption(new Option("--bucket-url <s3url>", "bucket source: the app bucket s3://APPBUCKET[/PREFIX], read with LIFEBOAT_BUCKET_ACCESS_KEY_ID/LIFEBOAT_BUCKET_SECRET_ACCESS_KEY").env(ENV.bucketUrl))
        .addOption(new Option("--bucket-endpoint <url>", "bucket source: the app bucket's S3-compatible endpoint (R2: https://ACCOUNT.r2.cloudflarestorage.com)").env(ENV.bucketEndpoint))
        .addOption(new Option("--bucket-region <region>", "bucket source: the app bucket's region; `auto` for R2").env(ENV.bucketRegion))
        .addOption(new Option("--window <days>", "bucket source: the restore window (e.g. 30d): copies older than this are made again, so lifecycle (objects/ 2 x window, snapshots/ window) never expires one a kept snapshot needs").env(ENV.bucketWindow))
        .option("--copy-concurrency <n>", "bucket source: objects copied at once", "8"),
    ))),
  ).action((opts) => run(commands.backup()({ ...opts, recipient: opts.recipient ?? [] }, log)));

  commonOptions(runOptions(destOptions(program.command("list").description("list backups (with manifests) by source, tier, time, size and verification, oldest first; a backup whose key time disagrees with the store's own times is marked UNTRUSTED and never chosen; per point-in-time source, a WAL line (newest WAL, lag, sidecar heartbeat, timeline, gap) and its problems").option("--name <name>", "only this source")))).action(
    (opts) => run(commands.list()(opts, log)),
  );

  commonOptions(
    runOptions(destOptions(
      selectOptions(program.command("restore").description("restore a backup into an empty or new database, directory or file; with --force into a non-empty one, whose contents are kept aside under a printed name (never deleted, never merged into); --table/--path restore one table or file"))
        .addOption(new Option("--target-url <url>", `postgres database to restore into (${PG_FORMS}) (secret)`).env(ENV.targetUrl))
        .option("--target-dir <dir>", "directory to restore an archive into (or to put a redis/sqlite file in)")
        .option("--target-file <file>", "file to restore a redis RDB or SQLite database to")
        .option("--force", "restore into a non-empty target, keeping what it holds aside (printed), never deleting or merging (a bucket restore with --to: overwrite and delete in the target, as --dry-run lists): a database is renamed to DB_before_restore_TIME and the backup restored into a new, empty DB (needs its owner with CREATEDB and no other session on it, else refused); with --table, existing tables of a restored name are moved with their indexes and sequences to schema lifeboat_before_restore_TIME; a directory's contents are moved to DIR.before-restore-TIME (inside DIR, as .before-restore-TIME, when DIR is a mount point); a file is kept as FILE.before-restore-TIME")
        .option("--table <name>", "postgres: restore only this table (repeatable), with its indexes, constraints, triggers, owned sequences and grants, into any database (e.g. a staging one); a same-named table there is refused unless --force; row counts are checked", (v: string, prev: string[] = []) => [...prev, v])
        .option("--schema <name>", "postgres: with --table, only tables in this schema (repeatable); alone, every table in it", (v: string, prev: string[] = []) => [...prev, v])
        .option("--path <glob>", "archives: restore only the members matching GLOB (relative to the archive root, shell wildcards, a directory with everything under it; repeatable), into an empty or new --target-dir", (v: string, prev: string[] = []) => [...prev, v])
        .option("--allow-special", "archives: also recreate device nodes and FIFOs, setuid/setgid bits and file capabilities (refused or cleared by default)")
        .option("--jobs <n>", "pg_restore parallel jobs; bucket: objects restored at once", "2")
        .option("--timeline <tli>", "point-in-time recovery: recovery_target_timeline, a number, `latest` or `current` (the base backup's); default: the timeline --at lies on (the newest that existed then), the newest for --at latest")
        .option("--base <key|time>", "point-in-time recovery: start from this base backup (its key, or its key time such as 20261122T133000.123Z) instead of the newest that fits --at and the timeline")
        .option("--allow-partial-target", "point-in-time recovery: a --at after the newest WAL replays all WAL there is, with a warning, instead of being refused")
        .option("--prefetch <n>", "point-in-time recovery: WAL segments fetched ahead of the one PostgreSQL replays (0-64; default 8)")
        .addOption(new Option("--source <kind>", "bucket: restore a bucket source (see --to); other kinds need no --source").choices(["bucket"]))
        .option("--prefix <p>", "bucket: only the app keys starting with P (relative to the source's bucket prefix)")
        .option("--to <s3url>", "bucket: the bucket to rebuild the objects in, s3://BUCKET[/PREFIX] (keys LIFEBOAT_TARGET_ACCESS_KEY_ID/LIFEBOAT_TARGET_SECRET_ACCESS_KEY, default the LIFEBOAT_BUCKET_* ones); --key K is then one app key")
        .option("--to-endpoint <url>", "bucket: the target bucket's S3-compatible endpoint")
        .option("--to-region <region>", "bucket: the target bucket's region; `auto` for R2")
        .option("--dry-run", "bucket: print what would be created, overwritten and deleted; write nothing"),
    )),
  ).action((opts) => run(commands.restore()(opts, log)));

  commonOptions(
    runOptions(destOptions(
      selectOptions(program.command("verify").description("a restore drill: download, check sha256, decrypt and restore into a scratch database; compare with the manifest (and, for postgres, check freshness and SQL assertions); also restore a randomly chosen older backup of another tier; time each stage; every failure (an identity that cannot decrypt it included) is recorded, alerted and shown by status"))
        .addOption(new Option("--scratch-url <url>", `postgres database to CREATE/DROP scratch databases from (${PG_FORMS}) (secret)`).env(ENV.scratchUrl))
        .option("--no-record", "do not write the verification record")
        .option("--no-older", "restore only the chosen backup; by default a drill (not --key) also restores a randomly chosen older backup, of another tier when one exists")
        .addOption(new Option("--seed <n>", "seed of the older backup's random choice (default random; the record keeps it, so the same seed repeats the choice)").env(ENV.drillSeed))
        .addOption(new Option("--rto <duration>", "the source's declared RTO (e.g. 4h): the report gives the restore time as a share of it and the record keeps it").env(ENV.rto))
        .addOption(new Option("--freshness-column <schema.table.column>", "postgres: a timestamp column whose newest value in the restored database must be within --freshness-within before the backup was taken (a stale or emptied database fails the drill)").env(ENV.freshnessColumn))
        .addOption(new Option("--freshness-within <duration>", "with --freshness-column, e.g. 1d (the source's RPO is a good choice)").env(ENV.freshnessWithin))
        .option("--assert <name=sql>", `postgres: a query run read-only in the restored database that must return one row whose first value is true (e.g. 'has users=SELECT count(*) > 0 FROM users'); repeatable; ${ENV.assertions} takes a JSON array of {"name","sql"}`, collect)
        .option("--sample <n>", "bucket source: stored objects of the snapshot to download, decrypt and check against its manifest (sha256, size), picked at random; `all` for every one", "20"),
    )),
  ).action((opts) => run(commands.verify()(opts, log)));

  commonOptions(
    runOptions(destOptions(
      program
        .command("status")
        .description("are my backups healthy? exit 1 when overdue, too small, shrunk, Postgres tables emptied/dropped/shrunk, an empty archive, an unreadable manifest, the latest drill failed (or its older backup did), restore drills over, near (80%) or trending over --rto, or a backup's key time disagrees with the store's (judged by the newest backup the store's time confirms); point-in-time sources also when the WAL sidecar stopped (no heartbeat in the bucket), lags, has a gap from the newest base backup, or moved to a timeline no base backup is on")
        .option("--name <name>", "only this source")
        .option("--max-age <duration>", "newest backup must be younger than this (e.g. 26h)", "26h")
        .option("--min-size <size>", "size floor for the newest backup (default 1m for postgres, none otherwise)")
        .option("--max-shrink <fraction>", "unhealthy when a backup is smaller than the previous by more than this fraction", "0.5")
        .addOption(new Option("--max-table-shrink <fraction>", "unhealthy when a Postgres table lost more than this fraction of its rows since the previous backup (emptied or vanished tables always count)").env(ENV.maxTableShrink).default("0.5"))
        .addOption(new Option("--rto <duration>", "the source's declared RTO (e.g. 4h): unhealthy when the latest restore drill took longer, used more than 80% of it, or the trend of the last 8 drills forecasts the next one over it").env(ENV.rto))
        .option("--max-wal-lag <duration>", "PITR sources: unhealthy when the bucket's WAL (by the sidecar's heartbeat, else the newest WAL object) is further behind than this plus the heartbeat interval (default: the sidecar's own --max-lag, else 5m)")
        .option("--local", "report the last runs from this runner's state file (container healthcheck; no bucket access)")
        .option("--format <format>", "text, json (same as --json) or prometheus (node_exporter textfile format: per source last success, newest recoverable point, bytes, last verified restore and its duration)", "text"),
    )),
  ).action((opts) => run(commands.status()(opts, log)));

  commonOptions(
    runOptions(destOptions(
      program
        .command("report")
        .description("write the status page: one self-contained HTML file (no scripts or network) with, per source, the newest backup's age against the RPO (--max-age), the last verified restore and its time against --rto, size and row-count trends over the kept backups, WAL lag for point-in-time sources, and every problem status finds; exit 0 once written, whatever it shows (status alerts)")
        .option("--html <file>", "where to write the page (replaced whole, atomically)")
        .option("--upload", "also put a copy in the bucket, create-only: <prefix>/_verifications/<name>/status/<UTC time>-<random>.html (without --name: <prefix>/_verifications/_all/status/...); the newest is the last key listed")
        .option("--name <name>", "only this source")
        .option("--max-age <duration>", "the RPO: the newest backup must be younger than this (e.g. 26h)", "26h")
        .option("--rto <duration>", "the declared RTO: the latest verified restore must have taken no longer (e.g. 4h); default none")
        .option("--trend <n>", "newest kept backups plotted per source", "30")
        .option("--min-size <size>", "size floor for the newest backup (default 1m for postgres, none otherwise)")
        .option("--max-shrink <fraction>", "a problem when a backup is smaller than the previous by more than this fraction", "0.5")
        .addOption(new Option("--max-table-shrink <fraction>", "a problem when a Postgres table lost more than this fraction of its rows since the previous backup").env(ENV.maxTableShrink).default("0.5")),
    )),
  ).action((opts) => run(commands.report()(opts, log)));

  commonOptions(
    runOptions(destOptions(
      program
        .command("replicate")
        .description(
          "copy new backups (object first, manifest last) and verification records to a replica bucket: sha256-checked against the manifest before the manifest is written, create-only puts, nothing read or deleted on the replica; exit 1 and alert on failure or when the newest backup is not on the replica within --max-lag",
        )
        .option("--name <name>", "this source only")
        .option("--all", "every source under --dest")
        .addOption(new Option("--to <s3url>", "replica s3://BUCKET/PREFIX").env(ENV.replicaDest))
        .addOption(new Option("--to-endpoint <url>", "replica S3-compatible endpoint (R2: https://ACCOUNT.r2.cloudflarestorage.com)").env(ENV.replicaEndpoint))
        .addOption(new Option("--to-region <region>", "replica region; `auto` for R2").env(ENV.replicaRegion))
        .addOption(new Option("--max-lag <duration>", "alert and exit 1 when the newest backup is older than this and not on the replica (the RPO)").env(ENV.maxLag).default("26h"))
        .option("--no-copy", "copy nothing: only compare both sides and report lag")
        .addHelpText(
          "after",
          `\nThe source side uses --dest/--endpoint/--region and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.\nThe replica side uses its own identity from ${ENV.replicaAccessKeyId}/${ENV.replicaSecretAccessKey}\n(optional ${ENV.replicaSessionToken}); without them, the source side's credentials.\nOn the replica the runner only lists and puts (If-None-Match: *); it never gets, heads or deletes.`,
        ),
    )),
  ).action((opts) => run(commands.replicate()(opts, log)));

  commonOptions(
    destOptions(
      program
        .command("wal-stream")
        .description(
          "long-running PITR sidecar: pg_receivewal over a physical replication slot (created if missing) into a local spool; uploads each completed WAL segment (zstd + age, manifest) under <prefix>/<source>/wal/ and the partial segment every --flush-interval; stops cleanly on SIGTERM after flushing",
        )
        .option("--name <name>", "source name: the key prefix segment (lowercase, digits, hyphens)")
        .addOption(new Option("--url <url>", `postgres connection of a user with the REPLICATION attribute (${PG_FORMS}) (secret)`).env(ENV.url))
        .addOption(new Option("--slot <name>", "physical replication slot (default lifeboat_<name>)").env(ENV.walSlot))
        .addOption(new Option("--spool-dir <dir>", "local spool for WAL not yet uploaded; keep it on a persistent volume (default <work-dir>/lifeboat-wal-<name>)").env(ENV.walSpoolDir))
        .addOption(new Option("--recipient <age1...>", "age public key; repeatable").env(ENV.recipients).argParser(collect))
        .addOption(new Option("--flush-interval <duration>", "upload the partial segment this often: the recovery point objective").env(ENV.walFlushInterval).default("60s"))
        .addOption(new Option("--max-lag <duration>", "alert (measured continuously, also during a slow upload) before the WAL in the bucket is older than this (longer than --flush-interval)").env(ENV.walMaxLag))
        .addOption(new Option("--wal-retention <days>", "S3: lock each WAL object and manifest this many days, e.g. 16d (the bucket's WAL lifecycle rule: the PITR window plus a base-backup interval); with --lock-mode. Default none: the bucket's default retention").env(ENV.walRetention))
        .addOption(new Option("--lock-mode <mode>", "S3 Object Lock mode of each WAL object, with --wal-retention").choices(["governance", "compliance"]).env(ENV.lockMode))
        .addOption(new Option("--heartbeat-interval <duration>", "put a heartbeat object (<prefix>/<source>/wal/heartbeat/) this often: remote status tells an idle server from a dead sidecar by it").env(ENV.walHeartbeatInterval).default("60s"))
        .addOption(new Option("--on-new-timeline <action>", "when WAL on a new timeline appears (a promotion): basebackup = alert and take a base backup (fast checkpoint, WAL in the tar) with this sidecar's bucket and key; alert = alert only").choices(["basebackup", "alert"]).default("basebackup"))
        .option("--status-interval <seconds>", "pg_receivewal status interval", "10")
        .option("--zstd-level <n>", "zstd compression level", "3"),
    ),
  ).action((opts) => run(commands.walStream()({ ...opts, recipient: opts.recipient ?? [] }, log)));

  commonOptions(
    lockOptions(runOptions(destOptions(
      program
        .command("basebackup")
        .description(
          "pg_basebackup -D - -Ft streamed -> zstd -> age -> multipart upload into the tier layout (<ts>-<rand>.base.tar.zst.age, manifest last); the base of point-in-time recovery with wal-stream",
        )
        .option("--name <name>", "source name: the same as wal-stream's")
        .addOption(new Option("--url <url>", `postgres connection of a user with the REPLICATION attribute (${PG_FORMS}) (secret)`).env(ENV.url))
        .addOption(new Option("--recipient <age1...>", "age public key; repeatable").env(ENV.recipients).argParser(collect))
        .addOption(new Option("--wal-method <method>", "fetch: WAL needed for consistency inside the tar; none: it comes from wal-stream").choices(["fetch", "none"]).default("fetch"))
        .option("--fast-checkpoint", "start with an immediate checkpoint instead of a spread one")
        .option("--zstd-level <n>", "zstd compression level", "3"),
    ))),
  ).action((opts) => run(commands.basebackup()({ ...opts, recipient: opts.recipient ?? [] }, log)));

  // PostgreSQL's restore_command during a point-in-time restore (written by restore; docs/runbook.md).
  program
    .command("wal-fetch", { hidden: true })
    .description("restore_command of a point-in-time restore: fetch WAL file FILE into PATH (exit 1: not in the archive; 255: failed, recovery stops)")
    .argument("[file]", "%f: the WAL file PostgreSQL asks for")
    .argument("[path]", "%p: where to put it")
    .requiredOption("--dir <dir>", "the lifeboat_restore directory that restore wrote into the data directory")
    .option("--prefetch", "internal: run as the background prefetcher")
    .action((file: string | undefined, path: string | undefined, opts) => run(commands.walFetch()([file ?? "", path ?? ""], opts)));

  commonOptions(
    destOptions(
      program
        .command("bucket-events")
        .description(
          "long-running: pull R2 event notifications for a bucket source from a Cloudflare Queue (HTTP pull API), copy each created object (age, objects/) and journal it and each delete (journal/), ack what was journalled; the next snapshot reconciles anything missed; stops after the batch in hand on SIGTERM",
        )
        .option("--name <name>", "the bucket source's name (the same as its backup's)")
        .addOption(new Option("--bucket-url <s3url>", "the app bucket s3://APPBUCKET[/PREFIX] (keys LIFEBOAT_BUCKET_ACCESS_KEY_ID/LIFEBOAT_BUCKET_SECRET_ACCESS_KEY)").env(ENV.bucketUrl))
        .addOption(new Option("--bucket-endpoint <url>", "the app bucket's endpoint").env(ENV.bucketEndpoint))
        .addOption(new Option("--bucket-region <region>", "the app bucket's region; `auto` for R2").env(ENV.bucketRegion))
        .addOption(new Option("--queue <account/queue>", "the queue the bucket's notifications go to: ACCOUNT_ID/QUEUE_ID (token LIFEBOAT_QUEUE_TOKEN)").env(ENV.queue))
        .option("--cloudflare-api <url>", "Cloudflare API base", "https://api.cloudflare.com/client/v4")
        .addOption(new Option("--recipient <age1...>", "age public key; repeatable").env(ENV.recipients).argParser(collect))
        .addOption(new Option("--window <days>", "the restore window (as the backup's)").env(ENV.bucketWindow))
        .option("--poll-interval <seconds>", "wait this long after an empty pull", "5"),
    ),
  ).action((opts) => run(commands.bucketEvents()({ ...opts, recipient: opts.recipient ?? [] }, log)));

  program
    .command("schedule")
    .description(
      "long-running: run lifeboat-runner commands on cron schedules (UTC), each run a child process: one command (--cron … -- <command>) or a job table (--jobs FILE); one run per job at a time (a tick while it still runs or waits is skipped, logged and counted), at most --max-concurrent runs at once",
    )
    .usage("--cron EXPR [--run-at-start] -- <command...>  |  --jobs FILE [--max-concurrent N]")
    .option("--cron <expr>", "cron expression, UTC: 5 fields, or 6 with seconds first")
    .option("--run-at-start", "also run once at start")
    .addOption(new Option("--jobs <file>", "job table (JSON): {version: 1, jobs: [{name, cron, argv, env?, runAtStart?, maxAge?}]}").env(ENV.jobsFile))
    .addOption(new Option("--max-concurrent <n>", "runs at once across all jobs").env(ENV.maxConcurrent).default("1"))
    .addOption(
      new Option("--run-timeout <duration>", "each run's default bound (LIFEBOAT_RUN_TIMEOUT in its environment), and a backstop: a run still going this long plus a grace (a minute, or this bound if shorter) is killed, so later runs happen").env(ENV.runTimeout).default("6h"),
    )
    .addOption(new Option("--state-file <file>", "runner state file (each job's state, for status --local)").env(ENV.stateFile))
    .argument("[command...]", "the lifeboat-runner command to run, after -- (without --jobs)")
    .addHelpText(
      "after",
      "\nA job's env maps the variables its run reads to container variables holding the values,\n" +
        'e.g. {"LIFEBOAT_SOURCE_URL": "LIFEBOAT_JOB_APP_DB_SOURCE_URL"}: secrets stay out of the table and of argv.\n' +
        "Every LIFEBOAT_JOB_* variable is removed from every run's environment; each run gets only its own.",
    )
    .passThroughOptions()
    .action((command: string[], opts) => run(commands.schedule()(command, opts, log)));

  program.addHelpText(
    "after",
    `\nExit codes: 0 ok; 1 failed run, unhealthy or mismatch (reported and alerted); 2 bad usage;\n3 degraded backup (stored, but a named file is missing or changed while read; alerted);\n${EXIT_CRASH} internal error (a crash: an error the runner did not handle).`,
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
      process.exitCode = code;
    },
    (e) => {
      const msg = redactUrl(errorMessage(e));
      if (e instanceof UsageError) {
        process.stderr.write(`lifeboat-runner: ${msg}\n`);
        process.exitCode = EXIT_USAGE;
      } else {
        log.error({ err: msg }, msg);
        process.stderr.write(`lifeboat-runner: ${msg}\n`);
        process.exitCode = EXIT_FAILED;
      }
    },
  );
}

if (require.main === module) main();
