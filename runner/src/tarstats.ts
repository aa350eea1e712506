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

function paxSize(data: Buffer): number | undefined {
  // Records: "<len> <key>=<value>\n"
  let size: number | undefined;
  for (const line of data.toString("utf8").split("\n")) {
    const m = /^\d+ size=(\d+)$/.exec(line);
    if (m) size = Number(m[1]);
  }
  return size;
}

/**
 * A pass-through stream that reads tar headers as the archive flows by and counts what it
 * holds, without buffering more than one header or pax record. Used on the way into a backup
 * (recorded in the manifest) and on the way out of a verification (compared with it).
 */
export class TarCounter extends Transform {
  readonly stats: TarStats = { files: 0, fileBytes: 0, entries: 0 };
  private header = Buffer.alloc(0);
  private skip = 0; // bytes of member data (padded) still to pass
  private capture: Buffer[] | undefined; // pax data being collected
  private captureLeft = 0;
  private nextSize: number | undefined;
  private ended = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.consume(chunk);
    } catch (e) {
      return cb(e as Error);
    }
    cb(null, chunk);
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
        this.skip -= n;
        off += n;
        if (this.skip === 0 && this.capture) {
          const size = paxSize(Buffer.concat(this.capture));
          if (size !== undefined) this.nextSize = size;
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
        continue;
      }
      if (h.subarray(257, 262).toString("ascii") !== "ustar") throw new Error("not a tar archive (bad header magic)");
      const type = String.fromCharCode(h[156]!);
      let size = parseOctalOrBase256(h.subarray(124, 136));
      const padded = Math.ceil(size / 512) * 512;
      if (type === "x" || type === "g") {
        if (type === "x") {
          this.capture = [];
          this.captureLeft = size;
        }
        this.skip = padded;
        continue;
      }
      if (type === "L" || type === "K") {
        this.skip = padded; // GNU long name / long link: data is the name
        continue;
      }
      if (this.nextSize !== undefined) {
        size = this.nextSize;
        this.nextSize = undefined;
      }
      this.stats.entries++;
      if (type === "0" || type === "\0" || type === "7") {
        this.stats.files++;
        this.stats.fileBytes += size;
      }
      this.skip = Math.ceil(size / 512) * 512;
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
