import { Transform, TransformCallback } from "node:stream";

export interface TarStats {
  /** Regular files in the archive. */
  files: number;
  /** Total bytes of the regular files. */
  fileBytes: number;
  /** Every member: files, directories, links. */
  entries: number;
}

function parseOctalOrBase256(b: Buffer): number {
  if (b[0]! & 0x80) {
    // GNU base-256: big-endian, first byte's high bit is the marker.
    let n = b[0]! & 0x7f;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = b.toString("ascii").replace(/\0.*$/s, "").trim();
  return s ? parseInt(s, 8) : 0;
}

interface PaxFields {
  /** Overrides the header's size: the member's data in the archive. */
  size?: number;
  /** A sparse file's real size (its data in the archive is smaller). */
  realsize?: number;
  path?: string;
}

function paxFields(data: Buffer): PaxFields {
  // Records: "<len> <key>=<value>\n"
  const out: PaxFields = {};
  for (const line of data.toString("utf8").split("\n")) {
    const m = /^\d+ (size|GNU\.sparse\.realsize|path)=(.*)$/.exec(line);
    if (m?.[1] === "size") out.size = Number(m[2]);
    else if (m?.[1] === "path") out.path = m[2];
    else if (m) out.realsize = Number(m[2]);
  }
  return out;
}

/** What an extraction lets through: see {@link TarCounter}'s `guard`. */
export interface ExtractGuard {
  /** Let device nodes and FIFOs through, and keep setuid/setgid bits on files. */
  allowSpecial: boolean;
}

/** Member types that create device nodes or FIFOs. */
const SPECIAL_TYPES: Record<string, string> = { "3": "character device", "4": "block device", "6": "FIFO" };

function memberName(h: Buffer, pax: PaxFields | undefined): string {
  if (pax?.path) return pax.path;
  const cstr = (b: Buffer) => b.toString("utf8").replace(/\0.*$/s, "");
  const prefix = cstr(h.subarray(345, 500));
  return prefix ? `${prefix}/${cstr(h.subarray(0, 100))}` : cstr(h.subarray(0, 100));
}

/** Writes `mode` into a header block and recomputes its checksum (POSIX ustar layout). */
function setHeaderMode(h: Buffer, mode: number): void {
  h.write(mode.toString(8).padStart(7, "0") + "\0", 100, 8, "ascii");
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "ascii");
}

/**
 * A pass-through stream that reads tar headers as the archive flows by and counts what it
 * holds, without buffering more than one header or pax record. Used on the way into a backup
 * (recorded in the manifest) and on the way out of a verification (compared with it).
 *
 * With a `guard` it is the filter in front of an extracting tar, which restores as root and
 * would recreate whatever the archive says: a device node or FIFO fails the stream before tar
 * sees it, and setuid/setgid bits of non-directories are cleared in the header (a planted
 * archive must not yield a setuid-root shell); `stripped` names those members. It also passes
 * nothing after the end-of-archive marker (two zero blocks), only checks that the rest is zero
 * padding: tar exits at the marker, and writing the padding after it failed restores at random.
 */
export class TarCounter extends Transform {
  readonly stats: TarStats = { files: 0, fileBytes: 0, entries: 0 };
  /** With a guard: members whose setuid/setgid bits were cleared. */
  readonly stripped: string[] = [];
  private header = Buffer.alloc(0);
  private skip = 0; // bytes of member data (padded) still to pass
  private capture: Buffer[] | undefined; // pax data being collected
  private captureLeft = 0;
  private pax: PaxFields | undefined;
  /** The end-of-archive marker went by. */
  ended = false;
  private trailer = 0; // bytes after the first zero block that still belong to the archive (the second one)

  constructor(private readonly guard?: ExtractGuard) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.consume(chunk);
    } catch (e) {
      return cb(e as Error);
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    // A truncated archive's last partial header: passed on so the consumer sees the same bytes.
    if (this.header.length) this.push(this.header);
    cb();
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        if (this.capture && this.captureLeft > 0) {
          const take = Math.min(n, this.captureLeft);
          this.capture.push(chunk.subarray(off, off + take));
          this.captureLeft -= take;
        }
        this.push(chunk.subarray(off, off + n));
        this.skip -= n;
        off += n;
        if (this.skip === 0 && this.capture) {
          this.pax = paxFields(Buffer.concat(this.capture));
          this.capture = undefined;
        }
        continue;
      }
      const need = 512 - this.header.length;
      const take = Math.min(need, chunk.length - off);
      this.header = Buffer.concat([this.header, chunk.subarray(off, off + take)]);
      off += take;
      if (this.header.length < 512) continue;
      const h = this.header;
      this.header = Buffer.alloc(0);
      if (h.every((x) => x === 0)) {
        this.ended = true; // end-of-archive marker; the rest is padding
        this.push(h);
        this.trailer = 512;
        continue;
      }
      this.member(h);
    }
    if (off < chunk.length) this.afterEnd(chunk.subarray(off));
  }

  /** Bytes after the first zero block: the second one and the padding to the record size. */
  private afterEnd(rest: Buffer): void {
    if (!this.guard) return void this.push(rest);
    if (!rest.every((x) => x === 0)) throw new Error("data after the tar end-of-archive marker (not zero padding): the archive is damaged or was tampered with");
    const n = Math.min(this.trailer, rest.length);
    if (n > 0) this.push(rest.subarray(0, n));
    this.trailer -= n;
  }

  private member(h: Buffer): void {
    if (h.subarray(257, 262).toString("ascii") !== "ustar") throw new Error("not a tar archive (bad header magic)");
    const type = String.fromCharCode(h[156]!);
    let size = parseOctalOrBase256(h.subarray(124, 136));
    const padded = Math.ceil(size / 512) * 512;
    if (type === "x" || type === "g") {
      if (type === "x") {
        this.capture = [];
        this.captureLeft = size;
      }
      this.push(h);
      this.skip = padded;
      return;
    }
    if (type === "L" || type === "K") {
      this.push(h);
      this.skip = padded; // GNU long name / long link: data is the name
      return;
    }
    const pax = this.pax;
    this.pax = undefined;
    if (pax?.size !== undefined) size = pax.size;
    if (this.guard && !this.guard.allowSpecial) this.check(h, type, pax);
    this.push(h);
    this.stats.entries++;
    if (type === "0" || type === "\0" || type === "7") {
      this.stats.files++;
      this.stats.fileBytes += pax?.realsize ?? size;
    }
    this.skip = Math.ceil(size / 512) * 512;
  }

  private check(h: Buffer, type: string, pax: PaxFields | undefined): void {
    const special = SPECIAL_TYPES[type];
    if (special) throw new Error(`the archive holds a ${special}, ${JSON.stringify(memberName(h, pax))}; restore refuses device nodes and FIFOs unless --allow-special is given`);
    const mode = parseOctalOrBase256(h.subarray(100, 108));
    if (type !== "5" && mode & 0o6000) {
      setHeaderMode(h, mode & ~0o6000);
      this.stripped.push(memberName(h, pax));
    }
  }
}

/** What GNU tar's exit status and diagnostics mean for the archive it wrote. */
export interface TarOutcome {
  /** The archive is not a faithful copy: the run must fail (no manifest is written). */
  failures: string[];
  /** The archive is complete and every member in it is right, but named files are missing or changed: a degraded run. */
  warnings: string[];
}

const TAR_LINE = /^tar: (.*?): (File shrank by \d+ bytes; padding with zeros|file changed as we read it|File removed before we read it|Cannot open: .*|Cannot stat: No such file or directory)$/;

/**
 * Decides, per diagnostic, what `tar --create` exiting 1 ("some files differ") or 2 means.
 * - `File shrank by N bytes; padding with zeros`: tar keeps the size it promised in the header
 *   and fills the rest with zeros, so that member holds bytes the file never had: failure.
 * - `file changed as we read it`: the member is the file as tar read it, but it changed during
 *   the read (mtime/ctime/size), so it may mix old and new content: degraded, with the name.
 *   For a directory (`isDirectory`) it only means entries came or went while it was archived,
 *   which every live backup sees and which leaves no member wrong: ignored (a file that went
 *   is reported on its own).
 * - `File removed before we read it` / `Cannot stat: No such file or directory`: the file
 *   vanished after the directory was listed; it is not in the archive: degraded, with the name.
 * - `Cannot open: ...` (e.g. permission denied): tar skips the file and archives the rest (exit
 *   2): degraded, with the name, rather than losing the whole volume for one file.
 * - Anything else (a read error mid-file, which tar also pads with zeros, or a message we do not
 *   know) and any other exit code: failure. Unknown is never reported as ok.
 */
export function classifyTarExit(code: number, stderr: string, isDirectory: (path: string) => boolean = () => false): TarOutcome {
  const out: TarOutcome = { failures: [], warnings: [] };
  if (code === 0) return out;
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l && l !== "tar: Exiting with failure status due to previous errors");
  for (const line of lines) {
    const m = TAR_LINE.exec(line);
    const file = m?.[1]?.replace(/^\.\//, "") || ".";
    const what = m?.[2] ?? "";
    if (!m || (code !== 1 && code !== 2)) out.failures.push(line);
    else if (what.startsWith("File shrank")) out.failures.push(`${file}: shrank while being archived; tar padded it with zeros, so the archived copy is wrong`);
    else if (what === "file changed as we read it" && isDirectory(file)) continue;
    else if (what === "file changed as we read it") out.warnings.push(`${file}: changed while being archived (the archived copy may mix old and new content)`);
    else if (what.startsWith("Cannot open")) out.warnings.push(`${file}: not archived: ${what.replace(/^Cannot open: /, "cannot open: ")}`);
    else out.warnings.push(`${file}: removed while being archived (not in the archive)`);
  }
  if (code !== 1 && code !== 2) out.failures.unshift(`tar exited with code ${code}`);
  else if (lines.length === 0) out.failures.push(`tar exited with code ${code} and no diagnostic`);
  return out;
}
