import { TransformCallback } from "node:stream";
import { Coalesce } from "../coalesce";
import { onPath } from "../version";

/**
 * Exact per-table row counts read from a `pg_dump --format=custom --compress=0` archive as it
 * streams past, so a backup needs no second full read of the database to count rows.
 *
 * The layout (PostgreSQL src/bin/pg_dump/pg_backup_archiver.c and pg_backup_custom.c): a header,
 * the table of contents (one entry per dumped object; `TABLE DATA` entries name the table by
 * namespace and tag), then one data block per entry that has data: a block type byte, the entry's
 * dumpId, and length-prefixed chunks ended by a zero length. With no compression the chunks of a
 * `TABLE DATA` block are the server's text COPY output, in which a row is exactly one
 * `\n`-terminated line (a newline inside a value is escaped as `\n`). pg_dump up to 16 at least
 * ends the data with the text format's terminator, a line `\.` and two empty lines (`\.\n\n\n`):
 * those are not rows. A data line is never exactly `\.` (a backslash in a value is written `\\`),
 * so the row count is the number of `\n` bytes in the table's block minus the terminator's, when
 * the block ends with a `\.` line and empty lines (empty lines before it are rows: a table without
 * columns has them).
 * Large objects come in `BLOBS` blocks (oid, chunks, zero length; oid 0 ends the block): skipped.
 * Ints are a sign byte and `intSize` bytes little-endian; offsets a flag byte and `offSize` bytes.
 *
 * Anything that does not parse, an archive that ends early, or a table whose data block never came
 * is an `ArchiveFormatError`: the backup fails rather than record counts it cannot vouch for.
 */

export class ArchiveFormatError extends Error {
  override name = "ArchiveFormatError";
}

export interface ArchiveTableRows {
  schema: string;
  name: string;
  rows: number;
}

/** Archive versions (major.minor) this parser reads: pg_dump 11 (1.13) to 17 (1.16). */
const MIN_VERSION = 0x010d00;
const MAX_VERSION = 0x0110ff;
const VERS_1_14 = 0x010e00; // TOC entries gain tableam
const VERS_1_15 = 0x010f00; // header names the compression algorithm instead of a level
const VERS_1_16 = 0x011000; // TOC entries gain relkind
const ARCH_CUSTOM = 1;
const BLK_DATA = 1;
const BLK_BLOBS = 3;
const K_OFFSET_NO_DATA = 3;
const NL = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
/** How many of a table's last data bytes are kept to recognise the `\.` terminator. */
const TAIL = 16;
/** The stream wrapper passes bytes on in pieces of at least this many (a Linux pipe's capacity). */
const PASS_ON_BYTES = 64 * 1024;

const enum State {
  Head,
  TocCount,
  TocEntry,
  Block,
  ChunkLen,
  ChunkBody,
  BlobOid,
}

interface Entry {
  dumpId: number;
  desc: string;
  schema: string;
  name: string;
  /** The TOC says a data block follows (offset flag other than K_OFFSET_NO_DATA). */
  hasData: boolean;
  seen: boolean;
  rows: number;
}

/** Thrown inside a unit's parse when the buffered bytes end before the unit does. */
class NeedMore {
  constructor(readonly bytes: number) {}
}

/** Bounds-checked reads of one unit (header, TOC entry, block header, int) from a buffer. */
class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    public intSize: number,
  ) {}
  private want(n: number): void {
    if (this.pos + n > this.buf.length) throw new NeedMore(this.pos + n);
  }
  byte(): number {
    this.want(1);
    return this.buf[this.pos++]!;
  }
  int(): number {
    this.want(1 + this.intSize);
    const v = readInt(this.buf, this.pos, this.intSize);
    this.pos += 1 + this.intSize;
    return v;
  }
  /** A string, or null (length -1). */
  str(): string | null {
    const n = this.int();
    if (n < 0) return null;
    this.want(n);
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  skip(n: number): void {
    this.want(n);
    this.pos += n;
  }
}

function readInt(buf: Buffer, at: number, intSize: number): number {
  let v = 0;
  for (let b = intSize - 1; b >= 0; b--) v = v * 256 + buf[at + 1 + b]!;
  const sign = buf[at]!;
  if (sign > 1) throw new ArchiveFormatError(`bad integer sign byte ${sign}`);
  return sign ? -v : v;
}

/** Number of `\n` bytes in buf[from, to). */
export function countNewlines(buf: Buffer, from: number, to: number): number {
  let n = 0;
  // indexOf (memchr) searches past `to` when the range holds no more newlines; stopping at the
  // range's last byte saves that search in the usual case, a chunk that is one row.
  for (let i = from; i < to; ) {
    const j = buf.indexOf(NL, i);
    if (j === -1 || j >= to) break;
    n++;
    i = j + 1;
  }
  return n;
}

/** The incremental parser: `write` each chunk of the archive in order, then `end`. */
export class CustomArchiveRowCounter {
  private state = State.Head;
  private version = 0;
  private intSize = 0;
  private offSize = 0;
  private tocLeft = 0;
  private readonly entries = new Map<number, Entry>();
  /** The data block being read; undefined inside a BLOBS block. */
  private block: Entry | undefined;
  private counting = false;
  private inBlobs = false;
  private chunkLeft = 0;
  private rows = 0;
  /** Data bytes in the current table's block, and its last (up to TAIL) bytes. */
  private blockBytes = 0;
  private readonly tail = Buffer.alloc(TAIL);
  private tailLen = 0;
  /** While `tailLen` is -1 the tail is lastBuf[lastEnd - TAIL, lastEnd), not yet copied. */
  private lastBuf: Buffer | undefined;
  private lastEnd = 0;
  /** Bytes of a unit that straddles writes, and how many it needs at least before a retry. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private need = 0;
  private failure: ArchiveFormatError | undefined;
  /** Bytes written so far. */
  bytes = 0;
  /** The version of the pg_dump that wrote the archive, from its header (`PG_VERSION`, e.g. "15.20 (Debian 15.20-0+deb12u1)"). */
  dumpVersion: string | undefined;

  /**
   * Parses the next chunk. With `transient`, the chunk's memory is reused once this returns (a
   * reader's one buffer): what the parser keeps of it (a unit that straddles chunks, a table's
   * last bytes) is copied before returning instead of kept by reference.
   */
  write(chunk: Buffer, transient = false): void {
    this.writeChunk(chunk);
    if (!transient) return;
    this.materializeTail();
    if (this.pendingBytes) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
  }

  private writeChunk(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    this.bytes += chunk.length;
    let buf = chunk;
    // A unit that straddles writes is completed from the few bytes it still needs, not by copying
    // the whole next chunk onto it (1 MiB of garbage per straddle, which showed in peak memory).
    while (this.pendingBytes) {
      const missing = this.need - this.pendingBytes;
      if (buf.length < missing) {
        this.pending.push(buf);
        this.pendingBytes += buf.length;
        return;
      }
      const head = Buffer.concat([...this.pending, buf.subarray(0, missing)], this.need);
      this.pending = [];
      this.pendingBytes = 0;
      this.parseOrFail(head);
      buf = buf.subarray(missing);
    }
    this.parseOrFail(buf);
  }

  private parseOrFail(buf: Buffer): void {
    try {
      this.parse(buf);
    } catch (e) {
      this.failure = e instanceof ArchiveFormatError ? e : new ArchiveFormatError(String(e));
      throw this.failure;
    }
  }

  /** The row count of every table whose data the archive holds; throws if the archive is incomplete. */
  end(): ArchiveTableRows[] {
    if (this.failure) throw this.failure;
    if (this.state === State.Head) throw new ArchiveFormatError(`the archive ended after ${this.bytes} bytes, inside its header`);
    if (this.state !== State.Block || this.pendingBytes) {
      const where = this.state === State.TocCount || this.state === State.TocEntry ? "inside its table of contents" : `inside the data of ${this.describe(this.block)}`;
      throw new ArchiveFormatError(`the archive ended after ${this.bytes} bytes, ${where} (truncated)`);
    }
    const out: ArchiveTableRows[] = [];
    for (const e of this.entries.values()) {
      if (e.hasData && !e.seen) throw new ArchiveFormatError(`the archive ended without the data of ${this.describe(e)} (truncated)`);
      if (e.desc === "TABLE DATA") out.push({ schema: e.schema, name: e.name, rows: e.rows });
    }
    return out;
  }

  private describe(e: Entry | undefined): string {
    return e ? `${e.desc} ${e.schema}.${e.name} (dumpId ${e.dumpId})` : "large objects";
  }

  private parse(buf: Buffer): void {
    const len = buf.length;
    let pos = 0;
    while (pos < len) {
      // The hot path: chunk bodies and the lengths between them, read in place.
      if (this.state === State.ChunkBody) {
        const take = Math.min(this.chunkLeft, len - pos);
        if (this.counting) {
          this.rows += countNewlines(buf, pos, pos + take);
          this.keepTail(buf, pos, pos + take);
        }
        pos += take;
        this.chunkLeft -= take;
        if (this.chunkLeft === 0) this.state = State.ChunkLen;
        continue;
      }
      if (this.state === State.ChunkLen && pos + 1 + this.intSize <= len) {
        const end = pos + 1 + this.intSize;
        this.chunkLength(readInt(buf, pos, this.intSize));
        pos = end;
        continue;
      }
      const c = new Cursor(buf, pos, this.intSize);
      try {
        this.unit(c);
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        const rest = buf.subarray(pos);
        this.pending = [rest];
        this.pendingBytes = rest.length;
        this.need = e.bytes - pos;
        return;
      }
      pos = c.pos;
    }
  }

  private chunkLength(n: number): void {
    if (n < 0) throw new ArchiveFormatError(`negative chunk length ${n} in ${this.describe(this.block)}`);
    if (n > 0) {
      this.chunkLeft = n;
      this.state = State.ChunkBody;
      return;
    }
    // A zero length ends a table's data, or one large object inside a BLOBS block.
    if (this.inBlobs) {
      this.state = State.BlobOid;
      return;
    }
    if (this.counting) this.block!.rows = this.rows - this.terminatorLines();
    this.block!.seen = true;
    this.rows = 0;
    this.block = undefined;
    this.state = State.Block;
  }

  /** Keeps the last TAIL data bytes of the table: by reference while ranges are long (the usual case: a chunk is a row). */
  private keepTail(buf: Buffer, from: number, to: number): void {
    this.blockBytes += to - from;
    if (to - from >= TAIL) {
      this.lastBuf = buf;
      this.lastEnd = to;
      this.tailLen = -1;
      return;
    }
    this.materializeTail();
    const n = to - from;
    const keep = Math.min(this.tailLen, TAIL - n);
    this.tail.copyWithin(0, this.tailLen - keep, this.tailLen);
    buf.copy(this.tail, keep, from, to);
    this.tailLen = keep + n;
  }

  private materializeTail(): void {
    if (this.tailLen !== -1 || !this.lastBuf) return;
    this.lastBuf!.copy(this.tail, 0, this.lastEnd - TAIL, this.lastEnd);
    this.tailLen = TAIL;
    this.lastBuf = undefined;
  }

  /** How many of the table's `\n` bytes belong to a closing `\.` line and the empty lines after it (0 if none). */
  private terminatorLines(): number {
    this.materializeTail();
    const t = this.tail;
    let i = this.tailLen;
    while (i > 0 && t[i - 1] === NL) i--;
    const newlines = this.tailLen - i;
    if (newlines === 0 || i < 2 || t[i - 1] !== DOT || t[i - 2] !== BACKSLASH) return 0;
    if (i === 2 && this.blockBytes === this.tailLen) return newlines; // `\.` opens the block: an empty table
    if (i === 2) throw new ArchiveFormatError(`cannot tell where the data of ${this.describe(this.block)} ends (${newlines} empty lines after \\.)`);
    return t[i - 3] === NL ? newlines : 0;
  }

  /** Parses one unit at the cursor, advancing it; throws NeedMore when the buffer ends first. */
  private unit(c: Cursor): void {
    switch (this.state) {
      case State.Head:
        return this.head(c);
      case State.TocCount: {
        const n = c.int();
        if (n < 0) throw new ArchiveFormatError(`negative TOC entry count ${n}`);
        this.tocLeft = n;
        this.state = n ? State.TocEntry : State.Block;
        return;
      }
      case State.TocEntry:
        this.tocEntry(c);
        if (--this.tocLeft === 0) this.state = State.Block;
        return;
      case State.Block: {
        const type = c.byte();
        const dumpId = c.int();
        const e = this.entries.get(dumpId);
        if (!e) throw new ArchiveFormatError(`a data block for dumpId ${dumpId}, which the table of contents does not list`);
        if (!e.hasData || e.seen) throw new ArchiveFormatError(`an unexpected data block for ${this.describe(e)}`);
        if (type === BLK_DATA) {
          this.block = e;
          this.inBlobs = false;
          this.counting = e.desc === "TABLE DATA";
          this.rows = 0;
          this.blockBytes = 0;
          this.tailLen = 0;
          this.state = State.ChunkLen;
        } else if (type === BLK_BLOBS) {
          e.seen = true;
          this.block = undefined;
          this.inBlobs = true;
          this.counting = false;
          this.state = State.BlobOid;
        } else throw new ArchiveFormatError(`unknown data block type ${type} for ${this.describe(e)}`);
        return;
      }
      case State.BlobOid: {
        const oid = c.int();
        if (oid === 0) {
          this.inBlobs = false;
          this.state = State.Block;
        } else this.state = State.ChunkLen;
        return;
      }
      case State.ChunkLen:
        return this.chunkLength(c.int());
      default:
        throw new ArchiveFormatError(`parser in state ${this.state} with no unit to read`);
    }
  }

  private head(c: Cursor): void {
    c.skip(5);
    if (c.buf.toString("latin1", c.pos - 5, c.pos) !== "PGDMP") throw new ArchiveFormatError("not a pg_dump custom-format archive (no PGDMP magic)");
    const vmaj = c.byte(), vmin = c.byte(), vrev = c.byte();
    const version = (vmaj << 16) | (vmin << 8) | vrev;
    if (version < MIN_VERSION || version > MAX_VERSION) {
      throw new ArchiveFormatError(`archive version ${vmaj}.${vmin}.${vrev} is not one this counter reads (1.13 to 1.16: pg_dump 11 to 17)`);
    }
    const intSize = c.byte();
    if (intSize < 1 || intSize > 6) throw new ArchiveFormatError(`integer size ${intSize} is not supported`);
    const offSize = c.byte();
    const format = c.byte();
    if (format !== ARCH_CUSTOM) throw new ArchiveFormatError(`archive format ${format} is not custom (${ARCH_CUSTOM})`);
    c.intSize = intSize;
    const compression = version >= VERS_1_15 ? c.byte() : c.int();
    if (compression !== 0) throw new ArchiveFormatError("the archive is compressed: rows can be counted only in an uncompressed (-Z0) archive");
    for (let i = 0; i < 7; i++) c.int(); // creation time
    c.str(); // database name
    c.str(); // server version
    const dumpVersion = c.str();
    // Only now, with the whole header read: a retry after NeedMore starts from the magic again.
    this.dumpVersion = dumpVersion ?? undefined;
    this.version = version;
    this.intSize = intSize;
    this.offSize = offSize;
    this.state = State.TocCount;
  }

  private tocEntry(c: Cursor): void {
    const dumpId = c.int();
    if (dumpId <= 0) throw new ArchiveFormatError(`TOC entry id ${dumpId} out of range`);
    c.int(); // hadDumper
    c.str(); // tableoid
    c.str(); // oid
    const tag = c.str() ?? "";
    const desc = c.str() ?? "";
    c.int(); // section
    c.str(); // defn
    c.str(); // dropStmt
    const copyStmt = c.str();
    const namespace = c.str() ?? "";
    c.str(); // tablespace
    if (this.version >= VERS_1_14) c.str(); // tableam
    if (this.version >= VERS_1_16) c.int(); // relkind
    c.str(); // owner
    c.str(); // "false" (WITH OIDS)
    while (c.str() !== null); // dependencies, ended by a null string
    const flag = c.byte();
    c.skip(this.offSize);
    if (flag < 1 || flag > 3) throw new ArchiveFormatError(`bad data offset flag ${flag} in TOC entry ${dumpId}`);
    const hasData = flag !== K_OFFSET_NO_DATA;
    if (desc === "TABLE DATA" && hasData && !copyStmt) {
      throw new ArchiveFormatError(`${namespace}.${tag} is dumped as INSERT statements, not COPY: its rows cannot be counted`);
    }
    if (this.entries.has(dumpId)) throw new ArchiveFormatError(`TOC entry id ${dumpId} appears twice`);
    this.entries.set(dumpId, { dumpId, desc, schema: namespace, name: tag, hasData, seen: false, rows: 0 });
  }
}

/**
 * Passes the archive's bytes through unchanged while counting its rows; errors (and so fails the
 * pipeline it feeds) as soon as the bytes stop being a well-formed archive, or at the end if the
 * archive is incomplete. `tables()` is the result once the stream has ended. With `producerDone`
 * (pg_dump's exit), the end waits for it: an archive cut short because pg_dump failed is reported
 * as pg_dump's error, which says why, rather than as a truncated archive.
 */
export class ArchiveRowCounter extends Coalesce {
  private readonly parser = new CustomArchiveRowCounter();
  private result: ArchiveTableRows[] | undefined;

  // pg_dump writes ~8 KiB at a time; passing its bytes on in pieces of at least a pipe's capacity
  // makes one write into zstd where there were eight (measured: the writes into the pipe were the
  // runner's largest CPU cost once node carried the raw bytes).
  constructor(private readonly producerDone?: Promise<unknown>) {
    super(PASS_ON_BYTES);
  }

  override _transform(chunk: Buffer, e: BufferEncoding, cb: TransformCallback): void {
    try {
      this.parser.write(chunk);
    } catch (err) {
      return cb(countingError(err));
    }
    super._transform(chunk, e, cb);
  }

  override _flush(cb: TransformCallback): void {
    const finish = () => {
      try {
        this.result = this.parser.end();
      } catch (e) {
        return cb(countingError(e));
      }
      super._flush(cb);
    };
    if (!this.producerDone) return finish();
    this.producerDone.then(finish, (e) => cb(e instanceof Error ? e : new Error(String(e))));
  }

  /** Row counts by table; throws if the stream has not ended cleanly. */
  tables(): ArchiveTableRows[] {
    return this.result ?? this.parser.end();
  }

  /** The archive header's pg_dump version, once the header passed. */
  get dumpVersion(): string | undefined {
    return this.parser.dumpVersion;
  }
}

/** The stream's error for a counting failure: it fails the backup, and the message says it was the counting. */
export function countingError(e: unknown): ArchiveFormatError {
  return new ArchiveFormatError(`counting the rows in the dump failed: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * `cmd args` with its stdout fully buffered in 1 MiB blocks (coreutils `stdbuf -o1M`, when it is on
 * PATH; else `cmd args` unchanged). pg_dump writes its archive through stdio, which on a pipe
 * flushes every 4 KiB, so node, which reads pg_dump's output to count rows, woke ~40 000 times
 * per 0.5 GB for 4–20 KiB each; with 1 MiB blocks it reads ~7 500 times, mostly 64 KiB. The bytes
 * are the same; only how they are chunked changes.
 */
export function withBufferedStdout(cmd: string, args: string[]): [string, string[]] {
  return onPath("stdbuf") ? ["stdbuf", ["-o1M", cmd, ...args]] : [cmd, args];
}
