import { open } from "node:fs/promises";
import { run } from "../proc";

const MAGIC = Buffer.from("SQLite format 3\0", "latin1");

/** True when the file starts with the SQLite 3 header. */
export async function isSqliteFile(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, "r");
    const buf = Buffer.alloc(16);
    const { bytesRead } = await fh.read(buf, 0, 16, 0);
    return bytesRead === 16 && buf.equals(MAGIC);
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

/**
 * A consistent copy of a live SQLite database via the online backup API (`sqlite3 .backup`),
 * waiting up to 30 s for a writer's lock. `dest` must be a path without quotes (we make it).
 */
export async function snapshotSqlite(src: string, dest: string): Promise<void> {
  if (/["'\n\\]/.test(dest)) throw new Error(`internal: unsafe snapshot path ${dest}`);
  await run("sqlite3", "sqlite3", [src, ".timeout 30000", `.backup "${dest}"`]);
}
