import { promises as fsp } from "node:fs";
import { join, relative, resolve, sep, dirname } from "node:path";
import { mkdtemp } from "node:fs/promises";
import { startProc, requireTools } from "../proc";
import { UsageError } from "../errors";
import { TarCounter } from "../tarstats";
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

/**
 * A tar of a directory (or a Docker volume's mount point). SQLite databases inside it are
 * snapshotted with the online backup API and the snapshot is archived under the database's
 * own name, so a database being written while we read never lands torn in the archive.
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
  try {
    if (dbs.length) {
      Object.assign(tools, requireTools([{ cmd: "sqlite3", why: "snapshots SQLite databases inside the archive" }]));
      snapDir = await mkdtemp(join(o.workDir, "lifeboat-sqlite-"));
      for (const [i, db] of dbs.entries()) {
        const rel = relative(root, db).split(sep).join("/");
        const tmp = join(snapDir, `${i}.db`);
        await snapshotSqlite(db, tmp);
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
  const args = ["--create", "--file=-", "--numeric-owner", "--format=gnu", "-C", root];
  if (rels.length) {
    args.push("--anchored", "--no-wildcards");
    for (const rel of rels) for (const sfx of ["", "-wal", "-shm", "-journal"]) args.push(`--exclude=./${rel}${sfx}`);
    args.push(`--transform=s,^\\./${SNAP_DIR.replace(/\./g, "\\.")}/,./,`);
  }
  args.push(".");
  if (rels.length) args.push("-C", snapDir!, ...rels.map((r) => `./${SNAP_DIR}/${r}`));
  const tar = startProc("tar", "tar", args, {
    stdinIgnore: true,
    okCodes: [1],
    onWarnExit: (_c, err) => o.warn(`tar: some files changed while being archived: ${err.slice(0, 500)}`),
  });
  const counter = new TarCounter();
  tar.child.stdout!.pipe(counter);
  tar.child.stdout!.on("error", (e) => counter.destroy(e));
  return {
    stream: counter,
    procs: [tar],
    tools,
    async finish() {
      return { archive: { ...counter.stats, sqliteSnapshots: rels } };
    },
    cleanup,
  };
}
