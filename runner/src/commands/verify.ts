import { randomBytes } from "node:crypto";
import { promises as fsp, createWriteStream } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { Logger } from "pino";
import { ENV, humanDuration, keyTimestamp, parseDuration, verificationPrefix } from "lifeboat-core";
import { CommonOpts, StoreOpts, checkName, makeAlerts, makeStore, output, workDir } from "../context";
import { EXIT_FAILED, EXIT_OK, UsageError, errorMessage } from "../errors";
import { identityProblem, download, Selected } from "../fetch";
import { BackupEntry, listBackups, listVerifications, parseAt, pickBackup, readManifest } from "../catalog";
import { BASEBACKUP_EXT, DrillStages, Manifest } from "../manifest";
import { baseVerifyTools, verifyBaseBackup } from "../pitr/verifyBase";
import { Verification } from "../manifest";
import { requireTools, run, startProc } from "../proc";
import { countRows, pgClient, pgEnv, pgTarget, quoteIdent } from "../sources/postgres";
import { withDatabase } from "../pgconn";
import { prepareRoles } from "../pgroles";
import { scrub } from "../redact";
import { extractArchive } from "../restoreDir";
import { compareCounts } from "../rowCounts";
import { Store } from "../store";
import { Progress } from "../progress";
import { Assertion, Freshness, Stage, assertionHeld, freshnessProblem, parseAssertion, parseColumn, pickOlder, seededRandom, stageSeconds } from "../drill";
import { Client } from "pg";
import { listSnapshots } from "../bucket/store";
import { failureMessage } from "../stop";

export interface VerifyOpts extends StoreOpts, CommonOpts {
  name?: string;
  at?: string;
  key?: string;
  identity?: string;
  scratchUrl?: string;
  record: boolean;
  /** Also restore a randomly chosen older backup (`--no-older`: false); never with `--key`. */
  older?: boolean;
  /** Seed of that choice (`--seed`); random when unset, and recorded either way. */
  seed?: string;
  /** The source's declared RTO (`--rto`): the drill reports its restore time against it. */
  rto?: string;
  /** Postgres: `schema.table.column` whose newest value must be recent (`--freshness-column`). */
  freshnessColumn?: string;
  /** How recent (`--freshness-within`), before the backup was taken. */
  freshnessWithin?: string;
  /** Postgres: `NAME=SQL` assertions (`--assert`, repeatable). */
  assert?: string[];
  /** Postgres: each assertion query's bound (`--assert-timeout`, a duration). */
  assertTimeout: string;
}

const sink = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

/** What the drill checks in a restored Postgres database beyond the manifest's row counts. */
interface DbChecks {
  freshness?: Freshness;
  /** Each with its own bound: one slow or blocked query must not hold the drill until --run-timeout. */
  assertions: Array<Assertion & { timeoutSeconds: number }>;
}

/** PostgreSQL's statement_timeout is an int of milliseconds. */
const MAX_STATEMENT_TIMEOUT_SECONDS = Math.floor(2 ** 31 / 1000) - 1;

/** The drill's inputs, checked before anything is downloaded: each bad one named by its flag. */
function drillInputs(o: VerifyOpts): { rtoSeconds?: number; seed: number; checks: DbChecks } {
  const seconds = (flag: string, text: string) => {
    try {
      return parseDuration(text);
    } catch (e) {
      throw new UsageError(`${flag}: ${errorMessage(e)}`);
    }
  };
  if (o.seed !== undefined && !/^\d{1,10}$/.test(o.seed.trim())) throw new UsageError(`--seed: must be a whole number, got ${JSON.stringify(o.seed)}`);
  const seed = o.seed !== undefined ? Number(o.seed.trim()) % 2 ** 32 : randomBytes(4).readUInt32BE(0);
  if ((o.freshnessColumn === undefined) !== (o.freshnessWithin === undefined)) {
    throw new UsageError(`${o.freshnessColumn === undefined ? "--freshness-within" : "--freshness-column"}: give --freshness-column and --freshness-within together`);
  }
  const freshness = o.freshnessColumn !== undefined ? { ...parseColumn(o.freshnessColumn, "--freshness-column"), withinSeconds: seconds("--freshness-within", o.freshnessWithin!) } : undefined;
  const timeoutSeconds = seconds("--assert-timeout", o.assertTimeout);
  if (timeoutSeconds > MAX_STATEMENT_TIMEOUT_SECONDS) throw new UsageError(`--assert-timeout: must be at most ${humanDuration(MAX_STATEMENT_TIMEOUT_SECONDS)} (PostgreSQL's largest statement_timeout), got ${JSON.stringify(o.assertTimeout)}`);
  const assertions = [...(o.assert ?? []).map((a) => parseAssertion(a, "--assert")), ...envAssertions(process.env[ENV.assertions])].map((a) => ({ ...a, timeoutSeconds }));
  const names = assertions.map((a) => a.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new UsageError(`--assert: the name ${JSON.stringify(dup)} is used twice`);
  return { ...(o.rto !== undefined ? { rtoSeconds: seconds("--rto", o.rto) } : {}), seed, checks: { ...(freshness ? { freshness } : {}), assertions } };
}

/** LIFEBOAT_ASSERTIONS: a JSON array of `{ "name": …, "sql": … }` (what `--assert NAME=SQL` says, for a job's environment). */
function envAssertions(text: string | undefined): Assertion[] {
  if (!text) return [];
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${ENV.assertions}: must be a JSON array of {"name", "sql"}: ${errorMessage(e)}`);
  }
  if (!Array.isArray(list)) throw new UsageError(`${ENV.assertions}: must be a JSON array of {"name", "sql"}`);
  return list.map((a, i) => {
    if (typeof a?.name !== "string" || typeof a?.sql !== "string") throw new UsageError(`${ENV.assertions}[${i}]: must be {"name": string, "sql": string}`);
    return parseAssertion(`${a.name}=${a.sql}`, `${ENV.assertions}[${i}]`);
  });
}

/** One backup's restore within a drill. */
interface Drilled {
  entry: BackupEntry;
  manifest?: Manifest;
  ok: boolean;
  problems: string[];
  durationSeconds: number;
  stages?: DrillStages;
  detail: Record<string, unknown>;
}

export async function verifyCommand(o: VerifyOpts, log: Logger): Promise<number> {
  const name = checkName(o.name);
  const inputs = drillInputs(o);
  const alerts = makeAlerts(o, log);
  const store = makeStore(o);
  // A bucket source: sample its snapshot's stored copies (bucket/verifyCommand.ts).
  const snapshots = await listSnapshots(store, name);
  if (snapshots.length) return (await import("../bucket/verifyCommand")).bucketVerifyCommand(o, store, name, snapshots, log);
  let entry: BackupEntry;
  let candidates: BackupEntry[];
  try {
    ({ entry, candidates } = await pickForVerify(store, name, o.at, o.key));
  } catch (e) {
    // Nothing to verify (no backup, a listing that fails) is a failed verification too.
    if (!(e instanceof UsageError)) await alerts.failure(`Lifeboat: verification of ${name} FAILED: ${failureMessage(e)}`);
    throw e;
  }
  const primary = await drill(o, store, entry, inputs.checks, log);
  // --key names exactly one backup to verify; a drill (latest, or --at) also proves an older one.
  const olderEntry = o.older !== false && !o.key ? pickOlder(candidates, entry, seededRandom(inputs.seed)) : undefined;
  const older = olderEntry && (await drill(o, store, olderEntry, { assertions: [] }, log));
  const ok = primary.ok && (!older || older.ok);
  const record: Verification = {
    version: 1,
    key: entry.key,
    source: name,
    ok: primary.ok,
    checkedAt: new Date().toISOString(),
    durationSeconds: primary.durationSeconds,
    problems: primary.problems,
    tier: entry.parts.tier,
    ...(primary.stages ? { stages: primary.stages } : {}),
    ...(inputs.rtoSeconds !== undefined ? { rtoSeconds: inputs.rtoSeconds } : {}),
    ...pick(primary.detail, ["freshness", "assertions"]),
    ...(older
      ? {
        older: {
          key: older.entry.key,
          tier: older.entry.parts.tier,
          ok: older.ok,
          durationSeconds: older.durationSeconds,
          ...(older.stages ? { stages: older.stages } : {}),
          problems: older.problems,
          seed: inputs.seed,
        },
      }
      : {}),
  };
  if (o.record) {
    const vkey = verificationPrefix(store.prefix, name) + `${keyTimestamp(new Date())}-${randomBytes(6).toString("hex")}.json`;
    await store.putSmall(vkey, JSON.stringify(record, null, 2) + "\n").catch((e) => {
      log.warn(`could not record the verification result: ${errorMessage(e)}`);
    });
  }
  const rto = inputs.rtoSeconds;
  const report = [
    ...drillReport(primary,
      primary.manifest?.kind === "pg-basebackup" ? " (integrity check: pg_verifybackup and the WAL chain, not a restore: no RTO measured)"
        : rto !== undefined ? ` (restore time; ${Math.round((primary.durationSeconds / rto) * 100)}% of the declared RTO ${humanDuration(rto)})` : " (restore time, RTO drill)"),
    ...(older ? drillReport(older, ` (older ${older.entry.parts.tier} backup, chosen with --seed ${inputs.seed})`) : []),
  ].join("\n");
  const problems = [...primary.problems, ...(older?.problems ?? [])];
  if (ok) {
    log.info({ key: entry.key, seconds: primary.durationSeconds, older: older?.entry.key }, `verification of ${entry.key} passed`);
    await alerts.ping("success");
  } else {
    log.error({ key: entry.key, problems }, `verification of ${entry.key} failed`);
    const which = primary.ok ? `older ${older!.entry.parts.tier} backup ${older!.entry.key}` : `backup ${entry.key}`;
    await alerts.failure(`Lifeboat: verification of ${name} ${which} FAILED: ${failureMessage(problems.join("; "))}`);
  }
  output(o, { ...record, ...primary.detail, ...(older ? { older: { ...record.older, ...older.detail } } : {}) }, report);
  return ok ? EXIT_OK : EXIT_FAILED;
}

const pick = (o: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));

function drillReport(d: Drilled, note: string): string[] {
  const s = d.stages;
  return [
    `verify ${d.ok ? "ok" : "FAILED"}: ${d.entry.key}`,
    `  ${d.manifest ? `${d.manifest.kind}, ${d.entry.parts.tier}, taken ${d.manifest.startedAt}` : "manifest unreadable"}, checked in ${d.durationSeconds.toFixed(1)}s${note}`,
    ...(s ? [`  stages: download ${s.downloadSeconds.toFixed(1)}s, decrypt ${s.decryptSeconds.toFixed(1)}s, restore ${s.restoreSeconds.toFixed(1)}s, checks ${s.checksSeconds.toFixed(1)}s`] : []),
    ...Object.entries(d.detail).map(([k, v]) => `  ${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`),
    ...d.problems.map((p) => `  PROBLEM: ${p}`),
  ];
}

/** Restores one backup as a drill: every finding, an unreadable manifest included, is a problem of its key. */
async function drill(o: VerifyOpts, store: Store, entry: BackupEntry, checks: DbChecks, log: Logger): Promise<Drilled> {
  let m: Manifest | undefined;
  let unreadable: string | undefined;
  try {
    m = await readManifest(store, entry);
  } catch (e) {
    unreadable = errorMessage(e);
  }
  // An identity that cannot open the backup is the verifier's finding, not a usage error: a
  // backup nobody holding this key can decrypt must be recorded, alerted and shown by status.
  const cannotDecrypt = m && identityProblem(o.identity, m, entry.key);
  if (m && !cannotDecrypt) {
    if (m.kind === "pg-basebackup") requireTools(baseVerifyTools());
    if (m.kind === "postgres") {
      pgTarget(o.scratchUrl, "--scratch-url");
      requireTools([{ cmd: "pg_restore", why: "restores the dump into the scratch database" }]);
    } else if (checks.freshness || checks.assertions.length) {
      throw new UsageError(`--freshness-column/--assert: check a restored PostgreSQL database; ${entry.key} is a ${m.kind} backup`);
    }
    requireTools([
      { cmd: "age", why: "decrypts the backup" },
      { cmd: "zstd", why: "decompresses the backup" },
    ]);
  }
  const started = Date.now();
  const marks: Partial<Record<Stage, number>> = {};
  const progress = new Progress(`verify ${entry.key}`, log);
  const problems: string[] = [...entry.flags.map((f) => `${entry.key}: ${f}`), ...[unreadable, cannotDecrypt].filter((p): p is string => !!p)];
  let detail: Record<string, unknown> = {};
  if (m && !cannotDecrypt) {
    try {
      detail = await check(o, store, { entry, manifest: m }, problems, progress, marks, checks, log);
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  progress.stop();
  const ended = Date.now();
  return {
    entry,
    ...(m ? { manifest: m } : {}),
    ok: problems.length === 0,
    problems,
    durationSeconds: (ended - started) / 1000,
    ...(m && !cannotDecrypt ? { stages: stageSeconds(started, marks, ended) } : {}),
    detail,
  };
}

/**
 * The backup to verify: `--key`, or the newest at or before `--at` (only those with a passing
 * record for `latest-verified`). A point-in-time source (one with base backups) is verified
 * through its base backups: its WAL objects under wal/ are never candidates, and pg_dump
 * backups it may hold from before PITR was enabled are not what a restore starts from.
 */
export async function pickForVerify(store: Store, name: string, at: string | undefined, key: string | undefined): Promise<{ entry: BackupEntry; candidates: BackupEntry[] }> {
  const when = parseAt(at);
  let entries = await listBackups(store, name);
  if (!key && entries.some((e) => e.parts.ext === BASEBACKUP_EXT)) entries = entries.filter((e) => e.parts.ext === BASEBACKUP_EXT);
  if (when === "latest-verified" && !key) {
    const verified = await listVerifications(store, name);
    entries = entries.filter((e) => verified.get(e.key)?.ok === true);
  }
  return { entry: pickBackup(entries, name, when, key), candidates: entries };
}

async function check(
  o: VerifyOpts,
  store: Store,
  sel: Selected,
  problems: string[],
  progress: Progress,
  marks: Partial<Record<Stage, number>>,
  checks: DbChecks,
  log: Logger,
): Promise<Record<string, unknown>> {
  const m = sel.manifest;
  if (sel.entry.size !== m.storedBytes) {
    problems.push(`${sel.entry.key}: listed size ${sel.entry.size} bytes, manifest says ${m.storedBytes} (truncated or replaced)`);
  }
  const dl = await download(store, sel, o.identity!, (n) => progress.update(n));
  const mark = (s: Stage) => () => {
    marks[s] ??= Date.now();
  };
  dl.downloaded.then(mark("download"), () => undefined);
  dl.done.then(mark("decrypt"), () => undefined);
  const rawCheck = () => {
    if (dl.rawBytes() !== m.rawBytes) problems.push(`${sel.entry.key}: decompressed to ${dl.rawBytes()} bytes, manifest says ${m.rawBytes}`);
  };
  if (m.kind === "postgres") return verifyPostgres(o, sel, dl, problems, rawCheck, mark("restore"), checks, log);
  if (m.kind === "pg-basebackup") return verifyBaseBackup(sel, dl, workDir(o), problems, rawCheck, log, store);
  if (m.kind === "volume" || m.kind === "directory") return verifyArchive(o, sel, dl, problems, rawCheck, mark("restore"));
  if (m.kind === "redis") {
    let head = Buffer.alloc(0);
    dl.out.on("data", (c: Buffer) => {
      if (head.length < 9) head = Buffer.concat([head, c]).subarray(0, 9);
    });
    await Promise.all([pipeline(dl.out, sink()), dl.done]);
    rawCheck();
    if (!head.toString("latin1").startsWith("REDIS")) problems.push(`${sel.entry.key}: not a Redis RDB file (bad header)`);
    return { rdbVersion: head.toString("latin1").slice(5) };
  }
  // sqlite: decode into the work directory and run PRAGMA integrity_check.
  requireTools([{ cmd: "sqlite3", why: "checks the restored SQLite database" }]);
  const dir = await fsp.mkdtemp(join(workDir(o), "lifeboat-verify-"));
  try {
    const file = join(dir, "check.sqlite");
    await Promise.all([pipeline(dl.out, createWriteStream(file, { mode: 0o600 })), dl.done]);
    mark("restore")();
    rawCheck();
    const r = (await run("sqlite3", "sqlite3", [file, "PRAGMA integrity_check;"])).trim();
    if (r !== "ok") problems.push(`${sel.entry.key}: SQLite integrity_check: ${r.slice(0, 500)}`);
    return { integrity: r.slice(0, 100) };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Extracts the archive into a scratch directory under --work-dir exactly as `restore` does (the
 * same guard and tar flags), so an archive restore would refuse (`..` members, symlink tricks,
 * device nodes, data after the end marker) fails verification too.
 */
async function verifyArchive(
  o: VerifyOpts,
  sel: Selected,
  dl: Awaited<ReturnType<typeof download>>,
  problems: string[],
  rawCheck: () => void,
  restored: () => void,
): Promise<Record<string, unknown>> {
  requireTools([{ cmd: "tar", why: "extracts the archive into a scratch directory" }]);
  const dir = await fsp.mkdtemp(join(workDir(o), "lifeboat-verify-"));
  try {
    const { stats: got } = await extractArchive(dl.out, dl.done, dir, false).catch((e) => {
      dl.kill();
      throw e;
    });
    restored();
    rawCheck();
    const want = sel.manifest.archive;
    if (want && (want.files !== got.files || want.fileBytes !== got.fileBytes || want.entries !== got.entries)) {
      problems.push(`${sel.entry.key}: archive holds ${got.files} files / ${got.fileBytes} bytes / ${got.entries} entries, manifest says ${want.files} / ${want.fileBytes} / ${want.entries}`);
    }
    return { files: got.files, bytes: got.fileBytes };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function verifyPostgres(
  o: VerifyOpts,
  sel: Selected,
  dl: Awaited<ReturnType<typeof download>>,
  problems: string[],
  rawCheck: () => void,
  restored: () => void,
  checks: DbChecks,
  log: Logger,
): Promise<Record<string, unknown>> {
  const admin = pgTarget(o.scratchUrl, "--scratch-url");
  const dbName = `lifeboat_verify_${randomBytes(5).toString("hex")}`;
  const scratch = withDatabase(admin, dbName);
  const scrubber = (s: string) => scrub(s, [admin.password]);
  const c = pgClient(admin);
  c.on("error", () => undefined);
  try {
    await c.connect();
  } catch (e) {
    dl.kill();
    throw new UsageError(`--scratch-url: cannot connect to ${admin.display}: ${scrubber(errorMessage(e))}`);
  }
  let created: string[] = [];
  try {
    // As restore does: the recorded roles the scratch cluster lacks are created (and dropped
    // again below), and owners and grants restored, so a dump whose grants name a role nobody
    // recorded fails here as it would on a new server.
    const roles = await prepareRoles(c, sel.manifest.postgres?.roles ?? [], true);
    created = roles.created;
    for (const n of roles.notes) log.info(n);
    await c.query(`CREATE DATABASE ${quoteIdent(dbName)}`);
    log.info({ database: dbName }, `created scratch database ${dbName}`);
    const restore = startProc(
      "pg_restore",
      "pg_restore",
      [...(roles.restoreOwners ? [] : ["--no-owner"]), "--exit-on-error", "--no-password", `--dbname=${scratch.url}`],
      { env: pgEnv(scratch), scrubber },
    );
    await Promise.all([pipeline(dl.out, restore.child.stdin!), dl.done, restore.done]).catch((e) => {
      dl.kill();
      restore.kill();
      throw e;
    });
    restored();
    rawCheck();
    const sc = pgClient(scratch);
    sc.on("error", () => undefined);
    await sc.connect();
    let counts;
    let found: Record<string, unknown>;
    try {
      counts = await countRows(sc);
      found = await databaseChecks(sc, sel, checks, problems, scrubber);
    } finally {
      await sc.end().catch(() => undefined);
    }
    problems.push(...compareCounts(sel.manifest.postgres?.tables ?? [], counts).map((p) => `${sel.entry.key}: ${p}`));
    return { tables: counts.length, rows: counts.reduce((a, t) => a + t.rows, 0), scratchDatabase: dbName, rolesCreated: created, ...found };
  } finally {
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName)} WITH (FORCE)`).catch((e) => {
      log.warn(`could not drop scratch database ${dbName}: ${scrubber(errorMessage(e))}`);
    });
    // The roles verify created own nothing once the scratch database is gone.
    for (const r of created) {
      await c.query(`DROP ROLE IF EXISTS ${quoteIdent(r)}`).catch((e) => log.warn(`could not drop role ${r} created for verification: ${scrubber(errorMessage(e))}`));
    }
    await c.end().catch(() => undefined);
  }
}

/**
 * The freshness check and SQL assertions in the restored scratch database. Each assertion runs
 * in its own read-only transaction, so one cannot change what the next one sees, with its bound
 * as that transaction's statement_timeout (lock waits count towards it too).
 */
async function databaseChecks(sc: Client, sel: Selected, checks: DbChecks, problems: string[], scrubber: (s: string) => string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const f = checks.freshness;
  if (f) {
    const label = `${f.schema}.${f.table}.${f.column}`;
    const backupTime = new Date(sel.manifest.startedAt);
    try {
      // extract(epoch …) reads a timestamp without time zone as UTC, and a timestamptz as the instant it is.
      const r = await sc.query(`SELECT extract(epoch FROM max(${quoteIdent(f.column)}))::float8 AS epoch FROM ${quoteIdent(f.schema)}.${quoteIdent(f.table)}`);
      const epoch = r.rows[0]?.epoch as number | null | undefined;
      const newest = epoch === null || epoch === undefined ? null : new Date(epoch * 1000);
      const problem = freshnessProblem({ label, withinSeconds: f.withinSeconds }, newest, backupTime, humanDuration);
      if (problem) problems.push(`${sel.entry.key}: ${problem}`);
      out.freshness = { column: label, withinSeconds: f.withinSeconds, newest: newest?.toISOString() ?? null, backupTime: backupTime.toISOString(), ok: !problem };
    } catch (e) {
      problems.push(`${sel.entry.key}: freshness: cannot read the newest ${label}: ${scrubber(errorMessage(e))}`);
      out.freshness = { column: label, withinSeconds: f.withinSeconds, newest: null, backupTime: backupTime.toISOString(), ok: false };
    }
  }
  if (checks.assertions.length) {
    const results: { name: string; ok: boolean }[] = [];
    for (const a of checks.assertions) {
      let held: { ok: boolean; why?: string };
      try {
        await sc.query("BEGIN READ ONLY");
        await sc.query(`SET LOCAL statement_timeout = ${a.timeoutSeconds * 1000}`);
        held = assertionHeld((await sc.query(a.sql)).rows);
      } catch (e) {
        // 57014 query_canceled: what the statement_timeout set above ends a query with.
        held = (e as { code?: string }).code === "57014"
          ? { ok: false, why: `did not finish within --assert-timeout ${humanDuration(a.timeoutSeconds)} (its statement_timeout canceled it)` }
          : { ok: false, why: `failed: ${scrubber(errorMessage(e))}` };
      } finally {
        await sc.query("ROLLBACK").catch(() => undefined);
      }
      if (!held.ok) problems.push(`${sel.entry.key}: assertion "${a.name}" ${held.why}`);
      results.push({ name: a.name, ok: held.ok });
    }
    out.assertions = results;
  }
  return out;
}
