import { promises as fsp, constants as fsConstants, createWriteStream } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Logger } from "pino";
import { CommonOpts, StoreOpts, checkName, intOption, makeAlerts, makeStore, output, workDir } from "../context";
import { EXIT_OK, RunError, UsageError, errorMessage } from "../errors";
import { checkIdentity, download, downloadToFile, selectBackup } from "../fetch";
import { requireTools, run } from "../proc";
import { pgClient, pgEnv, pgTarget, countRowsOn, PgTarget } from "../sources/postgres";
import { Client } from "pg";
import { scrub } from "../redact";
import { splitTriggers } from "../pgtoc";
import { closeOver, notRestored, parseToc, prerequisites, selectTables, useList, TocEntry } from "../pgTableSelect";
import { checkDatabaseAside, existingTables, keepDatabaseAside, keepTablesAside, keptAsideDatabaseName, keptAsideSchemaName, prerequisiteCheck } from "../pgKeepAside";
import { quoteIdent } from "../sources/postgres";
import { prepareRoles } from "../pgroles";
import { Progress, formatBytes } from "../progress";
import { ENV } from "lifeboat-core";
import { Extracted, countFiles, extractArchive, keptAsideName, memberPatterns, planDirRestore, restoreIntoDir } from "../restoreDir";
import { baseBackups, restorePitr } from "../pitr/restore";
import { compareCounts } from "../rowCounts";
import { failureMessage } from "../stop";

export interface RestoreOpts extends StoreOpts, CommonOpts {
  name?: string;
  at?: string;
  key?: string;
  identity?: string;
  targetUrl?: string;
  targetDir?: string;
  targetFile?: string;
  force?: boolean;
  allowSpecial?: boolean;
  path?: string[];
  /** Postgres: restore only these tables (`--table`, repeatable) ... */
  table?: string[];
  /** ... in these schemas (`--schema`, repeatable; alone: every table in them). */
  schema?: string[];
  jobs: string;
  /** Point-in-time recovery: recovery_target_timeline, an explicit base backup, a target past the newest WAL. */
  timeline?: string;
  base?: string;
  allowPartialTarget?: boolean;
  prefetch?: string;
}

/**
 * What a database holds besides what CREATE DATABASE gives it: relations (tables, views,
 * sequences, ...), functions, types (enums, domains, ranges, composites; not the row and array
 * types created with them), large objects, extensions other than plpgsql and schemas other than
 * public, each extension's own members counted as the extension. Empty means safe to restore into.
 */
export const USER_OBJECTS_SQL = `
WITH ext AS (SELECT objid, classid FROM pg_depend WHERE deptype = 'e'),
     ns AS (SELECT oid FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%')
SELECT
  (SELECT count(*) FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid))::int AS relations,
  (SELECT count(*) FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns)
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid))::int AS functions,
  (SELECT count(*) FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM ns)
     AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
     AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
     AND t.typtype <> 'm'
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_type'::regclass AND ext.objid = t.oid))::int AS types,
  (SELECT count(*) FROM pg_largeobject_metadata)::int AS "large objects",
  (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')::int AS extensions,
  (SELECT count(*) FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns) AND n.nspname <> 'public'
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_namespace'::regclass AND ext.objid = n.oid))::int AS schemas`;

/** "2 functions, 1 large object": what {@link USER_OBJECTS_SQL} found, empty when nothing. */
export function describeUserObjects(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${n} ${n === 1 ? what.replace(/s$/, "") : what}`)
    .join(", ");
}

/** The user objects in the restore target, described ("" when it holds none). */
export async function targetContents(t: PgTarget): Promise<string> {
  const c = pgClient(t);
  c.on("error", () => undefined);
  try {
    await c.connect();
    const r = await c.query<Record<string, number>>(USER_OBJECTS_SQL);
    return describeUserObjects(r.rows[0]!);
  } catch (e) {
    throw new RunError(`cannot connect to the restore target ${t.display}: ${scrub(errorMessage(e), [t.password])}`);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function restoreCommand(o: RestoreOpts, log: Logger): Promise<number> {
  // A bucket source is rebuilt into a bucket from a snapshot manifest: its own module.
  if ((o as { source?: string }).source === "bucket") return (await import("../bucket/restoreCommand")).bucketRestoreCommand(o, log);
  const name = checkName(o.name);
  const targets = [o.targetUrl && "--target-url", o.targetDir && "--target-dir", o.targetFile && "--target-file"].filter(Boolean);
  if (targets.length !== 1) throw new UsageError("restore needs exactly one of --target-url URL, --target-dir DIR or --target-file FILE");
  const jobs = intOption("--jobs", o.jobs, 1, 64);
  const alerts = makeAlerts(o, log);
  const store = makeStore(o);
  // Point-in-time recovery: a source with base backups (basebackup + wal-stream) restored into a directory.
  if (o.targetDir && !o.key && (await baseBackups(store, name)).length > 0) {
    const started = Date.now();
    const progress = new Progress(`restore ${name}`, log);
    try {
      const storeConfig = { dest: o.dest, endpoint: o.endpoint, region: o.region, localDir: o.localDir && resolve(o.localDir), maxAttempts: o.maxAttempts, timeout: o.timeout, requestTimeout: o.requestTimeout };
      const pitr = { timeline: o.timeline, base: o.base, allowPartialTarget: o.allowPartialTarget, prefetch: intOption("--prefetch", o.prefetch ?? "8", 0, 64) };
      const detail = await restorePitr(store, { name, at: o.at, targetDir: o.targetDir, identity: o.identity, storeConfig, ...pitr }, log, progress);
      progress.stop();
      const secs = (Date.now() - started) / 1000;
      const result = { ok: true, source: name, kind: "pg-basebackup", seconds: secs, ...detail };
      log.info(result, `point-in-time restore of ${name} prepared`);
      output(
        o,
        result,
        `restore ok: ${name} to ${detail.recoveryTarget} (timeline ${detail.timeline}) from ${detail.base} in ${secs.toFixed(1)}s; ${detail.walFiles} WAL segment(s) past it, fetched on demand as PostgreSQL replays\n  start it with: ${detail.next}` +
          (detail.warnings as string[]).map((w) => `\n  WARNING: ${w}`).join(""),
      );
      return EXIT_OK;
    } catch (e) {
      progress.stop();
      await alerts.alert(`Lifeboat: point-in-time restore of ${name} FAILED: ${failureMessage(e)}`);
      throw e;
    }
  }
  const pitrFlags = [o.timeline !== undefined && "--timeline", o.base !== undefined && "--base", o.allowPartialTarget && "--allow-partial-target", o.prefetch !== undefined && "--prefetch"].filter(Boolean);
  if (pitrFlags.length) throw new UsageError(`${pitrFlags.join(", ")}: point-in-time recovery only (a source with base backups, restored with --target-dir and without --key)`);
  const sel = await selectBackup(store, name, o.at, o.key);
  const m = sel.manifest;
  const key = sel.entry.key;
  for (const f of sel.entry.flags) log.warn({ key }, `restoring ${key}, chosen by --key, although it is untrusted: ${f}`);
  for (const s of sel.skipped) log.warn({ key }, `skipped a newer backup: ${s}; restoring ${key} instead`);
  // Everything below is checked before a single byte is downloaded or the target touched.
  checkIdentity(o.identity, m, key);
  requireTools([
    { cmd: "age", why: "decrypts the backup" },
    { cmd: "zstd", why: "decompresses the backup" },
  ]);
  const started = Date.now();
  const progress = new Progress(`restore ${name}`, log);
  log.info({ source: name, key }, `restoring ${key}`);
  try {
    let detail: Record<string, unknown> = {};
    if (m.kind === "pg-basebackup") {
      throw new UsageError(`${key} is a base backup: restore it (with its WAL) with --target-dir DIR [--at TIME]`);
    } else if ((o.table?.length || o.schema?.length) && m.kind !== "postgres") {
      throw new UsageError(`--table and --schema select tables of a postgres backup; ${key} is a ${m.kind} backup`);
    } else if (m.kind === "postgres") {
      if (!o.targetUrl) throw new UsageError(`${key} is a postgres backup: restore it with --target-url postgres://...`);
      detail = await restorePostgres(o, store, sel, jobs, progress);
    } else if (o.path?.length && m.kind !== "volume" && m.kind !== "directory") {
      throw new UsageError(`--path selects files inside a volume or directory archive; ${key} is a ${m.kind} backup`);
    } else if (m.kind === "volume" || m.kind === "directory") {
      if (!o.targetDir) throw new UsageError(`${key} is a ${m.kind} archive: restore it with --target-dir DIR`);
      detail = await restoreArchive(o, store, sel, o.targetDir, progress, log);
    } else {
      const file = o.targetFile ? resolve(o.targetFile) : o.targetDir ? join(resolve(o.targetDir), m.file?.name ?? `${name}.bin`) : undefined;
      if (!file) throw new UsageError(`${key} is a ${m.kind} file: restore it with --target-file FILE or --target-dir DIR`);
      detail = await restoreFile(o, store, sel, file, progress);
    }
    progress.stop();
    const secs = (Date.now() - started) / 1000;
    const result = { ok: true, source: name, key, kind: m.kind, takenAt: m.startedAt, seconds: secs, skipped: sel.skipped, ...detail };
    log.info(result, `restore of ${key} finished`);
    const notes = (detail.notes as string[] | undefined) ?? [];
    for (const n of notes) log.info({ key }, n);
    output(
      o,
      result,
      [`restore ok: ${key} (${m.kind}, taken ${m.startedAt}) in ${secs.toFixed(1)}s`, ...sel.skipped.map((s) => `  SKIPPED a newer backup: ${s}`), ...notes.map((n) => `  ${n}`), ...(detail.keptAside ? [`  the previous contents are kept in ${detail.keptAside}`] : [])].join("\n"),
    );
    return EXIT_OK;
  } catch (e) {
    progress.stop();
    await alerts.alert(`Lifeboat: restore of ${name} from ${key} FAILED: ${failureMessage(e)}`);
    throw e;
  }
}

async function restorePostgres(o: RestoreOpts, store: ReturnType<typeof makeStore>, sel: Awaited<ReturnType<typeof selectBackup>>, jobs: number, progress: Progress) {
  const target = pgTarget(o.targetUrl, "--target-url");
  requireTools([{ cmd: "pg_restore", why: "restores the postgres dump" }]);
  const selective = !!(o.table?.length || o.schema?.length);
  const now = new Date();
  // A whole-database restore goes into an empty database; --force keeps a non-empty one aside
  // (renamed), checked here before a byte is downloaded. A --table restore goes into any
  // database: same-named tables are dealt with once the dump's TOC says which tables come.
  const holds = selective ? "" : await targetContents(target);
  const dbAside = holds ? keptAsideDatabaseName(target.params.dbname!, now) : undefined;
  if (holds && !o.force) {
    throw new UsageError(
      `--target-url ${target.display} is not empty (it holds ${holds}); restore into an empty database, or add --force (the database is then renamed to ${dbAside} and the backup restored into a new, empty ${target.params.dbname}; nothing is dropped)`,
    );
  }
  if (dbAside) await checkDatabaseAside(target, dbAside);
  // pg_restore -j needs a seekable file: the dump is decoded to the work directory, and the
  // target is touched only after the whole object decrypted and matched its manifest's sha256.
  // So the work directory must hold the whole decoded dump: checked before downloading a byte.
  const work = resolve(workDir(o));
  const fs = await fsp.statfs(work).catch((e) => {
    throw new UsageError(`--work-dir ${work}: ${errorMessage(e)}`);
  });
  const short = workDirShortfall(work, fs.bavail * fs.bsize, sel.manifest.rawBytes, sel.entry.key);
  if (short) throw new UsageError(short);
  const dir = await fsp.mkdtemp(join(work, "lifeboat-restore-"));
  try {
    const dumpFile = join(dir, "dump.pgc");
    // zstd writes the file itself (the decoded bytes never pass through node); node hashes the
    // stored bytes as they arrive and `done` checks them against the manifest.
    const dl = await downloadToFile(store, sel, o.identity!, dumpFile, (n) => {
      progress.update(n);
      progress.updateStored(n);
    });
    await dl.done.catch((e) => {
      // zstd dying on a full disk shows first as age's broken pipe: say what happened instead.
      const full = dl.procs.map((p) => p.stderr.text()).find((t) => /no space left on device/i.test(t));
      if (full) {
        throw new RunError(
          `ENOSPC: --work-dir ${work} ran out of space while decoding ${sel.entry.key} (no space left on device; zstd: ${full.trim().split("\n").pop()}); free space or point --work-dir (${ENV.workDir}) at a disk with room for the decoded dump`,
        );
      }
      throw e;
    });
    // The dump is complete and checked: only now is the target touched.
    if (dbAside) await keepDatabaseAside(target, dbAside);
    let picked: Awaited<ReturnType<typeof pickTables>> | undefined;
    try {
      const toc = await run("pg_restore", "pg_restore", ["--list", "--verbose", dumpFile]);
      // Roles are cluster-wide and not in the dump: create the recorded ones the target lacks.
      const rc = pgClient(target);
      rc.on("error", () => undefined);
      let roles;
      try {
        await rc.connect();
        if (selective) picked = await pickTables(rc, toc, o, keptAsideSchemaName(now));
        roles = await prepareRoles(rc, sel.manifest.postgres?.roles ?? []);
      } finally {
        await rc.end().catch(() => undefined);
      }
      const pgRestore = (args: string[]) =>
        run("pg_restore", "pg_restore", [...(roles.restoreOwners ? [] : ["--no-owner"]), `--jobs=${jobs}`, "--no-password", `--dbname=${target.url}`, ...args, dumpFile], {
          env: pgEnv(target),
          scrubber: (s) => scrub(s, [target.password]),
        });
      // Triggers in a second pass, once every row is in (see pgtoc.ts). The target is empty or
      // new (or, for --table, holds none of the restored names): nothing to clean.
      const lists = splitTriggers(picked ? useList(toc, picked.ids) : toc);
      await fsp.writeFile(join(dir, "main.list"), lists.main);
      await fsp.writeFile(join(dir, "triggers.list"), lists.triggers);
      await pgRestore([`--use-list=${join(dir, "main.list")}`]);
      if (lists.hasTriggers) await pgRestore([`--use-list=${join(dir, "triggers.list")}`]);
      // Compare with the row counts taken in the dump's snapshot, over --jobs connections.
      const clients: Client[] = [];
      let counts;
      try {
        for (let i = 0; i < jobs; i++) {
          const c = pgClient(target);
          c.on("error", () => undefined);
          clients.push(c);
        }
        await Promise.all(clients.map((c) => c.connect()));
        counts = picked ? await countTables(clients[0]!, picked.counted) : await countRowsOn(clients);
      } finally {
        for (const c of clients) await c.end().catch(() => undefined);
      }
      // A restore that does not hold what the backup recorded is a failed restore, not a warning.
      const recorded = sel.manifest.postgres?.tables ?? [];
      const mismatches = compareCounts(picked ? recorded.filter((t) => picked!.counted.some((c) => `${c.schema}.${c.name}` === t.table)) : recorded, counts);
      if (mismatches.length) {
        throw new RunError(
          `restored ${target.display} does not match ${sel.entry.key}: ${mismatches.length} table(s) differ from the manifest's row counts:\n  ${mismatches.join("\n  ")}`,
        );
      }
      const notes = [...roles.notes, ...(picked?.notes ?? [])];
      const keptAside = dbAside ?? picked?.keptAside;
      return {
        tables: counts.length,
        rows: counts.reduce((a, t) => a + t.rows, 0),
        ...(picked ? { restoredTables: counts } : {}),
        rowCountMismatches: mismatches,
        rolesCreated: roles.created,
        notes,
        ...(keptAside ? { keptAside } : {}),
      };
    } catch (e) {
      const aside = dbAside ? `the previous database is kept as ${dbAside}` : picked?.keptAside ? `the previous table(s) are kept in schema ${picked.keptAside}` : "";
      throw aside ? new RunError(`${errorMessage(e)} (${aside})`) : e;
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/**
 * `--table/--schema`: the TOC entries that bring the chosen tables back whole (pgTableSelect.ts)
 * plus the schemas, types and functions they need that the target lacks. Same-named tables in
 * the target are refused, or with --force moved into schema `aside` (pgKeepAside.ts).
 */
async function pickTables(c: Client, toc: string, o: RestoreOpts, aside: string) {
  const entries = parseToc(toc);
  const s = selectTables(entries, o.table ?? [], o.schema ?? []);
  // Prerequisites the target lacks come along, with what they need in turn and what belongs
  // to them (a sequence's value); those it holds are checked once.
  const present = new Set<number>();
  for (let added = true; added; ) {
    added = false;
    for (const p of prerequisites(entries, s.ids)) {
      if (present.has(p.id)) continue;
      const q = prerequisiteCheck(p);
      if (!q || (await c.query<{ found: boolean }>(q.sql, q.params)).rows[0]!.found) {
        present.add(p.id);
        continue;
      }
      s.ids.add(p.id);
      added = true;
    }
    closeOver(entries, s.ids);
  }
  const existing = await existingTables(c, s.tables);
  const names = (ts: Array<{ schema: string; name: string }>) => ts.map((t) => `${t.schema}.${t.name}`);
  if (existing.length && !o.force) {
    throw new UsageError(
      `--target-url already holds ${names(existing).join(", ")}; restore into another database (e.g. a staging one), or add --force (the existing table(s) are then moved to schema ${aside}, with their indexes, constraints and sequences; nothing is dropped)`,
    );
  }
  const creates = entries.filter((e: TocEntry) => s.ids.has(e.id) && ["TABLE", "SEQUENCE", "INDEX", "CONSTRAINT"].includes(e.desc));
  await keepTablesAside(c, existing, creates, aside);
  const left = notRestored(entries, s.ids);
  const notes = left.length ? [`not restored (they need objects outside the selected tables): ${left.join(", ")}`] : [];
  if (existing.length) notes.push(`the existing ${names(existing).join(", ")} moved to schema ${aside}`);
  return { ids: s.ids, counted: s.tables, notes, keptAside: existing.length ? aside : undefined };
}

/** Exact row counts of the restored plain tables, named "schema.name" as the manifest names them. */
async function countTables(c: Client, tables: Array<{ schema: string; name: string }>): Promise<Array<{ table: string; rows: number }>> {
  const out: Array<{ table: string; rows: number }> = [];
  for (const t of tables) {
    const ident = `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
    const kind = (await c.query<{ k: string }>(`SELECT relkind::text AS k FROM pg_class WHERE oid = $1::regclass`, [ident])).rows[0]?.k;
    if (kind !== "r") continue; // a partitioned parent holds no rows of its own; its partitions are counted
    out.push({ table: `${t.schema}.${t.name}`, rows: Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${ident}`)).rows[0]!.n) });
  }
  return out;
}

/** The decoded dump's TOC lists (`pg_restore --list`) beside it: small, but room is kept for them. */
const LIST_HEADROOM = 1024 * 1024;

/**
 * Why the work directory cannot hold a decoded dump of `rawBytes` (the manifest's size of what
 * pg_dump produced) with `freeBytes` available to this user, or undefined when it can.
 */
export function workDirShortfall(dir: string, freeBytes: number, rawBytes: number, key: string): string | undefined {
  const need = rawBytes + LIST_HEADROOM;
  if (freeBytes >= need) return undefined;
  return (
    `--work-dir ${dir} has ${formatBytes(freeBytes)} free, but restoring ${key} decodes the whole dump there first ` +
    `(${formatBytes(rawBytes)}, the manifest's rawBytes, + ${formatBytes(LIST_HEADROOM)}): free space there, or point --work-dir (${ENV.workDir}) at a disk with room`
  );
}

/**
 * Extracts into a staging directory on the target's filesystem and swaps it in only once the
 * whole archive decrypted, decompressed and matched the manifest (see restoreDir.ts).
 */
async function restoreArchive(o: RestoreOpts, store: ReturnType<typeof makeStore>, sel: Awaited<ReturnType<typeof selectBackup>>, targetDir: string, progress: Progress, log: Logger) {
  requireTools([{ cmd: "tar", why: "extracts the archive" }]);
  const members = memberPatterns(o.path ?? []);
  const plan = await planDirRestore(targetDir, !!o.force);
  let got: Extracted | undefined;
  let selected: number | undefined;
  const { keptAside } = await restoreIntoDir(plan, async (staging) => {
    const dl = await download(store, sel, o.identity!, (n) => progress.update(n));
    got = await extractArchive(dl.out, dl.done, staging, !!o.allowSpecial, members);
    if (members.length) selected = await countFiles(staging);
    const want = sel.manifest.archive;
    if (want && (want.files !== got.stats.files || want.fileBytes !== got.stats.fileBytes)) {
      throw new RunError(`${sel.entry.key}: archive holds ${got.stats.files} files / ${got.stats.fileBytes} bytes, manifest says ${want.files} / ${want.fileBytes}`);
    }
  });
  const { stats, stripped } = got!;
  if (stripped.length) log.warn({ stripped }, `cleared setuid/setgid bits of ${stripped.length} file(s) (--allow-special keeps them): ${stripped.slice(0, 10).join(", ")}`);
  if (keptAside) log.warn({ keptAside }, `the previous contents of ${plan.target} were moved to ${keptAside}`);
  return { files: stats.files, bytes: stats.fileBytes, target: plan.target, ...(members.length ? { paths: members, restoredFiles: selected } : {}), ...(keptAside ? { keptAside } : {}), ...(stripped.length ? { setuidStripped: stripped } : {}) };
}

async function restoreFile(o: RestoreOpts, store: ReturnType<typeof makeStore>, sel: Awaited<ReturnType<typeof selectBackup>>, file: string, progress: Progress) {
  const exists = await fsp.stat(file).then(() => true, () => false);
  const aside = keptAsideName(file);
  if (exists && !o.force) throw new UsageError(`${file} already exists; add --force to replace it (the current file is then kept as ${aside})`);
  await fsp.mkdir(dirname(file), { recursive: true });
  const partial = `${file}.lifeboat-partial-${randomBytes(4).toString("hex")}`;
  try {
    const dl = await download(store, sel, o.identity!, (n) => progress.update(n));
    await Promise.all([pipeline(dl.out, createWriteStream(partial, { mode: 0o600, flags: "wx" })), dl.done]);
    // A second name for the current file, then an atomic rename over it: the path never lacks a file.
    if (exists) await fsp.link(file, aside).catch(() => fsp.copyFile(file, aside, fsConstants.COPYFILE_EXCL));
    await fsp.rename(partial, file);
    return { file, bytes: dl.rawBytes(), size: formatBytes(dl.rawBytes()), ...(exists ? { keptAside: aside } : {}) };
  } finally {
    await fsp.rm(partial, { force: true });
  }
}
