import { promises as fsp, createReadStream } from "node:fs";
import { basename, join, resolve } from "node:path";
import { mkdtemp } from "node:fs/promises";
import { PassThrough } from "node:stream";
import { requireTools } from "../proc";
import { UsageError } from "../errors";
import { OpenSource, SourceOptions } from "./types";
import { isSqliteFile, snapshotSqlite } from "./sqlitesnap";

/**
 * A SQLite database through the online backup API. The API writes a database file, so the
 * consistent copy is made in the work directory first (never the backup stream itself) and
 * removed when the run ends.
 */
export async function openSqlite(o: SourceOptions): Promise<OpenSource> {
  if (!o.path) throw new UsageError("--path FILE is required for a sqlite source");
  const abs = resolve(o.path);
  const st = await fsp.stat(abs).catch(() => undefined);
  if (!st || !st.isFile()) throw new UsageError(`--path: ${abs} is not a file`);
  if (!(await isSqliteFile(abs))) throw new UsageError(`--path: ${abs} is not a SQLite 3 database`);
  const tools = requireTools([{ cmd: "sqlite3", why: "snapshots the SQLite database" }]);
  const dir = await mkdtemp(join(o.workDir, "lifeboat-sqlite-"));
  const cleanup = () => fsp.rm(dir, { recursive: true, force: true });
  const snap = join(dir, "snapshot.db");
  try {
    await snapshotSqlite(abs, snap);
  } catch (e) {
    await cleanup();
    throw e;
  }
  const out = new PassThrough();
  const rs = createReadStream(snap);
  rs.on("error", (e) => out.destroy(e));
  rs.pipe(out);
  return {
    stream: out,
    procs: [],
    tools: () => tools,
    async finish() {
      return { file: { name: basename(abs) } };
    },
    cleanup,
  };
}
