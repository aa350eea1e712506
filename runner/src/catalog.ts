import { MANIFEST_SUFFIX, parseBackupKey, parseKeyTimestamp, sourcePrefix, verificationPrefix, joinKey, BackupKeyParts } from "lifeboat-core";
import { Store } from "./store";
import { Manifest, parseManifest, Verification, VerificationSchema } from "./manifest";
import { RunError, UsageError } from "./errors";

export interface BackupEntry {
  key: string;
  manifestKey: string;
  parts: BackupKeyParts;
  /** Size of the stored object as listed. */
  size: number;
}

/** Names of the sources that have anything under the prefix. */
export async function listSourceNames(store: Store): Promise<string[]> {
  const base = store.prefix ? joinKey(store.prefix) + "/" : "";
  const objs = await store.list(base);
  const names = new Set<string>();
  for (const o of objs) {
    const p = parseBackupKey(store.prefix, o.key);
    if (p) names.add(p.source);
  }
  return [...names].sort();
}

/**
 * The backups of one source, oldest first. A backup exists only when both the object and its
 * manifest are present: an object without a manifest is an unfinished or failed run.
 */
export async function listBackups(store: Store, source: string): Promise<BackupEntry[]> {
  const objs = await store.list(sourcePrefix(store.prefix, source));
  const keys = new Map(objs.map((o) => [o.key, o.size]));
  const out: BackupEntry[] = [];
  for (const o of objs) {
    if (o.key.endsWith(MANIFEST_SUFFIX)) continue;
    const manifestKey = o.key + MANIFEST_SUFFIX;
    if (!keys.has(manifestKey)) continue;
    const parts = parseBackupKey(store.prefix, o.key);
    if (!parts || parts.source !== source) continue;
    out.push({ key: o.key, manifestKey, parts, size: o.size });
  }
  return out.sort((a, b) => a.parts.time.getTime() - b.parts.time.getTime() || (a.key < b.key ? -1 : 1));
}

export async function readManifest(store: Store, entry: BackupEntry): Promise<Manifest> {
  const m = parseManifest(await store.getText(entry.manifestKey), entry.manifestKey);
  if (m.key !== entry.key) throw new RunError(`manifest ${entry.manifestKey} describes ${m.key}, not ${entry.key}`);
  return m;
}

/** What `--at` selects: a time, the newest backup, or the newest backup a verification passed. */
export type AtSelector = Date | "latest" | "latest-verified";

/** Parses `--at`: `latest`, `latest-verified`, an ISO 8601 time, or a key timestamp (20261122T124042.123Z). */
export function parseAt(text: string | undefined): AtSelector {
  if (!text || text === "latest") return "latest";
  if (text === "latest-verified") return "latest-verified";
  const k = parseKeyTimestamp(text);
  if (k) return k;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--at: must be "latest", an ISO time such as 2026-11-22T12:00:00Z, or a key timestamp; got ${JSON.stringify(text)}`);
  return d;
}

/**
 * The newest backup taken at or before `at`, or the one named by `key`. For `latest-verified`
 * pass the entries already narrowed to those with a passing verification record.
 */
export function pickBackup(entries: BackupEntry[], source: string, at: AtSelector, key?: string): BackupEntry {
  if (key) {
    const e = entries.find((x) => x.key === key || x.key.endsWith("/" + key));
    if (!e) throw new RunError(`no backup with key ${key} for source ${source} (an object without its manifest is not a backup)`);
    return e;
  }
  const candidates = at instanceof Date ? entries.filter((e) => e.parts.time.getTime() <= at.getTime()) : entries;
  const e = candidates[candidates.length - 1];
  if (!e) {
    throw new RunError(
      at === "latest" ? `no backups found for source ${source}`
        : at === "latest-verified" ? `no backup of ${source} has passed verification (run lifeboat-runner verify, or restore --at latest)`
          : `no backup of ${source} taken at or before ${at.toISOString()}`,
    );
  }
  return e;
}

/** Verification records of one source, keyed by the backup key, newest record winning. */
export async function listVerifications(store: Store, source: string): Promise<Map<string, Verification>> {
  const objs = await store.list(verificationPrefix(store.prefix, source));
  const out = new Map<string, Verification>();
  for (const o of objs.sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (!o.key.endsWith(".json")) continue;
    try {
      const v = VerificationSchema.parse(JSON.parse(await store.getText(o.key)));
      out.set(v.key, v);
    } catch {
      // A record we cannot read says nothing about the backup.
    }
  }
  return out;
}
