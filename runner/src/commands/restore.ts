import { promises as fsp, createWriteStream } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Logger } from "pino";
import { CommonOpts, StoreOpts, checkName, intOption, makeAlerts, makeStore, output, workDir } from "../context";
import { EXIT_OK, RunError, UsageError, errorMessage } from "../errors";
import { checkIdentity, download, downloadToFile, selectBackup } from "../fetch";
import { requireTools, run, startProc } from "../proc";
import { pgClient, pgEnv, pgTarget, countRowsOn, PgTarget } from "../sources/postgres";
import { Client } from "pg";
import { scrub } from "../redact";
import { splitTriggers } from "../pgtoc";
import { Progress, formatBytes } from "../progress";
import { TarCounter } from "../tarstats";
import { baseBackups, restorePitr } from "../pitr/restore";

export interface RestoreOpts extends StoreOpts, CommonOpts {
  name?: string;
  at?: string;
  key?: string;
  identity?: string;
  targetUrl?: string;
  targetDir?: string;
  targetFile?: string;
  force?: boolean;
  jobs: string;
}

/** True when the database holds any user relation. */
export async function databaseHasTables(t: PgTarget): Promise<boolean> {
  const c = pgClient(t);
  c.on("error", () => undefined);
  try {
    await c.connect();
    const r = await c.query(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg\\_%' AND c.relkind IN ('r','p','v','m','S')`,
    );
    return r.rows[0].n > 0;
  } catch (e) {
    throw new RunError(`cannot connect to the restore target ${t.display}: ${scrub(errorMessage(e), [t.password])}`);
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function dirIsEmpty(dir: string): Promise<boolean> {
  try {
    return (await fsp.readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw e;
  }
}

export async function restoreCommand(o: RestoreOpts, log: Logger): Promise<number> {
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
      const detail = await restorePitr(store, { name, at: o.at, targetDir: o.targetDir, identity: o.identity }, log, progress);
      progress.stop();
      const secs = (Date.now() - started) / 1000;
      const result = { ok: true, source: name, kind: "pg-basebackup", seconds: secs, ...detail };
      log.info(result, `point-in-time restore of ${name} prepared`);
      output(
        o,
        result,
        `restore ok: ${name} to ${detail.recoveryTarget} from ${detail.base} + ${detail.walFiles} WAL file(s) in ${secs.toFixed(1)}s\n  start it with: ${detail.next}` +
          (detail.warnings as string[]).map((w) => `\n  WARNING: ${w}`).join(""),
      );
      return EXIT_OK;
    } catch (e) {
      progress.stop();
      await alerts.alert(`Lifeboat: point-in-time restore of ${name} FAILED: ${errorMessage(e)}`);
      throw e;
    }
  }
  const sel = await selectBackup(store, name, o.at, o.key);
  const m = sel.manifest;
  const key = sel.entry.key;
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
    } else if (m.kind === "postgres") {
      if (!o.targetUrl) throw new UsageError(`${key} is a postgres backup: restore it with --target-url postgres://...`);
      detail = await restorePostgres(o, store, sel, jobs, log, progress);
    } else if (m.kind === "volume" || m.kind === "directory") {
      if (!o.targetDir) throw new UsageError(`${key} is a ${m.kind} archive: restore it with --target-dir DIR`);
      detail = await restoreArchive(o, store, sel, o.targetDir, progress);
    } else {
      const file = o.targetFile ? resolve(o.targetFile) : o.targetDir ? join(resolve(o.targetDir), m.file?.name ?? `${name}.bin`) : undefined;
      if (!file) throw new UsageError(`${key} is a ${m.kind} file: restore it with --target-file FILE or --target-dir DIR`);
      detail = await restoreFile(o, store, sel, file, progress);
    }
    progress.stop();
    const secs = (Date.now() - started) / 1000;
    const result = { ok: true, source: name, key, kind: m.kind, takenAt: m.startedAt, seconds: secs, ...detail };
    log.info(result, `restore of ${key} finished`);
    output(o, result, `restore ok: ${key} (${m.kind}, taken ${m.startedAt}) in ${secs.toFixed(1)}s`);
    return EXIT_OK;
  } catch (e) {
    progress.stop();
    await alerts.alert(`Lifeboat: restore of ${name} from ${key} FAILED: ${errorMessage(e)}`);
    throw e;
  }
}

async function restorePostgres(o: RestoreOpts, store: ReturnType<typeof makeStore>, sel: Awaited<ReturnType<typeof selectBackup>>, jobs: number, log: Logger, progress: Progress) {
  const target = pgTarget(o.targetUrl, "--target-url");
  requireTools([{ cmd: "pg_restore", why: "restores the postgres dump" }]);
  if (!o.force && (await databaseHasTables(target))) {
    throw new UsageError(`--target-url ${target.display} is not empty; restore into an empty database or add --force (objects in the dump are dropped and recreated)`);
  }
  // pg_restore -j needs a seekable file: the dump is decoded to the work directory, and the
  // target is touched only after the whole object decrypted and matched its manifest's sha256.
  const dir = await fsp.mkdtemp(join(workDir(o), "lifeboat-restore-"));
  try {
    const dumpFile = join(dir, "dump.pgc");
    // zstd writes the file itself (the decoded bytes never pass through node); node hashes the
    // stored bytes as they arrive and `done` checks them against the manifest.
    const dl = await downloadToFile(store, sel, o.identity!, dumpFile, (n) => {
      progress.update(n);
      progress.updateStored(n);
    });
    await dl.done;
    const pgRestore = (args: string[]) =>
      run("pg_restore", "pg_restore", ["--no-owner", `--jobs=${jobs}`, "--no-password", `--dbname=${target.url}`, ...args, dumpFile], {
        env: pgEnv(target),
        scrubber: (s) => scrub(s, [target.password]),
      });
    // Triggers in a second pass, once every row is in (see pgtoc.ts).
    const lists = splitTriggers(await run("pg_restore", "pg_restore", ["--list", dumpFile]));
    await fsp.writeFile(join(dir, "main.list"), lists.main);
    await fsp.writeFile(join(dir, "triggers.list"), lists.triggers);
    await pgRestore(["--clean", "--if-exists", `--use-list=${join(dir, "main.list")}`]);
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
      counts = await countRowsOn(clients);
    } finally {
      for (const c of clients) await c.end().catch(() => undefined);
    }
    const mismatches = compareCounts(sel.manifest.postgres?.tables ?? [], counts);
    if (mismatches.length) log.warn({ mismatches }, `restored row counts differ from the manifest: ${mismatches.join("; ")}`);
    return { tables: counts.length, rows: counts.reduce((a, t) => a + t.rows, 0), rowCountMismatches: mismatches };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** Differences between the manifest's row counts and the restored ones, one line per table. */
export function compareCounts(expected: Array<{ table: string; rows: number }>, actual: Array<{ table: string; rows: number }>): string[] {
  const got = new Map(actual.map((t) => [t.table, t.rows]));
  const out: string[] = [];
  for (const t of expected) {
    const n = got.get(t.table);
    if (n === undefined) out.push(`table ${t.table} is missing (manifest: ${t.rows} rows)`);
    else if (n !== t.rows) out.push(`table ${t.table} has ${n} rows, manifest says ${t.rows}`);
  }
  const want = new Set(expected.map((t) => t.table));
  for (const t of actual) if (!want.has(t.table)) out.push(`table ${t.table} is not in the manifest`);
  return out;
}

/**
 * Extracts into a staging directory beside the target and moves it into place only once the
 * whole archive decrypted, decompressed and matched the manifest.
 */
async function restoreArchive(o: RestoreOpts, store: ReturnType<typeof makeStore>, sel: Awaited<ReturnType<typeof selectBackup>>, targetDir: string, progress: Progress) {
  const target = resolve(targetDir);
  requireTools([{ cmd: "tar", why: "extracts the archive" }]);
  if (!o.force && !(await dirIsEmpty(target))) {
    throw new UsageError(`--target-dir ${target} is not empty; restore into an empty or new directory, or add --force to replace its contents`);
  }
  await fsp.mkdir(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}.lifeboat-restore-${randomBytes(4).toString("hex")}`);
  await fsp.mkdir(staging, { mode: 0o700 });
  try {
    const dl = await download(store, sel, o.identity!, (n) => progress.update(n));
    const counter = new TarCounter();
    const tar = startProc("tar", "tar", ["--extract", "--file=-", "--numeric-owner", "--preserve-permissions", "-C", staging]);
    await Promise.all([pipeline(dl.out, counter, tar.child.stdin!), dl.done, tar.done]);
    const want = sel.manifest.archive;
    if (want && (want.files !== counter.stats.files || want.fileBytes !== counter.stats.fileBytes)) {
      throw new RunError(`${sel.entry.key}: archive holds ${counter.stats.files} files / ${counter.stats.fileBytes} bytes, manifest says ${want.files} / ${want.fileBytes}`);
    }
    // Swap into place.
    await fsp.mkdir(target, { recursive: true });
    if (o.force) for (const e of await fsp.readdir(target)) await fsp.rm(join(target, e), { recursive: true, force: true });
    for (const e of await fsp.readdir(staging)) await fsp.rename(join(staging, e), join(target, e));
    const st = await fsp.stat(staging);
    await fsp.chmod(target, st.mode & 0o7777).catch(() => undefined);
    return { files: counter.stats.files, bytes: counter.stats.fileBytes, target };
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
}

async function restoreFile(o: RestoreOpts, store: ReturnType<typeof makeStore>, sel: Awaited<ReturnType<typeof selectBackup>>, file: string, progress: Progress) {
  const exists = await fsp.stat(file).then(() => true, () => false);
  if (exists && !o.force) throw new UsageError(`${file} already exists; add --force to replace it`);
  await fsp.mkdir(dirname(file), { recursive: true });
  const partial = `${file}.lifeboat-partial-${randomBytes(4).toString("hex")}`;
  try {
    const dl = await download(store, sel, o.identity!, (n) => progress.update(n));
    await Promise.all([pipeline(dl.out, createWriteStream(partial, { mode: 0o600, flags: "wx" })), dl.done]);
    await fsp.rename(partial, file);
    return { file, bytes: dl.rawBytes(), size: formatBytes(dl.rawBytes()) };
  } finally {
    await fsp.rm(partial, { force: true });
  }
}
