import { hostname } from "node:os";
import { PassThrough } from "node:stream";
import { Logger } from "pino";
import { recipientFingerprint, stripAgeBanner } from "../age";
import { RunError, errorMessage } from "../errors";
import { Gate, Hasher } from "../pipeline";
import { allDone, startProc } from "../proc";
import { Store } from "../store";
import { ObjectLock } from "../lock";
import { OtherBucket, getObject, listObjects } from "./app";
import { CopyReason, Listed, decide, joinByKey, orderedPool } from "./plan";
import { listSnapshots, randomSuffix, snapshotEntries } from "./store";
import {
  OBJECTS_DIR,
  SNAPSHOTS_DIR,
  SNAPSHOT_SUFFIX,
  SnapshotEntry,
  SnapshotHeader,
  SnapshotSummary,
  entryLine,
  headerLine,
  summaryLine,
  timedKey,
} from "./snapshot";

export interface BucketBackupParams {
  name: string;
  store: Store;
  /**
   * The store a copy of `bytes` app bytes goes to: small objects through one with small buffers
   * (a 16 MiB part buffer per 2 KiB thumbnail made copies allocation-bound), big ones through `store`.
   */
  storeFor?: (bytes: number) => Store;
  /**
   * The store the snapshot manifest streams to: one with 5 MiB parts, 2 in flight. The manifest
   * grows with the number of keys (about 330 bytes each); through `store`'s 16 MiB parts × 4
   * buffers it held up to 64 MiB of RSS at 100k keys, more than everything else together.
   */
  manifestStore?: Store;
  app: OtherBucket;
  bucketEndpoint?: string;
  recipients: string[];
  windowSeconds: number;
  /** Copies at once. */
  concurrency: number;
  tools: Record<string, string>;
  locks?: { object: (at: Date) => ObjectLock; snapshot: (at: Date) => ObjectLock };
  started: Date;
  log: Logger;
  warn: (text: string) => void;
}

export interface BucketBackupResult {
  key: string;
  header: SnapshotHeader;
  summary: SnapshotSummary;
}

/** How many finished results may wait for an earlier copy still running (bounds memory). */
const REORDER_WINDOW = 2048;

/**
 * Copies one app object: GET -> age (public key only) -> create-only put under a key that never
 * repeats, hashing the app bytes and the stored bytes on the way. Undefined when the object is
 * gone by the time it is read (deleted since it was listed).
 */
export async function copyObject(p: BucketBackupParams, key: string): Promise<SnapshotEntry | undefined> {
  const obj = await getObject(p.app, key);
  if (!obj) return undefined;
  const at = new Date();
  const storedKey = timedKey(p.store.prefix, p.name, OBJECTS_DIR, at, randomSuffix(), ".age");
  const plain = new Hasher();
  const stored = new Hasher();
  const age = startProc("age", "age", ["--encrypt", ...p.recipients.flatMap((r) => ["-r", r])], { scrubber: stripAgeBanner });
  const read = new Promise<void>((ok, fail) => {
    obj.body.on("error", (e) => fail(new RunError(`reading ${p.app.url}/${key}: ${errorMessage(e)}`)));
    plain.on("end", ok);
  });
  read.catch(() => undefined);
  obj.body.pipe(plain).pipe(age.child.stdin!);
  age.child.stdout!.pipe(stored);
  // The put completes only when every byte was read and age exited 0: a failure mid-object fails the put.
  const done = Promise.all([allDone([age]), read]).then(() => undefined);
  const gate = new Gate(done);
  stored.pipe(gate);
  try {
    await (p.storeFor?.(obj.size) ?? p.store).putStream(storedKey, gate, { lock: p.locks?.object(at), onWarning: p.warn });
    await done;
  } catch (e) {
    age.kill();
    obj.body.destroy();
    throw new RunError(`copying ${p.app.url}/${key}: ${errorMessage(e)}`);
  }
  if (plain.bytes !== obj.size) throw new RunError(`copying ${p.app.url}/${key}: read ${plain.bytes} bytes, the object has ${obj.size}`);
  return {
    key,
    size: obj.size,
    etag: obj.etag,
    lastModified: obj.lastModified.toISOString(),
    ...(obj.contentType !== undefined ? { contentType: obj.contentType } : {}),
    ...(obj.metadata ? { metadata: obj.metadata } : {}),
    ...(obj.headers ? { headers: obj.headers } : {}),
    sha256: plain.digest(),
    stored: { key: storedKey, at: at.toISOString(), bytes: stored.bytes, sha256: stored.digest() },
  };
}

async function* none(): AsyncGenerator<SnapshotEntry> {}

/**
 * One incremental snapshot: the app bucket's listing joined by key with the previous snapshot's
 * entries (both streamed in key order), new/changed/stale objects copied with bounded
 * concurrency, every entry written in key order into the manifest upload, which completes last:
 * until then the snapshot does not exist.
 */
export async function bucketBackup(p: BucketBackupParams): Promise<BucketBackupResult> {
  const snapshots = await listSnapshots(p.store, p.name);
  const previous = snapshots[snapshots.length - 1];
  const key = timedKey(p.store.prefix, p.name, SNAPSHOTS_DIR, p.started, randomSuffix(), SNAPSHOT_SUFFIX);
  const header: SnapshotHeader = {
    format: "lifeboat-bucket-snapshot",
    version: 1,
    source: p.name,
    kind: "bucket",
    bucketUrl: p.app.url,
    ...(p.bucketEndpoint ? { bucketEndpoint: p.bucketEndpoint } : {}),
    startedAt: p.started.toISOString(),
    windowSeconds: p.windowSeconds,
    ...(previous ? { previous: previous.key } : {}),
    encryption: { tool: "age", recipientFingerprints: p.recipients.map(recipientFingerprint) },
    compression: "none",
    tools: p.tools,
    host: hostname(),
  };
  const counts = { objects: 0, bytes: 0, copied: 0, copiedBytes: 0, new: 0, changed: 0, stale: 0, reused: 0, deleted: 0 };
  const vanished: string[] = [];
  const manifest = new PassThrough();
  const upload = (p.manifestStore ?? p.store).putStream(key, manifest, { lock: p.locks?.snapshot(p.started), onWarning: p.warn });
  // A manifest upload that fails early must not leave the writer waiting for 'drain' forever.
  const uploadFailed = upload.then(() => new Promise<never>(() => undefined));
  uploadFailed.catch(() => undefined);
  let first = true;
  const write = async (text: string) => {
    if (!manifest.write(text)) await Promise.race([new Promise<void>((r) => manifest.once("drain", r)), uploadFailed]);
  };
  const windowMs = p.windowSeconds * 1000;
  type Item = { key: string; a?: Listed; b?: SnapshotEntry };
  type Out = { entry?: SnapshotEntry; reason?: CopyReason; vanished?: string };
  try {
    await write(headerLine(header));
    const joined = joinByKey<Listed, SnapshotEntry>(listObjects(p.app), previous ? snapshotEntries(p.store, previous.key) : none(), [
      `the listing of ${p.app.url}`,
      `snapshot ${previous?.key}`,
    ]);
    await orderedPool<Item, Out>(
      joined,
      p.concurrency,
      REORDER_WINDOW,
      (it) => {
        if (!it.a) {
          counts.deleted++;
          return { value: {} };
        }
        const d = decide(it.b, it.a, p.started, windowMs);
        if (!d.copy) return { value: { entry: { ...it.b!, lastModified: it.a.lastModified.toISOString() } } };
        return { run: async () => {
          const entry = await copyObject(p, it.key);
          return entry ? { entry, reason: d.reason } : { vanished: it.key };
        } };
      },
      async (o) => {
        if (o.vanished) {
          vanished.push(o.vanished);
          p.warn(`${p.app.url}/${o.vanished} was listed but gone when read (deleted meanwhile): not in this snapshot`);
          return;
        }
        if (!o.entry) return;
        counts.objects++;
        counts.bytes += o.entry.size;
        if (o.reason) {
          counts.copied++;
          counts.copiedBytes += o.entry.size;
          counts[o.reason]++;
        } else counts.reused++;
        await write(entryLine(o.entry, first));
        first = false;
      },
    );
    const summary: SnapshotSummary = { finishedAt: new Date().toISOString(), ...counts, vanished };
    await write(summaryLine(summary));
    manifest.end();
    await upload;
    return { key, header, summary };
  } catch (e) {
    // The manifest upload fails with it (and is aborted): a snapshot without its manifest does not exist.
    manifest.destroy(e instanceof Error ? e : new Error(String(e)));
    await upload.catch(() => undefined);
    throw e;
  }
}
