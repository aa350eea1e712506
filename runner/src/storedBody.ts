import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";

/**
 * The bytes a store writes, in order. A chunk is valid only until the next one is asked for (a
 * reader may read every chunk into the same buffer), so a consumer copies or writes each chunk
 * before it takes the next. `destroy` ends it with an error. A Node Readable is one.
 */
export interface StoredBody extends AsyncIterable<Buffer> {
  destroy(error?: Error): void;
}

/**
 * Destroys `body` with the signal's reason when it aborts (the run's deadline or stop): a wait for
 * the body (a stalled source) ends too, not only requests in flight. Returns the unsubscribe.
 */
export function destroyOnAbort(body: StoredBody, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => undefined;
  const stop = () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  return () => signal.removeEventListener("abort", stop);
}

/** Length and sha256 of the stored bytes; final once every byte was read. */
export interface StoredDigest {
  readonly bytes: number;
  digest(): string;
}

/**
 * The encrypted bytes read from a FIFO (age's output) into one reused buffer, hashed on the way.
 *
 * Why: a pipe read as a Node stream gives a newly allocated 64 KiB buffer per read. A 1 GB backup
 * stores ~265 MiB, all of it garbage once copied into a part buffer or written to the file, and V8
 * collects such off-heap garbage only after tens of MiB of it piled up: the runner's peak RSS at
 * 1 GB swung from 144 to 160 MiB between runs and the tree's went past 200 MB (bench/notes.md).
 * Read into one buffer, that garbage is never made.
 *
 * Ends only after `done` resolves, and throws its error when it rejects: a store never sees a clean
 * end of a pipeline in which any stage failed. `destroy` stops the pipeline (`stop`), since a read
 * blocked on an empty FIFO cannot be interrupted from node: the writer's end must go away.
 */
export class FifoStoredBody implements StoredBody, StoredDigest {
  bytes = 0;
  private readonly hash = createHash("sha256");
  private hex: string | undefined;
  private failure: Error | undefined;
  /**
   * Node's end of the FIFO, opened at once rather than when the store starts reading: age's
   * shell waits to open its end until node has opened this one, and a writer that never got to
   * open is not stopped by node's exit (not even by SIGKILL: no pipe breaks for it), where one
   * that did gets EPIPE when node's end goes away.
   */
  private readonly opened: Promise<FileHandle>;
  private taken = false;
  private abandoned = false;

  constructor(
    open: () => Promise<FileHandle>,
    private readonly done: Promise<void>,
    private readonly stop: () => void,
    private readonly size = 1 << 20,
  ) {
    this.opened = open();
    this.opened.catch(() => undefined);
  }

  /** Closes node's end if no store took the body (the run failed first), so age gets EPIPE. */
  abandon(): void {
    if (this.taken) return;
    this.taken = true;
    this.abandoned = true;
    void this.opened.then(
      (fh) => fh.close(),
      () => undefined,
    );
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    if (this.abandoned) await this.settled(); // the pipeline failed before any store read it: its failure is the error
    if (this.taken) throw new Error("the stored bytes can be read once");
    this.taken = true;
    let fh: FileHandle;
    try {
      fh = await this.opened;
    } catch (e) {
      // The pipeline failed and was cleaned up before this read began: its failure is the error.
      await this.settled();
      throw e;
    }
    try {
      const buf = Buffer.allocUnsafe(this.size);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, this.size, null);
        if (this.failure) throw this.failure;
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        this.hash.update(chunk);
        this.bytes += bytesRead;
        yield chunk;
      }
    } finally {
      await fh.close();
    }
    await this.settled();
  }

  /** Resolves when every stage succeeded; otherwise throws why this body was stopped, or the pipeline's failure. */
  private async settled(): Promise<void> {
    try {
      await this.done;
    } catch (e) {
      throw this.failure ?? e;
    }
    if (this.failure) throw this.failure;
  }

  destroy(error: Error = new Error("the stored bytes' reader was stopped")): void {
    this.failure ??= error;
    this.stop();
  }

  digest(): string {
    this.hex ??= this.hash.digest("hex");
    return this.hex;
  }
}
