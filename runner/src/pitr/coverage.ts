/**
 * How far the WAL in the bucket reaches, as a pure bookkeeping of spool snapshots and uploads.
 *
 * Files leave the spool only after they are uploaded, so at the moment the spool is listed (time
 * T) the bucket lacks nothing but what the spool holds. Everything written up to T is therefore
 * recoverable once each file the spool held at T is in the bucket with (at least) its content as
 * of T: every completed segment by name, the partial segment by the content that was read.
 * Coverage advances to T only then, whatever order the uploads finish in. A partial segment
 * uploaded while an older completed segment is still only in the spool does not advance it: that
 * would claim a recovery point the bucket cannot reach (replay stops at the missing segment).
 */

/** What an upload puts in the bucket: a completed file by name, a partial segment by name and content. */
export function walItem(file: string, sha256?: string): string {
  return sha256 === undefined ? file : `${file}#${sha256}`;
}

/** How many uploaded items are remembered for snapshots that list them again (uploaded, not yet removed). */
const DONE_MEMORY = 1024;

export class Coverage {
  private readonly pending: Array<{ at: number; need: Set<string> }> = [];
  private readonly done = new Set<string>();
  private covered: number;

  constructor(start: number) {
    this.covered = start;
  }

  /** Everything written before this time is in the bucket. */
  get coveredAt(): number {
    return this.covered;
  }

  /** At time `at` the spool held `items` (see walItem). */
  snapshot(at: number, items: string[]): void {
    this.pending.push({ at, need: new Set(items.filter((i) => !this.done.has(i))) });
    this.settle();
  }

  /** `item` is in the bucket (object and manifest written). */
  uploaded(item: string): void {
    this.done.add(item);
    if (this.done.size > DONE_MEMORY) this.done.delete(this.done.values().next().value!);
    for (const s of this.pending) s.need.delete(item);
    this.settle();
  }

  private settle(): void {
    // The newest fully uploaded snapshot wins; older ones are implied by it (their files were
    // either still in the spool at that later time, and so are uploaded, or already uploaded).
    let newest = -1;
    this.pending.forEach((s, i) => {
      if (s.need.size === 0 && (newest < 0 || s.at >= this.pending[newest]!.at)) newest = i;
    });
    if (newest < 0) return;
    this.covered = Math.max(this.covered, this.pending[newest]!.at);
    for (let i = this.pending.length - 1; i >= 0; i--) if (this.pending[i]!.at <= this.covered) this.pending.splice(i, 1);
  }
}
