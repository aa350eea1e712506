/**
 * WAL objects under `<prefix>/<source>/wal/`: naming, parsing and listing.
 *
 * Every object key is `<prefix>/<source>/wal/<file>.<UTC timestamp>-<random>.zst.age`, with
 * `<same key>.manifest.json` beside it, where `<file>` is the name PostgreSQL uses:
 * `000000010000000000000003` (a completed segment), `000000010000000000000004.partial` (the
 * segment being written, flushed on an interval) or `00000002.history` (timeline history).
 * The timestamp and random suffix keep keys unique: a segment uploaded again after a crash
 * (before the spool copy was removed) lands under a new key with identical content.
 */
import { joinKey, keyTimestamp, parseKeyTimestamp, MANIFEST_SUFFIX, WAL_DIR } from "lifeboat-core";
import { Store, ListedObject } from "../store";

export const WAL_EXT = "zst.age";

/** `<prefix>/<source>/wal/` */
export function walPrefix(prefix: string, source: string): string {
  return joinKey(prefix, source, WAL_DIR) + "/";
}

const SEGMENT_RE = /^[0-9A-F]{24}$/;
const FILE_RE = /^(?:[0-9A-F]{24}(?:\.partial)?|[0-9A-F]{8}\.history)$/;

export function isSegmentName(name: string): boolean {
  return SEGMENT_RE.test(name);
}
export function isHistoryName(name: string): boolean {
  return /^[0-9A-F]{8}\.history$/.test(name);
}
export function isPartialName(name: string): boolean {
  return /^[0-9A-F]{24}\.partial$/.test(name);
}
/** A file pg_receivewal finished writing (a completed segment or a history file). */
export function isCompletedWalFile(name: string): boolean {
  return isSegmentName(name) || isHistoryName(name);
}

export function timelineOf(file: string): number {
  return parseInt(file.slice(0, 8), 16);
}

/** The position of a segment on its timeline as sortable text (log and segment parts, 16 hex). */
export function segmentPosition(file: string): string {
  return file.slice(8, 24);
}

export function walKey(prefix: string, source: string, file: string, time: Date, random: string): string {
  if (!FILE_RE.test(file)) throw new Error(`walKey: not a WAL file name: ${file}`);
  return walPrefix(prefix, source) + `${file}.${keyTimestamp(time)}-${random}.${WAL_EXT}`;
}

export interface WalObject {
  key: string;
  manifestKey: string;
  /** The file name as PostgreSQL names it (with `.partial` for partial segments). */
  file: string;
  time: Date;
  size: number;
}

export function parseWalKey(prefix: string, source: string, key: string): Omit<WalObject, "size" | "manifestKey"> | undefined {
  const base = walPrefix(prefix, source);
  if (!key.startsWith(base)) return undefined;
  const m = /^([0-9A-F]{24}(?:\.partial)?|[0-9A-F]{8}\.history)\.([0-9T.Z]+)-[0-9a-f]+\.zst\.age$/.exec(key.slice(base.length));
  if (!m) return undefined;
  const time = parseKeyTimestamp(m[2]!);
  if (!time) return undefined;
  return { key, file: m[1]!, time };
}

/** WAL objects of a source that have their manifest (an object without one is an unfinished upload), oldest first. */
export async function listWal(store: Store, source: string, listed?: ListedObject[]): Promise<WalObject[]> {
  const objs = listed ?? (await store.list(walPrefix(store.prefix, source)));
  const keys = new Set(objs.map((o) => o.key));
  const out: WalObject[] = [];
  for (const o of objs) {
    if (o.key.endsWith(MANIFEST_SUFFIX) || !keys.has(o.key + MANIFEST_SUFFIX)) continue;
    const p = parseWalKey(store.prefix, source, o.key);
    if (p) out.push({ ...p, manifestKey: o.key + MANIFEST_SUFFIX, size: o.size });
  }
  return out.sort((a, b) => a.time.getTime() - b.time.getTime() || (a.key < b.key ? -1 : 1));
}

/** `0/3000028` → bigint */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn.trim());
  if (!m) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt("0x" + m[1]) << 32n) | BigInt("0x" + m[2]);
}

/** The segment after `file` on the same timeline. */
export function nextSegment(file: string, segSize: number): string {
  const perId = 0x100000000n / BigInt(segSize);
  const log = BigInt("0x" + file.slice(8, 16));
  const seg = BigInt("0x" + file.slice(16, 24));
  const segno = log * perId + seg + 1n;
  const hex = (n: bigint) => n.toString(16).toUpperCase().padStart(8, "0");
  return file.slice(0, 8) + hex(segno / perId) + hex(segno % perId);
}

/** The name of the segment holding `lsn` on timeline `tli`. */
export function segmentFileFor(tli: number, lsn: string, segSize: number): string {
  const perId = 0x100000000n / BigInt(segSize);
  const segno = parseLsn(lsn) / BigInt(segSize);
  const hex = (n: bigint) => n.toString(16).toUpperCase().padStart(8, "0");
  return hex(BigInt(tli)) + hex(segno / perId) + hex(segno % perId);
}
