import { spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, promises as fsp, rmSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onPath } from "./version";
import { RunError } from "./errors";

/**
 * A kernel-side tee: stdin to stdout, with a copy of every byte on fd 3, using tee(2) and
 * splice(2), so the bytes are never copied into a user-space buffer (Perl: Debian's pg_dump is a
 * Perl script, so Perl is wherever pg_dump is; Node has no binding for either call). stdin and
 * fd 3 must be pipes (FIFOs here); stdout a pipe or a regular file. Each pipe is enlarged to
 * 1 MiB when the kernel allows, so every call moves up to 1 MiB.
 *
 * Why: the runner reads a dump's bytes to count its rows. Reading them in node and writing them
 * on to zstd cost ~1 s of CPU per GB (two copies through node, 64 KiB at a time, over Unix
 * sockets); on 2 cores that CPU is wall time. With this tee, zstd reads pg_dump's bytes from a
 * pipe as in a shell pipeline and node only reads its copy, in 1 MiB reads (bench/notes.md).
 *
 * tee(2) duplicates what stdin holds into fd 3 without consuming it; splice(2) then moves exactly
 * those bytes to stdout. A failed call, a short write (a reader gone) or a signal ends it
 * non-zero; end of input ends it 0. Syscall numbers are per architecture.
 */
export const TEE_SCRIPT = `
use strict; use Config;
my %nr = (x86_64 => [275, 276], aarch64 => [76, 77]);
my ($arch) = $Config{archname} =~ /^(x86_64|aarch64)/ or die "kernel tee: unsupported architecture $Config{archname}\\n";
my ($SPLICE, $TEE) = @{$nr{$arch}};
open(my $copy, '>&=', 3) or die "kernel tee: fd 3 is not open: $!\\n";
fcntl($_, 1031, 1 << 20) for (\\*STDIN, \\*STDOUT, $copy);
for (;;) {
  my $n = syscall($TEE, 0, 3, 1 << 20, 0);
  die "kernel tee: tee(2): $!\\n" if $n < 0;
  last if $n == 0;
  for (my $left = $n; $left > 0;) {
    my $m = syscall($SPLICE, 0, 0, 1, 0, $left, 1);
    die "kernel tee: splice(2): $!\\n" if $m < 0;
    die "kernel tee: output closed\\n" if $m == 0;
    $left -= $m;
  }
}
`;

/** Why the kernel tee cannot be used here, or undefined when it can. */
export function kernelTeeUnsupported(): string | undefined {
  if (process.platform !== "linux") return `tee(2) and splice(2) are Linux calls (this is ${process.platform})`;
  if (process.arch !== "x64" && process.arch !== "arm64") return `no syscall numbers for ${process.arch}`;
  for (const cmd of ["perl", "mkfifo", "sh"]) if (!onPath(cmd)) return `${cmd} is not on PATH`;
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

  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Reads a FIFO to its end into one reused buffer, handing each read to `onChunk`, which must not
   * keep the chunk (its memory is overwritten by the next read). Reads block on libuv's thread
   * pool and return up to `size` bytes (1 MiB where a socket read gives 64 KiB, and no buffer
   * allocated per read). Resolves with the byte count; the open completes when the writer opens.
   */
  async drain(name: string, onChunk: (chunk: Buffer) => void, size = 1 << 20): Promise<number> {
    const path = this.path(name);
    this.opening.add(path);
    let fh: FileHandle;
    try {
      fh = await fsp.open(path, "r");
    } finally {
      this.opening.delete(path);
    }
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
