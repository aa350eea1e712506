import { Tier, TIERS } from "./tier";

/**
 * The object layout every Lifeboat tool agrees on:
 * `<prefix>/<source>/<tier>/<UTC timestamp>-<random>.<ext>`, with the manifest at
 * `<same key>.manifest.json`, and verification records under `<prefix>/_verifications/<source>/`.
 * Keys never repeat: the timestamp is to the millisecond and the suffix is random.
 */
export const MANIFEST_SUFFIX = ".manifest.json";
export const VERIFICATIONS_DIR = "_verifications";
export const WAL_DIR = "wal";

/** Names usable as a source or prefix segment: they become S3 key segments and resource names. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Joins key segments with single slashes, ignoring empty segments (an empty bucket prefix). */
export function joinKey(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split("/"))
    .filter((p) => p.length > 0)
    .join("/");
}

/** `<prefix>/<source>/` : everything one source writes lives under it. */
export function sourcePrefix(prefix: string, source: string): string {
  return joinKey(prefix, source) + "/";
}

/** `<prefix>/<source>/<tier>/` : the unit the lifecycle and lock rules act on. */
export function tierPrefix(prefix: string, source: string, tier: Tier): string {
  return joinKey(prefix, source, tier) + "/";
}

/** `<prefix>/_verifications/<source>/` : the only place the verifier may write. */
export function verificationPrefix(prefix: string, source: string): string {
  return joinKey(prefix, VERIFICATIONS_DIR, source) + "/";
}

/** UTC timestamp usable in a key and sortable as text: `20261122T124042.123Z`. */
export function keyTimestamp(time: Date): string {
  return time.toISOString().replace(/[-:]/g, "");
}

/** Parses {@link keyTimestamp} back to a Date, or undefined when `text` is not one. */
export function parseKeyTimestamp(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/.exec(text);
  if (!m) return undefined;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export interface BackupKeyParts {
  prefix: string;
  source: string;
  tier: Tier;
  time: Date;
  /** Random suffix; lowercase hex. */
  random: string;
  /** Extension without the leading dot, e.g. `dump.zst.age`. */
  ext: string;
}

export function backupKey(p: BackupKeyParts): string {
  if (!/^[0-9a-f]{6,}$/.test(p.random)) throw new Error(`backupKey: random suffix must be hex, got ${p.random}`);
  return tierPrefix(p.prefix, p.source, p.tier) + `${keyTimestamp(p.time)}-${p.random}.${p.ext}`;
}

export function manifestKey(backupKeyText: string): string {
  return backupKeyText + MANIFEST_SUFFIX;
}

/** Parses a backup or manifest key relative to `prefix`; undefined for keys of other shapes. */
export function parseBackupKey(prefix: string, key: string): BackupKeyParts | undefined {
  const base = prefix ? joinKey(prefix) + "/" : "";
  if (!key.startsWith(base)) return undefined;
  const rest = key.slice(base.length).replace(new RegExp(`${escapeRe(MANIFEST_SUFFIX)}$`), "");
  const m = /^([^/]+)\/([^/]+)\/([0-9T.Z]+)-([0-9a-f]+)\.(.+)$/.exec(rest);
  if (!m) return undefined;
  const tier = m[2] as Tier;
  if (!TIERS.includes(tier)) return undefined;
  const time = parseKeyTimestamp(m[3]!);
  if (!time) return undefined;
  return { prefix: joinKey(prefix), source: m[1]!, tier, time, random: m[4]!, ext: m[5]! };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
