import { z } from "zod";
import { joinKey, keyTimestamp, parseKeyTimestamp } from "lifeboat-core";

/**
 * The bucket source's layout under `<prefix>/<name>/` in the backup bucket (the contract with
 * the components, which put lifecycle and lock rules on these three prefixes):
 * - `objects/<UTC timestamp>-<random>.age`: one app object, age-encrypted (no zstd: media is
 *   mostly compressed already, and a stock `age -d` gets one file back);
 * - `snapshots/<UTC timestamp>-<random>.snapshot.json`: a snapshot manifest, written last;
 * - `journal/<UTC timestamp>-<random>.json`: an event-driven copy or delete between snapshots.
 */
export const OBJECTS_DIR = "objects";
export const SNAPSHOTS_DIR = "snapshots";
export const JOURNAL_DIR = "journal";
export const SNAPSHOT_SUFFIX = ".snapshot.json";

export function bucketPrefix(prefix: string, name: string, dir: string): string {
  return joinKey(prefix, name, dir) + "/";
}

/** A key under one of the three prefixes: `<dir>/<UTC timestamp>-<random><ext>`. */
export function timedKey(prefix: string, name: string, dir: string, time: Date, random: string, ext: string): string {
  return `${bucketPrefix(prefix, name, dir)}${keyTimestamp(time)}-${random}${ext}`;
}

/** The time in a {@link timedKey}, or undefined for a key of another shape. */
export function timedKeyTime(key: string): Date | undefined {
  const m = /\/(\d{8}T\d{6}\.\d{3}Z)-[0-9a-f]+\.[^/]+$/.exec(key);
  return m ? parseKeyTimestamp(m[1]!) : undefined;
}

/** The source name when `key` is a bucket snapshot manifest (`<prefix>/<name>/snapshots/…snapshot.json`). */
export function bucketSourceName(prefix: string, key: string): string | undefined {
  const base = prefix ? joinKey(prefix) + "/" : "";
  if (!key.startsWith(base) || !key.endsWith(SNAPSHOT_SUFFIX)) return undefined;
  const m = new RegExp(`^([^/]+)/${SNAPSHOTS_DIR}/[^/]+$`).exec(key.slice(base.length));
  return m?.[1];
}

/**
 * S3 lists keys in UTF-8 byte order; JavaScript compares UTF-16 code units, which differ only
 * where a surrogate pair (a code point above U+FFFF) meets U+E000..U+FFFF. Shifting the
 * surrogates above that range gives UTF-8 order without encoding every key.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fix(x) - fix(y);
  }
  return a.length - b.length;
}
const fix = (c: number) => (c >= 0xe000 ? c - 0x800 : c >= 0xd800 ? c + 0x2000 : c);

/** Headers S3 keeps with an object and gives back on GET: restored as they were. */
export const KEPT_HEADERS = ["cacheControl", "contentDisposition", "contentEncoding", "contentLanguage"] as const;

/** An object without a prototype holding `pairs`: every name is data, `__proto__` included. */
export function metadataObject(pairs: Iterable<readonly [string, string]>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [name, value] of pairs) out[name] = value;
  return out;
}

/**
 * User metadata exactly as S3 keeps it. Any name is legal there, `__proto__`, `constructor` and
 * `toString` included; zod's record (and any plain object) drops `__proto__`, whose assignment
 * sets a prototype instead of a key. So the object is checked as it is and its names land on an
 * object without a prototype ({@link metadataObject}), which keeps every one.
 */
const Metadata = z
  .custom<Record<string, string>>(
    (v) => typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string"),
    "expected an object of metadata names and text values",
  )
  .transform((v) => metadataObject(Object.entries(v)));

export const SnapshotEntry = z.object({
  /** The app key relative to the source's bucket prefix. */
  key: z.string().min(1),
  size: z.number().int().nonnegative(),
  /** As S3 gives it, without the quotes. */
  etag: z.string(),
  lastModified: z.string(),
  contentType: z.string().optional(),
  /** User metadata (x-amz-meta-*), names lowercase as S3 returns them. */
  metadata: Metadata.optional(),
  headers: z.partialRecord(z.enum(KEPT_HEADERS), z.string()).optional(),
  /** sha256 (hex) of the app object's bytes. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  stored: z.object({
    /** Full key of the encrypted copy in the backup bucket. */
    key: z.string(),
    /** When the copy was made (its key time): the window rule re-copies it once older than the window. */
    at: z.string(),
    bytes: z.number().int().nonnegative(),
    /** sha256 (hex) of the stored (encrypted) bytes. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
});
export type SnapshotEntry = z.infer<typeof SnapshotEntry>;

export const SnapshotHeader = z.object({
  format: z.literal("lifeboat-bucket-snapshot"),
  version: z.literal(1),
  source: z.string(),
  kind: z.literal("bucket"),
  /** `s3://APPBUCKET[/PREFIX]` and its endpoint: what was backed up. */
  bucketUrl: z.string(),
  bucketEndpoint: z.string().optional(),
  startedAt: z.string(),
  /** The restore window in seconds (copies older than this were re-copied). */
  windowSeconds: z.number().int().positive(),
  /** The snapshot this one was made against (its key), if any. */
  previous: z.string().optional(),
  encryption: z.object({ tool: z.literal("age"), recipientFingerprints: z.array(z.string()).min(1) }),
  compression: z.literal("none"),
  tools: z.record(z.string(), z.string()),
  host: z.string().optional(),
});
export type SnapshotHeader = z.infer<typeof SnapshotHeader>;

export const SnapshotSummary = z.object({
  finishedAt: z.string(),
  objects: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** Copied by this snapshot: new keys, changed keys and copies past the window. */
  copied: z.number().int().nonnegative(),
  copiedBytes: z.number().int().nonnegative(),
  new: z.number().int().nonnegative(),
  changed: z.number().int().nonnegative(),
  stale: z.number().int().nonnegative(),
  /** Pointing at the previous snapshot's copies. */
  reused: z.number().int().nonnegative(),
  /** Keys in the previous snapshot and not in this one. */
  deleted: z.number().int().nonnegative(),
  /** Keys listed that were gone when read (deleted meanwhile): not in this snapshot. */
  vanished: z.array(z.string()),
});
export type SnapshotSummary = z.infer<typeof SnapshotSummary>;

/**
 * A snapshot manifest is one JSON document, laid out one object per line so that it is written
 * and read as a stream (memory flat with the number of keys), in key order (S3's listing order):
 *
 *     {"snapshot":{...header...},"objects":[
 *     {...entry...}
 *     ,{...entry...}
 *     ],"summary":{...}}
 *
 * `jq` reads it as is. JSON.stringify never emits a raw newline, so each entry is one line.
 */
const OPEN = ',"objects":[';
const CLOSE = '],"summary":';

export function headerLine(h: SnapshotHeader): string {
  return `{"snapshot":${JSON.stringify(h)}${OPEN}\n`;
}
export function entryLine(e: SnapshotEntry, first: boolean): string {
  return `${first ? "" : ","}${JSON.stringify(e)}\n`;
}
export function summaryLine(s: SnapshotSummary): string {
  return `${CLOSE}${JSON.stringify(s)}}\n`;
}

export type SnapshotLine = { header: SnapshotHeader } | { entry: SnapshotEntry } | { summary: SnapshotSummary };

/** Parses one line of a snapshot manifest (`n`: its line number, for the error). */
export function parseSnapshotLine(line: string, n: number, where: string): SnapshotLine {
  const bad = (why: string) => new Error(`snapshot manifest ${where} line ${n}: ${why}`);
  const parse = <T>(schema: z.ZodType<T>, text: string): T => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw bad(`not valid JSON (${(e as Error).message})`);
    }
    const r = schema.safeParse(json);
    if (!r.success) throw bad(r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    return r.data;
  };
  if (n === 1) {
    if (!line.startsWith('{"snapshot":') || !line.endsWith(OPEN)) throw bad("not a bucket snapshot header");
    return { header: parse(SnapshotHeader, line.slice('{"snapshot":'.length, -OPEN.length)) };
  }
  if (line.startsWith(CLOSE)) {
    if (!line.endsWith("}")) throw bad("summary line is cut short");
    return { summary: parse(SnapshotSummary, line.slice(CLOSE.length, -1)) };
  }
  return { entry: parse(SnapshotEntry, line.startsWith(",") ? line.slice(1) : line) };
}
