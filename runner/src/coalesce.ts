import { Transform, TransformCallback } from "node:stream";

/**
 * Passes bytes on in pieces of at least `size` bytes (the last may be shorter), so the writer
 * after it makes one large write where small reads gave many: the raw bytes node copies into
 * zstd's pipe where the kernel tee cannot run (ArchiveRowCounter).
 */
export class Coalesce extends Transform {
  private held: Buffer[] = [];
  private heldBytes = 0;
  constructor(private readonly size: number) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes >= this.size) this.push(this.release());
    cb();
  }
  override _flush(cb: TransformCallback): void {
    if (this.heldBytes) this.push(this.release());
    cb();
  }
  private release(): Buffer {
    const b = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    return b;
  }
}
