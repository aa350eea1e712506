import { MANIFEST_SUFFIX, NAME_PATTERN, TIERS, WAL_DIR, parseBackupKey, parseKeyTimestamp, sourcePrefix, verificationPrefix, joinKey, BackupKeyParts } from "lifeboat-core";
import { SNAPSHOTS_DIR, bucketPrefix, bucketSourceName } from "./bucket/snapshot";
import { SnapshotRef, snapshotRefs } from "./bucket/store";
import { walPrefix } from "./pitr/wal";
import { FolderListing, ListedObject, Store } from "./store";
import { Manifest, parseManifest, Verification, VerificationSchema } from "./manifest";
import { RunError, UsageError } from "./errors";

export interface BackupEntry {
  key: string;
  manifestKey: string;
  parts: BackupKeyParts;
  /** Size of the stored object as listed. */
  size: number;
  /**
   * When the store received the manifest, i.e. when the backup came to exist (S3 LastModified,
   * set by the server): what backups are ordered by, because the writer chooses the key's time.
   */
  storedAt: Date;
  /** Why this backup's key time cannot be trusted ({@link storeTimeFlags}); never chosen as latest. */
  flags: string[];
}

/** How far a key's time may run ahead of the store's clock (clock skew between hosts). */
export const CLOCK_TOLERANCE_MS = 5 * 60_000;
/** A backup stored more than this after its key time was backdated or replaced, not just slow. */
export const MAX_RUN_MS = 24 * 3600_000;

/**
 * Why a backup's key time disagrees with the times the store itself recorded, which the writer
 * cannot forge: the key names a time after the store received the object (a forged future key,
 * or a backup host whose clock runs ahead), after now, the object was stored after its manifest
 * (replaced once the backup had finished), or the manifest arrived long after the key's time
 * (backdated, or an old key overwritten). Empty for an honest backup.
 */
export function storeTimeFlags(t: { keyTime: Date; objectStoredAt: Date; manifestStoredAt: Date; now: Date }): string[] {
  const key = t.keyTime.getTime();
  const obj = t.objectStoredAt.getTime();
  const man = t.manifestStoredAt.getTime();
  const iso = (ms: number) => new Date(ms).toISOString();
  const out: string[] = [];
  if (key > obj + CLOCK_TOLERANCE_MS) out.push(`key time ${iso(key)} is after the store received the object (${iso(obj)}): forged key or a backup host clock running ahead`);
  if (key > t.now.getTime() + CLOCK_TOLERANCE_MS) out.push(`key time ${iso(key)} is in the future`);
  // Same server clock for both, whole seconds on S3: an honest object is never newer than its manifest.
  if (obj > man + 1000) out.push(`object stored at ${iso(obj)}, after its manifest (${iso(man)}): replaced after the backup finished`);
  if (man - key > MAX_RUN_MS) out.push(`manifest stored at ${iso(man)}, more than ${MAX_RUN_MS / 3600_000}h after the key time ${iso(key)}: backdated or overwritten`);
  return out;
}

/** Names of the sources that have anything under the prefix. */
export async function listSourceNames(store: Store): Promise<string[]> {
  const base = store.prefix ? joinKey(store.prefix) + "/" : "";
  const objs = await store.list(base);
  const names = new Set<string>();
  for (const o of objs) {
    const p = parseBackupKey(store.prefix, o.key);
    const name = p?.source ?? bucketSourceName(store.prefix, o.key);
    if (name) names.add(name);
  }
  return [...names].sort();
}

/**
 * One level under `prefix` ({@link Store.listFolder}); from a flat listing where the store has no
 * delimiter listing (local mode, where listing costs nothing).
 */
export async function listFolder(store: Store, prefix: string): Promise<FolderListing> {
  if (store.listFolder) return store.listFolder(prefix);
  const objects: ListedObject[] = [];
  const folders = new Set<string>();
  for (const o of await store.list(prefix)) {
    const slash = o.key.indexOf("/", prefix.length);
    if (slash < 0) objects.push(o);
    else folders.add(o.key.slice(0, slash + 1));
  }
  return { objects, folders: [...folders].sort() };
}

/**
 * What status, list and report read of one source, each part listed once: a bucket source's
 * snapshot manifests (never its `objects/`, possibly millions of stored copies), any other
 * source's backups and what is under its `wal/`.
 */
export interface SourceListing {
  source: string;
  /** A bucket source's snapshots, oldest first; empty for any other source. */
  snapshots: SnapshotRef[];
  /** Its backups (each object with its manifest), oldest first; empty for a bucket source. */
  backups: BackupEntry[];
  /** Everything under its `wal/` (a point-in-time source); undefined when nothing is. */
  wal?: ListedObject[];
  /** Something under it is shaped like a backup or a snapshot manifest (finished or not): it is a source. */
  isSource: boolean;
}

/** The folders of a source that status, list and report read besides `snapshots/`: its tiers and its WAL. */
const READ_FOLDERS: readonly string[] = [...TIERS, WAL_DIR];

/**
 * Lists one source ({@link SourceListing}): first its folders (a delimiter listing), then only
 * what is read. A source holding nothing but its tiers and WAL (every source but a bucket one) is
 * listed whole, the fewest requests; otherwise each folder read is listed on its own.
 */
export async function listSource(store: Store, source: string, now = new Date()): Promise<SourceListing> {
  const base = sourcePrefix(store.prefix, source);
  const folders = (await listFolder(store, base)).folders.map((f) => f.slice(base.length, -1));
  const snapshotObjs = folders.includes(SNAPSHOTS_DIR) ? await store.list(bucketPrefix(store.prefix, source, SNAPSHOTS_DIR)) : [];
  const snapshots = snapshotRefs(snapshotObjs);
  if (snapshots.length) return { source, snapshots, backups: [], isSource: true };
  const read = folders.filter((f) => READ_FOLDERS.includes(f));
  const objs =
    read.length && read.length === folders.length ? await store.list(base) : (await Promise.all(read.map((f) => store.list(`${base}${f}/`)))).flat();
  const wal = walPrefix(store.prefix, source);
  return {
    source,
    snapshots,
    backups: backupEntries(store.prefix, source, objs, now),
    ...(folders.includes(WAL_DIR) ? { wal: objs.filter((o) => o.key.startsWith(wal)) } : {}),
    isSource: objs.some((o) => parseBackupKey(store.prefix, o.key)?.source === source) || snapshotObjs.some((o) => bucketSourceName(store.prefix, o.key) === source),
  };
}

/**
 * Each source under the store's prefix, or only `name`, listed ({@link listSource}), in name
 * order. Without a name the sources are the prefix's folders named as a source can be, found by
 * one delimiter listing instead of listing every key under the prefix; a folder holding no backup
 * and no snapshot is not a source. A source whose listing fails comes with its error, the others
 * are still listed.
 */
export async function listSources(store: Store, name: string | undefined, now = new Date()): Promise<Array<{ source: string; listing?: SourceListing; error?: unknown }>> {
  const base = store.prefix ? joinKey(store.prefix) + "/" : "";
  const names = name ? [name] : (await listFolder(store, base)).folders.map((f) => f.slice(base.length, -1)).filter((n) => NAME_PATTERN.test(n)).sort();
  const out: Array<{ source: string; listing?: SourceListing; error?: unknown }> = [];
  for (const source of names) {
    try {
      const listing = await listSource(store, source, now);
      if (name || listing.isSource) out.push({ source, listing });
    } catch (error) {
      out.push({ source, error });
    }
  }
  return out;
}

/**
 * The backups of one source, oldest first by key time, each with the flags that make its key time
 * untrustworthy (checked against the store's own times, which the writer cannot set). Only a
 * backup without flags is ever chosen, and its key time agrees with the store's, so ordering by
 * key time gives the writer nothing; ordering by store time would not survive replication, which
 * copies the newest backup first (the replica's store times run backwards). A backup exists only
 * when both the object and its manifest are present: an object without a manifest is an
 * unfinished or failed run.
 */
export async function listBackups(store: Store, source: string, now = new Date()): Promise<BackupEntry[]> {
  return backupEntries(store.prefix, source, await store.list(sourcePrefix(store.prefix, source)), now);
}

/** The backups of `source` among listed objects ({@link listBackups}). */
export function backupEntries(prefix: string, source: string, objs: ListedObject[], now: Date): BackupEntry[] {
  const byKey = new Map(objs.map((o) => [o.key, o]));
  const out: BackupEntry[] = [];
  for (const o of objs) {
    if (o.key.endsWith(MANIFEST_SUFFIX)) continue;
    const manifestKey = o.key + MANIFEST_SUFFIX;
    const manifest = byKey.get(manifestKey);
    if (!manifest) continue;
    const parts = parseBackupKey(prefix, o.key);
    if (!parts || parts.source !== source) continue;
    const flags = storeTimeFlags({ keyTime: parts.time, objectStoredAt: o.modified, manifestStoredAt: manifest.modified, now });
    out.push({ key: o.key, manifestKey, parts, size: o.size, storedAt: manifest.modified, flags });
  }
  return out.sort((a, b) => a.parts.time.getTime() - b.parts.time.getTime() || a.storedAt.getTime() - b.storedAt.getTime() || (a.key < b.key ? -1 : 1));
}

/** A manifest that was read but cannot be trusted: not JSON, not a manifest, or about another object. */
export class UnreadableManifest extends RunError {
  override name = "UnreadableManifest";
}

export async function readManifest(store: Store, entry: BackupEntry): Promise<Manifest> {
  const text = await store.getText(entry.manifestKey);
  let m: Manifest;
  try {
    m = parseManifest(text, entry.manifestKey);
  } catch (e) {
    throw new UnreadableManifest((e as Error).message);
  }
  if (m.key !== entry.key) throw new UnreadableManifest(`manifest ${entry.manifestKey} describes ${m.key}, not ${entry.key}`);
  return m;
}

/**
 * An instant asked for with `--at`. A Date keeps milliseconds; the microseconds PostgreSQL
 * timestamps carry are kept beside it. The Date part is the instant floored to the millisecond,
 * which decides "at or before" exactly against key times (whole milliseconds).
 */
export class AtTime extends Date {
  constructor(ms: number, readonly micros = 0) {
    super(ms);
  }
  /** ISO 8601 in UTC with microseconds when there are any: 2026-11-22T12:00:00.123456Z. */
  toIsoMicros(): string {
    const iso = this.toISOString();
    return this.micros ? `${iso.slice(0, -1)}${String(this.micros).padStart(3, "0")}Z` : iso;
  }
}

/** What `--at` selects: a time, the newest backup, or the newest backup a verification passed. */
export type AtSelector = AtTime | "latest" | "latest-verified";

// RFC 3339 / ISO 8601 extended form, "T" or a space between date and time, a zone required.
const ISO_AT = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses `--at`: `latest`, `latest-verified`, a key timestamp (20261122T124042.123Z), or an ISO
 * 8601 date-time with a zone (`Z` or an offset). Anything else is refused rather than guessed at:
 * `new Date()` reads a time without a zone in the host's own zone (picking a backup taken after
 * the time asked for) and turns "Dec 1" into 2001.
 */
export function parseAt(text: string | undefined): AtSelector {
  if (!text || text === "latest") return "latest";
  if (text === "latest-verified") return "latest-verified";
  const k = parseKeyTimestamp(text);
  if (k) return new AtTime(k.getTime());
  const bad = (why: string) =>
    new UsageError(`--at: ${JSON.stringify(text)} ${why}; give "latest", "latest-verified", an ISO 8601 time with a zone such as 2026-11-22T12:00:00Z or 2026-11-22T13:00:00+01:00, or a key timestamp such as 20261122T120000.000Z`);
  const m = ISO_AT.exec(text.trim());
  if (!m) {
    if (/^\d{4}-\d{2}-\d{2}$/.test(text.trim())) throw bad("has no time and no time zone");
    throw bad("is not an ISO 8601 time");
  }
  const [, y, mo, d, h, mi, sec = "0", frac = "", zone] = m;
  if (!zone) throw bad("has no time zone (it would be read in this host's local time)");
  if (frac.length > 6) throw bad("has more fractional digits than microseconds");
  const [Y, M, D, H, Mi, S] = [y, mo, d, h, mi, sec].map(Number) as [number, number, number, number, number, number];
  const day = new Date(Date.UTC(Y, M - 1, D));
  if (M < 1 || M > 12 || day.getUTCFullYear() !== Y || day.getUTCMonth() !== M - 1 || day.getUTCDate() !== D) throw bad("names no such date");
  if (H > 23 || Mi > 59 || S > 59) throw bad("names no such time of day");
  let offsetMin = 0;
  if (zone.toUpperCase() !== "Z") {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    const oh = Number(z[2]);
    const om = Number(z[3] ?? "0");
    if (oh > 23 || om > 59) throw bad("has an invalid zone offset");
    offsetMin = (z[1] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const micro = Number(frac.padEnd(6, "0"));
  const ms = day.getTime() + ((H * 60 + Mi - offsetMin) * 60 + S) * 1000 + Math.floor(micro / 1000);
  return new AtTime(ms, micro % 1000);
}

/**
 * The newest backup (by the store's time) taken at or before `at`, or the one named by `key`.
 * A flagged backup (see {@link storeTimeFlags}) is never chosen by time or as latest: only by
 * its exact key. For `latest-verified` pass the entries already narrowed to those with a
 * passing verification record.
 */
export function pickBackup(entries: BackupEntry[], source: string, at: AtSelector, key?: string): BackupEntry {
  if (key) {
    const e = entries.find((x) => x.key === key || x.key.endsWith("/" + key));
    if (!e) throw new RunError(`no backup with key ${key} for source ${source} (an object without its manifest is not a backup)`);
    return e;
  }
  const trusted = entries.filter((e) => e.flags.length === 0);
  const candidates = at instanceof AtTime ? trusted.filter((e) => e.parts.time.getTime() <= at.getTime()) : trusted;
  const e = candidates[candidates.length - 1];
  if (!e) {
    const skipped = entries.length - trusted.length;
    const note = skipped ? ` (${skipped} backup(s) skipped because their key time disagrees with the store's; see lifeboat-runner list)` : "";
    throw new RunError(
      (at === "latest" ? `no backups found for source ${source}`
        : at === "latest-verified" ? `no backup of ${source} has passed verification (run lifeboat-runner verify, or restore --at latest)`
          : `no backup of ${source} taken at or before ${at.toIsoMicros()}`) + note,
    );
  }
  return e;
}

/** Verification records of one source, keyed by the backup key, newest record winning. */
export async function listVerifications(store: Store, source: string): Promise<Map<string, Verification>> {
  return new Map((await verificationHistory(store, source)).map((v) => [v.key, v]));
}

/**
 * Every readable verification record (drill) of a source, in the order they were written. The
 * records lie right under the source's verification prefix: one level is listed, not the status
 * pages under its `status/` (one every report run, kept 14 days).
 */
export async function verificationHistory(store: Store, source: string): Promise<Verification[]> {
  const objs = (await listFolder(store, verificationPrefix(store.prefix, source))).objects;
  const out: Verification[] = [];
  for (const o of objs.sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (!o.key.endsWith(".json")) continue;
    try {
      out.push(VerificationSchema.parse(JSON.parse(await store.getText(o.key))));
    } catch {
      // A record we cannot read says nothing about the backup.
    }
  }
  return out;
}
