import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { Logger } from "pino";
import { stripAgeBanner } from "../age";
import { RunError, errorMessage } from "../errors";
import { Gate, Hasher } from "../pipeline";
import { allDone, startProc } from "../proc";
import { Store } from "../store";
import { uploadStream } from "../upload";
import { AtSelector, AtTime } from "../catalog";
import { OtherBucket, keyBase, listObjects } from "./app";
import { Joined, Listed, RestoreAction, joinByKey, orderedPool, restoreAction, selected } from "./plan";
import { SnapshotRef, snapshotEntries } from "./store";
import { SnapshotEntry, compareKeys } from "./snapshot";
import { JournalRecord } from "./events";

/** The newest snapshot started at or before `at` (latest: the newest). */
export function pickSnapshot(snapshots: SnapshotRef[], name: string, at: AtSelector): SnapshotRef {
  const candidates = at instanceof AtTime ? snapshots.filter((s) => s.time.getTime() <= at.getTime()) : snapshots;
  const s = candidates[candidates.length - 1];
  if (!s) throw new RunError(at instanceof AtTime ? `no snapshot of ${name} taken at or before ${at.toIsoMicros()}` : `no snapshots found for bucket source ${name}`);
  return s;
}

export interface Selection {
  prefix?: string;
  key?: string;
}

export interface BucketRestoreParams {
  store: Store;
  snapshot: SnapshotRef;
  /** bucket-events journal records after the snapshot and up to the restore time, by key: laid over the snapshot. */
  journal?: Map<string, JournalRecord>;
  target: OtherBucket;
  sel: Selection;
  identity?: string;
  force: boolean;
  concurrency: number;
  partSize: number;
  queueSize: number;
  log: Logger;
}

export type Counts = Record<RestoreAction, number> & { bytes: number };

type Item = Joined<SnapshotEntry, Listed>;

/** Snapshot entries and target objects in the selection, joined by key (both streamed in key order). */
function join(p: BucketRestoreParams): AsyncGenerator<Item> {
  const under = p.sel.key ?? p.sel.prefix ?? "";
  async function* want() {
    for await (const e of overlay(snapshotEntries(p.store, p.snapshot.key), p.journal)) if (selected(e.key, p.sel)) yield e;
  }
  async function* have() {
    for await (const o of listObjects(p.target, under)) if (selected(o.key, p.sel)) yield o;
  }
  return joinByKey<SnapshotEntry, Listed>(want(), have(), [`snapshot ${p.snapshot.key}`, `the listing of ${p.target.url}`]);
}

/** Snapshot entries with the journal's later copies and deletes laid over them, still in key order. */
export async function* overlay(entries: AsyncIterable<SnapshotEntry>, journal: Map<string, JournalRecord> | undefined): AsyncGenerator<SnapshotEntry> {
  if (!journal?.size) return yield* entries;
  const records = [...journal.values()].sort((a, b) => compareKeys(a.key, b.key));
  async function* recs() {
    yield* records;
  }
  for await (const j of joinByKey<SnapshotEntry, JournalRecord>(entries, recs(), ["snapshot", "journal"])) {
    if (!j.b) yield j.a!;
    else if (j.b.op === "put") yield SnapshotEntry.parse(j.b.entry);
  }
}

/**
 * What a restore would do, key by key, in key order (`onItem` sees each), with the totals. No
 * object is read or written.
 */
export async function planRestore(p: BucketRestoreParams, onItem?: (action: RestoreAction, key: string) => void): Promise<Counts> {
  const c: Counts = { create: 0, overwrite: 0, delete: 0, unchanged: 0, bytes: 0 };
  for await (const it of join(p)) {
    const a = restoreAction(it.a, it.b);
    c[a]++;
    if (a === "create" || a === "overwrite") c.bytes += it.a!.size;
    onItem?.(a, it.key);
  }
  return c;
}

/**
 * A stored copy, decrypted: its sha256 is checked as it downloads, age decrypts it and the app
 * bytes' size and sha256 are checked against the snapshot. `checked` settles when all of that is
 * done (read `out` to the end); it rejects naming the key and what did not match.
 */
export async function openStoredCopy(store: Store, e: SnapshotEntry, identity: string): Promise<{ out: Hasher; checked: Promise<void>; kill(): void }> {
  const body = await store.get(e.stored.key);
  const stored = new Hasher();
  const plain = new Hasher();
  const age = startProc("age", "age", ["--decrypt", "-i", identity], { scrubber: stripAgeBanner });
  const ended = (s: Hasher) => new Promise<void>((ok, fail) => {
    s.on("end", ok);
    s.on("error", fail);
  });
  const downloaded = ended(stored);
  body.on("error", (err) => stored.destroy(err));
  body.pipe(stored).pipe(age.child.stdin!);
  age.child.stdout!.pipe(plain);
  const kill = () => {
    age.kill();
    body.destroy();
  };
  const storedOk = () => {
    if (stored.digest() !== e.stored.sha256) throw new RunError(`${e.key}: stored copy ${e.stored.key} has sha256 ${stored.digest()}, the snapshot says ${e.stored.sha256}`);
  };
  const checked = Promise.all([allDone([age]), downloaded, ended(plain)]).then(
    () => {
      storedOk();
      if (plain.bytes !== e.size || plain.digest() !== e.sha256) {
        throw new RunError(`${e.key}: stored copy ${e.stored.key} decrypts to ${plain.bytes} bytes, sha256 ${plain.digest()}; the snapshot says ${e.size} bytes, ${e.sha256}`);
      }
    },
    async (err) => {
      kill();
      // A damaged copy makes age fail: say it is the stored bytes when the download was whole.
      await downloaded.catch(() => undefined);
      if (stored.writableFinished) storedOk();
      throw new RunError(`${e.key}: stored copy ${e.stored.key}: ${errorMessage(err)}`);
    },
  );
  checked.catch(() => undefined);
  return { out: plain, checked, kill };
}

/**
 * Puts one object back from its stored copy ({@link openStoredCopy}), with its content-type,
 * metadata and headers; the upload completes only when every check passed. A create is
 * create-only (If-None-Match: *).
 */
async function restoreObject(p: BucketRestoreParams, e: SnapshotEntry, overwrite: boolean): Promise<void> {
  const copy = await openStoredCopy(p.store, e, p.identity!);
  const gate = new Gate(copy.checked);
  copy.out.pipe(gate);
  const h = e.headers ?? {};
  try {
    await uploadStream(
      p.target.client,
      {
        Bucket: p.target.dest.bucket,
        Key: keyBase(p.target.dest) + e.key,
        ContentType: e.contentType ?? "binary/octet-stream",
        extra: {
          ...(e.metadata ? { Metadata: e.metadata } : {}),
          ...(h.cacheControl ? { CacheControl: h.cacheControl } : {}),
          ...(h.contentDisposition ? { ContentDisposition: h.contentDisposition } : {}),
          ...(h.contentEncoding ? { ContentEncoding: h.contentEncoding } : {}),
          ...(h.contentLanguage ? { ContentLanguage: h.contentLanguage } : {}),
        },
        overwrite,
      },
      gate,
      { partSize: p.partSize, queueSize: p.queueSize, signal: p.target.signal },
    );
    await copy.checked;
  } catch (err) {
    copy.kill();
    throw new RunError(`restoring ${p.target.url}/${e.key}: ${errorMessage(err)}`);
  }
}

/**
 * Rebuilds the selection as it was in the snapshot: creates missing keys, overwrites differing
 * ones and deletes keys the snapshot lacks. The caller has checked `--force` for the last two.
 */
export async function runRestore(p: BucketRestoreParams): Promise<Counts> {
  const c: Counts = { create: 0, overwrite: 0, delete: 0, unchanged: 0, bytes: 0 };
  await orderedPool<Item, RestoreAction>(
    join(p),
    p.concurrency,
    2048,
    (it) => {
      const a = restoreAction(it.a, it.b);
      if (a === "unchanged") return { value: a };
      if ((a === "overwrite" || a === "delete") && !p.force) throw new RunError(`${p.target.url}/${it.key} would be ${a === "delete" ? "deleted" : "overwritten"}: that needs --force`);
      if (a === "delete") {
        return { run: async () => {
          await p.target.client.send(new DeleteObjectCommand({ Bucket: p.target.dest.bucket, Key: keyBase(p.target.dest) + it.key }), { abortSignal: p.target.signal }).catch((e) => {
            throw new RunError(`deleting ${p.target.url}/${it.key}: ${errorMessage(e)}`);
          });
          return a;
        } };
      }
      return { run: async () => {
        await restoreObject(p, it.a!, a === "overwrite");
        c.bytes += it.a!.size;
        return a;
      } };
    },
    (a) => {
      c[a]++;
    },
  );
  return c;
}
