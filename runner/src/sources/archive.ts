import { promises as fsp, statSync } from "node:fs";
import { join, relative, resolve, sep, dirname } from "node:path";
import { mkdtemp } from "node:fs/promises";
import { startProc, requireTools } from "../proc";
import { RunError, UsageError, errorMessage } from "../errors";
import { TarCounter, classifyTarExit } from "../tarstats";
import { OpenSource, SourceOptions } from "./types";
import { isSqliteFile, snapshotSqlite } from "./sqlitesnap";

/** Inside the snapshot dir; renamed back to the original path inside the archive. */
const SNAP_DIR = ".lifeboat-sqlite-snapshot";

async function findSqliteFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await fsp.readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && !/-(wal|shm|journal)$/.test(e.name) && (await isSqliteFile(p))) out.push(p);
    }
  };
  await walk(root);
  return out.sort();
}

export async function checkDirectory(path: string | undefined, flag = "--path"): Promise<string> {
  if (!path) throw new UsageError(`${flag} DIR is required for a volume or directory source`);
  const abs = resolve(path);
  const st = await fsp.stat(abs).catch(() => undefined);
  if (!st) throw new UsageError(`${flag}: ${abs} does not exist`);
  if (!st.isDirectory()) throw new UsageError(`${flag}: ${abs} is not a directory`);
  return abs;
}

/** Bounds the tar diagnostics kept for {@link classifyTarExit}; past it the run fails rather than guess. */
const MAX_TAR_STDERR = 1 << 20;

/**
 * A tar of a directory (or a Docker volume's mount point). SQLite databases inside it are
 * snapshotted with the online backup API and the snapshot is archived under the database's
 * own name, so a database being written while we read never lands torn in the archive.
 *
 * What is not a faithful copy is never reported as ok, and one bad file does not lose the
 * volume: a file with the SQLite header that the backup API cannot open (damaged, or not a
 * database) is archived as is and named in the manifest's warnings; tar's own diagnostics are
 * decided per file by {@link classifyTarExit} (a file that shrank while read fails the run; one
 * that changed, vanished or could not be opened makes it degraded, with the file named).
 */
export async function openArchive(o: SourceOptions): Promise<OpenSource> {
  const root = await checkDirectory(o.path);
  const tools = requireTools([{ cmd: "tar", why: "archives the directory" }]);
  const dbs = await findSqliteFiles(root);
  let snapDir: string | undefined;
  const cleanup = async () => {
    if (snapDir) await fsp.rm(snapDir, { recursive: true, force: true });
  };
  const rels: string[] = [];
  const warnings: string[] = [];
  try {
    if (dbs.length) {
      Object.assign(tools, requireTools([{ cmd: "sqlite3", why: "snapshots SQLite databases inside the archive" }]));
      snapDir = await mkdtemp(join(o.workDir, "lifeboat-sqlite-"));
      for (const [i, db] of dbs.entries()) {
        const rel = relative(root, db).split(sep).join("/");
        const tmp = join(snapDir, `${i}.db`);
        try {
          await snapshotSqlite(db, tmp);
        } catch (e) {
          await fsp.rm(tmp, { force: true });
          const w = `${rel}: has the SQLite header but the online backup failed (${errorMessage(e).slice(0, 300)}); archived as is, not as a consistent snapshot`;
          warnings.push(w);
          o.warn(w);
          continue;
        }
        const st = await fsp.stat(db);
        const dest = join(snapDir, SNAP_DIR, ...rel.split("/"));
        await fsp.mkdir(dirname(dest), { recursive: true });
        await fsp.rename(tmp, dest);
        await fsp.chmod(dest, st.mode & 0o7777);
        await fsp.chown(dest, st.uid, st.gid).catch(() => undefined);
        await fsp.utimes(dest, st.atime, st.mtime);
        rels.push(rel);
      }
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  // --sort=name: members in a stable order, the same for the same tree. POSIX (pax) format:
  // the one that carries xattrs and ACLs; atime/ctime left out (they change on every read and
  // restore cannot set ctime). --sparse: holes stay holes, in the archive and on restore.
  const args = [
    "--create", "--file=-", "--numeric-owner", "--format=posix", "--pax-option=delete=atime,delete=ctime",
    "--sparse", "--xattrs", "--acls", "--sort=name", "-C", root,
  ];
  if (rels.length) {
    args.push("--anchored", "--no-wildcards");
    for (const rel of rels) for (const sfx of ["", "-wal", "-shm", "-journal"]) args.push(`--exclude=./${rel}${sfx}`);
    args.push(`--transform=s,^\\./${SNAP_DIR.replace(/\./g, "\\.")}/,./,`);
  }
  args.push(".");
  if (rels.length) args.push("-C", snapDir!, ...rels.map((r) => `./${SNAP_DIR}/${r}`));
  // Exit 1 and 2 are decided in finish(), from every diagnostic tar printed (not only the tail).
  const tar = startProc("tar", "tar", args, { stdinIgnore: true, okCodes: [1, 2] });
  let diagnostics = "";
  tar.child.stderr!.on("data", (b: Buffer) => {
    if (diagnostics.length <= MAX_TAR_STDERR) diagnostics += b.toString("utf8");
  });
  const counter = new TarCounter();
  tar.child.stdout!.pipe(counter);
  tar.child.stdout!.on("error", (e) => counter.destroy(e));
  return {
    stream: counter,
    procs: [tar],
    tools: () => tools,
    async finish() {
      await tar.done;
      if (diagnostics.length > MAX_TAR_STDERR) throw new RunError(`tar printed more than ${MAX_TAR_STDERR} bytes of diagnostics; not reporting this archive as a backup`);
      const isDirectory = (rel: string) => statSync(join(root, rel), { throwIfNoEntry: false })?.isDirectory() === true;
      const outcome = classifyTarExit(tar.child.exitCode ?? -1, diagnostics, isDirectory);
      if (outcome.failures.length) throw new RunError(`the archive is not a faithful copy of ${root}: ${outcome.failures.join("; ")}`);
      for (const w of outcome.warnings) o.warn(`tar: ${w}`);
      return { archive: { ...counter.stats, sqliteSnapshots: rels }, ...([...warnings, ...outcome.warnings].length ? { warnings: [...warnings, ...outcome.warnings] } : {}) };
    },
    cleanup,
  };
}
