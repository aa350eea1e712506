import { createHash } from "node:crypto";
import { PassThrough, Readable, Transform, TransformCallback } from "node:stream";
import { Proc, startProc, allDone } from "./proc";
import { errorMessage, RunError } from "./errors";

/** Counts bytes passing through. */
export class ByteCounter extends Transform {
  bytes = 0;
  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
}

/** sha256 and length of the bytes passing through. */
export class Hasher extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;
  private hex: string | undefined;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    if (!this.hex) this.hex = this.hash.digest("hex");
    return this.hex;
  }
}

/**
 * Passes bytes through but ends only after `until` resolves; destroys itself with the error if
 * it rejects. So a consumer (the uploader) never sees a clean end of stream from a pipeline in
 * which any process failed: a pg_dump that dies mid-stream makes the upload fail, not finish.
 */
export class Gate extends Transform {
  constructor(private readonly until: Promise<void>) {
    super();
    until.catch((e) => this.destroy(e instanceof Error ? e : new Error(String(e))));
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    this.until.then(
      () => cb(),
      (e) => cb(e),
    );
  }
}

/** Rejects when a Node stream errors; never resolves otherwise. */
function streamFailure(s: NodeJS.EventEmitter, what: string): Promise<void> {
  return new Promise((_r, reject) => s.on("error", (e) => reject(new RunError(`${what}: ${errorMessage(e)}`))));
}

export interface EncodedStream {
  /** The encrypted bytes to store. Errors if any stage fails; ends only when all succeeded. */
  body: Readable;
  raw: ByteCounter;
  hasher: Hasher;
  procs: Proc[];
  /** Resolves when every stage succeeded. */
  done: Promise<void>;
  kill(): void;
}

/**
 * Multithreaded zstd sizes its jobs at 4× the window by default, which at levels 3–5 keeps about
 * 60 MB of job buffers resident on 2 cores. 2 MiB jobs (the window at those levels) cut that to
 * about 20 MB with the same speed and ratio (measured on a 1 GB mixed pg_dump, bench/). Higher
 * levels have larger windows and lose speed with small jobs: zstd's default there.
 */
export function zstdJobArgs(level: number): string[] {
  return level <= 5 ? ["-B2MiB"] : [];
}

/** `raw → zstd → age -r ...` with on-the-fly byte counts and sha256 of the encrypted output. */
export function encode(
  raw: Readable,
  sourceProcs: Proc[],
  recipients: string[],
  zstdLevel: number,
  onRawBytes?: (n: number) => void,
): EncodedStream {
  const zstd = startProc("zstd", "zstd", [`-${zstdLevel}`, "-T0", ...zstdJobArgs(zstdLevel), "-q", "-c", "-"]);
  const age = startProc("age", "age", ["--encrypt", ...recipients.flatMap((r) => ["-r", r])]);
  const counter = new ByteCounter(onRawBytes);
  const hasher = new Hasher();
  raw.on("error", () => undefined);
  raw.pipe(counter).pipe(zstd.child.stdin!);
  zstd.child.stdout!.pipe(age.child.stdin!);
  age.child.stdout!.pipe(hasher);
  const procs = [...sourceProcs, zstd, age];
  const done = Promise.race([
    allDone(procs),
    streamFailure(raw, "reading the source"),
    streamFailure(counter, "reading the source"),
  ]);
  const gate = new Gate(done);
  hasher.pipe(gate);
  const kill = () => procs.forEach((p) => p.kill());
  done.catch(kill);
  return { body: gate, raw: counter, hasher, procs, done, kill };
}

/**
 * `stored → age -d -i KEY → zstd -d`, computing the stored bytes' sha256 on the way. If
 * decryption stops early (corrupt or truncated object, wrong key), the rest of the download is
 * still hashed so the caller can say which it was. `hashed` resolves when every stored byte was
 * hashed; `done` when decryption and decompression succeeded.
 */
export function decode(
  stored: Readable,
  identityFile: string,
): { out: Readable; hasher: Hasher; procs: Proc[]; done: Promise<void>; hashed: Promise<void>; kill(): void } {
  const hasher = new Hasher();
  const age = startProc("age", "age", ["--decrypt", "-i", identityFile]);
  const zstd = startProc("zstd", "zstd", ["-d", "-q", "-c", "-"]);
  stored.on("error", () => undefined);
  const hashed = new Promise<void>((resolve, reject) => {
    hasher.on("end", resolve);
    hasher.on("error", reject);
    stored.on("error", (e) => reject(new RunError(`downloading: ${errorMessage(e)}`)));
  });
  hashed.catch(() => undefined);
  stored.pipe(hasher);
  hasher.pipe(age.child.stdin!);
  const drain = () => {
    hasher.unpipe();
    hasher.on("data", () => undefined);
    hasher.resume();
  };
  age.child.stdin!.on("error", drain);
  age.child.on("close", (code) => {
    if (code !== 0) drain();
  });
  age.child.stdout!.pipe(zstd.child.stdin!);
  const out = new PassThrough();
  zstd.child.stdout!.pipe(out);
  const procs = [age, zstd];
  const done = Promise.all([allDone(procs), hashed]).then(() => undefined);
  const kill = () => {
    procs.forEach((p) => p.kill());
    if (!stored.destroyed) stored.destroy();
  };
  done.catch((e) => {
    procs.forEach((p) => p.kill());
    out.destroy(e);
  });
  return { out, hasher, procs, done, hashed, kill };
}
