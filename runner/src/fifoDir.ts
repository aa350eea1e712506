import { spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, promises as fsp, rmSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onPath } from "./version";
import { RunError } from "./errors";

/** Why FIFOs cannot be used here (they need `mkfifo` and `sh`, plus `also`), or undefined when they can. */
export function fifoUnsupported(also: string[] = []): string | undefined {
  if (process.platform === "win32") return "named pipes here are not POSIX FIFOs";
  for (const cmd of [...also, "mkfifo", "sh"]) if (!onPath(cmd)) return `${cmd} is not on PATH`;
  return undefined;
}

/**
 * Named pipes in a private directory (0700, each FIFO 0600) for one pipeline. Processes open
 * them by shell redirection (`startProc`'s `redirect`), so every open blocks in a child, never in
 * node. `dispose` releases anything still waiting to open one and removes the directory.
 */
export class FifoDir {
  readonly dir: string;
  /** FIFOs whose reading open in node has not completed yet. */
  private readonly opening = new Set<string>();
  private disposed = false;

  constructor(names: string[]) {
    this.dir = mkdtempSync(join(tmpdir(), "lifeboat-pipe-"));
    const r = spawnSync("mkfifo", ["-m", "600", ...names.map((n) => this.path(n))], { encoding: "utf8" });
    if (r.status !== 0) {
      rmSync(this.dir, { recursive: true, force: true });
      throw new RunError(`mkfifo failed: ${(r.stderr || r.error?.message || "").trim()}`);
    }
  }

  /** The FIFOs, or undefined where they cannot be made (a read-only or full temp directory): the caller's stream path then. */
  static orNone(names: string[]): FifoDir | undefined {
    try {
      return new FifoDir(names);
    } catch {
      return undefined;
    }
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Opens a FIFO for reading; completes when its writer opens it (or `dispose` releases it). The
   * open blocks on libuv's thread pool, never on node's main thread.
   */
  async open(name: string): Promise<FileHandle> {
    const path = this.path(name);
    this.opening.add(path);
    try {
      return await fsp.open(path, "r");
    } finally {
      this.opening.delete(path);
    }
  }

  /**
   * Reads a FIFO to its end into one reused buffer, handing each read to `onChunk`, which must not
   * keep the chunk (its memory is overwritten by the next read). Reads block on libuv's thread
   * pool and return up to `size` bytes (1 MiB where a socket read gives 64 KiB, and no buffer
   * allocated per read). Resolves with the byte count; the open completes when the writer opens.
   */
  async drain(name: string, onChunk: (chunk: Buffer) => void, size = 1 << 20): Promise<number> {
    const fh = await this.open(name);
    try {
      const buf = Buffer.allocUnsafe(size);
      let total = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, size, null);
        if (bytesRead === 0) return total;
        total += bytesRead;
        onChunk(buf.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  }

  /**
   * Removes the directory. A read whose open still waits for a writer (one that failed before it
   * opened its end) is released first: opening the FIFO for reading and writing at once never
   * blocks on Linux and completes the waiting open, and the read then sees end of file. Open
   * FIFOs keep working after their names are gone, so this is safe while bytes still flow.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const path of this.opening) {
      try {
        closeSync(openSync(path, constants.O_RDWR | constants.O_NONBLOCK));
      } catch {
        // already gone: nothing waits on it
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
