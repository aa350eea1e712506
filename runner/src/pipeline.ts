import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { PassThrough, Readable, Transform, TransformCallback } from "node:stream";
import { Proc, startProc, allDone, settle } from "./proc";
import { errorMessage, RunError } from "./errors";
import { stripAgeBanner } from "./age";
import { FifoRaw, isFifoRaw } from "./sources/types";
import { FifoDir, fifoUnsupported } from "./fifoDir";
import { FifoStoredBody, StoredBody, StoredDigest } from "./storedBody";

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
  body: StoredBody;
  /** Bytes the source produced (zstd's input); exact once `done` resolved. */
  raw: { readonly bytes: number };
  /** Length and sha256 of the stored bytes, once the body was read to its end. */
  hasher: StoredDigest;
  procs: Proc[];
  /** Resolves when every stage succeeded. */
  done: Promise<void>;
  kill(): void;
}

/** What a manifest records of an encoded stream once `done` resolved: raw and stored sizes, the stored bytes' sha256. */
export function encodedFacts(enc: EncodedStream): { rawBytes: number; storedBytes: number; sha256: string } {
  return { rawBytes: enc.raw.bytes, storedBytes: enc.hasher.bytes, sha256: enc.hasher.digest() };
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

/**
 * The exact byte counts zstd reports for one stream at verbosity -vv (`(N B => M B, …)`;
 * zstd 1.4 says `(N => M bytes, …)`): for compression, bytes read and written. The last report
 * in `stderr` wins. Undefined when there is none.
 */
export function parseZstdReport(stderr: string): { in: number; out: number } | undefined {
  const re = /\(\s*(\d+)(?: B)? =>\s*(\d+)(?: B| bytes),/g;
  let m: RegExpExecArray | null;
  let last: { in: number; out: number } | undefined;
  while ((m = re.exec(stderr))) last = { in: Number(m[1]), out: Number(m[2]) };
  return last;
}

/** zstd's count of bytes read so far, from /proc (Linux), for progress only; 0 when unknown. */
function bytesReadSoFar(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** True when `raw` is the stdout of the last source process and node has not read a byte of it. */
function canConnectDirectly(raw: Readable, sourceProcs: Proc[]): boolean {
  const last = sourceProcs[sourceProcs.length - 1];
  const sock = raw as Readable & { bytesRead?: number };
  return (
    last !== undefined &&
    last.child.stdout === raw &&
    sock.bytesRead === 0 &&
    raw.readableLength === 0 &&
    raw.readableFlowing !== true &&
    !raw.destroyed
  );
}

/**
 * `raw → zstd → age -r ...` with on-the-fly byte counts and sha256 of the encrypted output.
 *
 * With `direct` and a source process's own stdout as `raw`, the processes are connected by kernel
 * pipes (`source | zstd | age`): node reads only the encrypted bytes, which it must hash and
 * upload anyway, and the raw byte count is zstd's own exact report of what it read (parsed when
 * it exits; a missing report fails the run rather than write a wrong manifest). Otherwise (a
 * node stream such as the tar counter, or bytes already read) node copies the raw bytes into zstd
 * and counts them itself.
 */
export function encode(
  raw: Readable | FifoRaw,
  sourceProcs: Proc[],
  recipients: string[],
  zstdLevel: number,
  onRawBytes?: (n: number) => void,
  opts: { direct?: boolean } = {},
): EncodedStream {
  if (isFifoRaw(raw)) return encodeFifo(raw, sourceProcs, recipients, zstdLevel, onRawBytes);
  const direct = opts.direct === true && canConnectDirectly(raw, sourceProcs);
  const zstd = startProc("zstd", "zstd", zstdEncodeArgs(zstdLevel, direct ? "-vv" : "-q"), direct ? { stdinFrom: raw } : {});
  const { age, stored } = startAge(zstd.child.stdout!, recipients);
  const procs = [...sourceProcs, zstd, age];
  let rawCount: { readonly bytes: number };
  let done: Promise<void>;
  if (direct) {
    const count = { bytes: 0 };
    rawCount = count;
    const stop = everySecond(onRawBytes, () => bytesReadSoFar(zstd.child.pid));
    done = allDone(procs)
      .finally(stop)
      .then(() => {
        const report = parseZstdReport(zstd.stderr.text());
        if (!report) throw new RunError(`zstd did not report how many bytes it read: ${zstd.stderr.text().trim().slice(-300)}`);
        count.bytes = report.in;
        onRawBytes?.(count.bytes);
      });
  } else {
    const counter = new ByteCounter(onRawBytes);
    rawCount = counter;
    raw.on("error", () => undefined);
    raw.pipe(counter).pipe(zstd.child.stdin!);
    done = Promise.race([
      allDone(procs),
      streamFailure(raw, "reading the source"),
      streamFailure(counter, "reading the source"),
    ]);
  }
  return encoded(age, stored, procs, rawCount, done);
}

/** zstd compressing stdin to stdout, `-vv` when its byte report is wanted, else `-q`. */
const zstdEncodeArgs = (level: number, verbosity: "-vv" | "-q") => [`-${level}`, "-T0", ...zstdJobArgs(level), verbosity, "-c", "-"];

/** Calls `report` with `read()` every second, for progress only, until the returned function is called. */
function everySecond(report: ((n: number) => void) | undefined, read: () => number): () => void {
  if (!report) return () => undefined;
  const timer = setInterval(() => report(read()), 1000);
  timer.unref();
  return () => clearInterval(timer);
}

const ageArgs = (recipients: string[]) => ["--encrypt", ...recipients.flatMap((r) => ["-r", r])];

/**
 * age encrypting `input` to the recipients. Where FIFOs can be made, age writes into one that node
 * reads into a single reused buffer ({@link FifoStoredBody}); elsewhere node reads age's stdout.
 */
function startAge(input: Readable, recipients: string[]): { age: Proc; stored: FifoDir | undefined } {
  const stored = fifoUnsupported() === undefined ? FifoDir.orNone(["stored"]) : undefined;
  const redirect = stored ? { redirect: { stdout: stored.path("stored") } } : {};
  return { age: startProc("age", "age", ageArgs(recipients), { stdinFrom: input, scrubber: stripAgeBanner, ...redirect }), stored };
}

/** The stored bytes (age's output) hashed and gated on `done`. */
function encoded(age: Proc, stored: FifoDir | undefined, procs: Proc[], raw: { readonly bytes: number }, done: Promise<void>): EncodedStream {
  const kill = () => procs.forEach((p) => p.kill());
  if (stored) {
    // Stopping also releases node's open of the FIFO if age never opened its end, and closes
    // node's end if no store took the body. A stage failing while nobody reads would leave the
    // others blocked on full pipes: the first failure stops every stage.
    const stop = () => {
      kill();
      stored.dispose();
      body.abandon();
    };
    const body: FifoStoredBody = new FifoStoredBody(() => stored.open("stored"), done, stop);
    for (const p of procs) p.done.catch(stop);
    done.then(() => stored.dispose(), stop);
    return { body, raw, hasher: body, procs, done, kill };
  }
  const out = age.child.stdout!;
  const hasher = new Hasher();
  out.on("error", () => undefined); // a failure is reported through `done`
  out.pipe(hasher);
  const gate = new Gate(done);
  // A failure ends the body with `done`'s error, which every consumer awaits; a reader attached
  // later (the store does after an await) still gets that error from the destroyed stream. With
  // no listener, a failure in between was an uncaught 'error' that crashed the runner.
  gate.on("error", () => undefined);
  hasher.pipe(gate);
  done.catch(kill);
  return { body: gate, raw, hasher, procs, done, kill };
}

/**
 * `encode` for raw bytes in a FIFO (the kernel tee's output, sources/pgDumpStream.ts): zstd opens it
 * itself, so the raw bytes reach zstd through kernel pipes only. FIFO opens wait for their other
 * end, so one stage that fails before opening would leave the others waiting: the first failure
 * (a process's, or the check of the copy node reads) stops every process.
 */
function encodeFifo(raw: FifoRaw, sourceProcs: Proc[], recipients: string[], zstdLevel: number, onRawBytes?: (n: number) => void): EncodedStream {
  const zstd = startProc("zstd", "zstd", zstdEncodeArgs(zstdLevel, "-q"), { stdinIgnore: true, redirect: { stdin: raw.fifo } });
  const { age, stored } = startAge(zstd.child.stdout!, recipients);
  const procs = [...sourceProcs, zstd, age];
  // Stopping a stage can leave node's open of the copy waiting for a writer that is gone: release it too.
  const stopAll = () => {
    procs.forEach((p) => p.kill());
    raw.release();
  };
  for (const p of procs) p.done.catch(stopAll);
  raw.done.catch(stopAll);
  const stop = everySecond(onRawBytes, () => raw.counted.bytes);
  const checked = raw.done.then(
    () => undefined,
    (e: unknown) => e ?? new Error("checking the raw bytes failed"),
  );
  const done = Promise.all([settle(procs), checked]).then(([s, checkFailure]) => {
    stop();
    // A process's own failure says most; then the check's (it stopped the processes); then any.
    if (s.cause !== undefined && !s.secondary) throw s.cause;
    if (checkFailure !== undefined) throw checkFailure;
    if (s.cause !== undefined) throw s.cause;
    onRawBytes?.(raw.counted.bytes);
  });
  return encoded(age, stored, procs, raw.counted, done);
}

/**
 * `stored → age -d -i KEY → zstd -d`, computing the stored bytes' sha256 on the way. If
 * decryption stops early (corrupt or truncated object, wrong key), the rest of the download is
 * still hashed so the caller can say which it was. `hashed` resolves when every stored byte was
 * hashed; `done` when decryption and decompression succeeded. age and zstd are connected by a
 * kernel pipe: node copies only the stored bytes (which it hashes) and the decoded output.
 */
export function decode(
  stored: Readable,
  identityFile: string,
): { out: Readable; hasher: Hasher; procs: Proc[]; done: Promise<void>; hashed: Promise<void>; kill(): void } {
  const d = startDecode(stored, identityFile, ["-d", "-q", "-c", "-"]);
  const out = new PassThrough();
  d.zstd.child.stdout!.pipe(out);
  // The failure is reported through `done`, which every consumer awaits. Destroying `out` with it
  // stops whoever reads; without a listener its 'error' event would crash the process (and lose the
  // report) when the failure comes mid-stream, e.g. age rejecting a corrupted chunk.
  out.on("error", () => undefined);
  d.done.catch((e) => out.destroy(e));
  return { out, hasher: d.hasher, procs: d.procs, done: d.done, hashed: d.hashed, kill: d.kill };
}

/**
 * Like `decode`, but zstd writes the decoded bytes to `file` itself (`zstd -d -o FILE`), so they
 * never pass through node. `file` must not exist. Node hashes the stored bytes as they arrive.
 */
export function decodeToFile(
  stored: Readable,
  identityFile: string,
  file: string,
): { hasher: Hasher; procs: Proc[]; done: Promise<void>; hashed: Promise<void>; kill(): void } {
  // umask 077: the decrypted file is readable by its owner only, like the runner's own writes.
  const d = startDecode(stored, identityFile, ["-c", 'umask 077 && exec zstd "$@"', "zstd", "-d", "-q", "-o", file, "-"], "sh");
  return { hasher: d.hasher, procs: d.procs, done: d.done, hashed: d.hashed, kill: d.kill };
}

function startDecode(stored: Readable, identityFile: string, zstdArgs: string[], zstdCmd = "zstd") {
  const hasher = new Hasher();
  const age = startProc("age", "age", ["--decrypt", "-i", identityFile], { scrubber: stripAgeBanner });
  const zstd = startProc("zstd", zstdCmd, zstdArgs, { stdinFrom: age.child.stdout! });
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
  const procs = [age, zstd];
  const done = Promise.all([allDone(procs), hashed]).then(() => undefined);
  const kill = () => {
    procs.forEach((p) => p.kill());
    if (!stored.destroyed) stored.destroy();
  };
  done.catch(() => procs.forEach((p) => p.kill()));
  return { hasher, zstd, procs, done, hashed, kill };
}
