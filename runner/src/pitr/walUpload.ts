import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Readable } from "node:stream";
import { LockMode, manifestKey } from "lifeboat-core";
import { recipientFingerprint } from "../age";
import { WalManifest } from "../manifest";
import { encode } from "../pipeline";
import { Store } from "../store";
import { lockForDays } from "../lock";
import { timelineOf, walKey } from "./wal";

export interface WalUpload {
  store: Store;
  source: string;
  /** File name as PostgreSQL names it (`...partial` for a partial segment). */
  file: string;
  /** The file's bytes as read (one consistent read; a segment is at most 1 GiB, 16 MiB by default). */
  data: Buffer;
  capturedAt: Date;
  recipients: string[];
  zstdLevel: number;
  /** S3: lock the object and its manifest this many days from `capturedAt`. */
  lock?: { mode: LockMode; days: number };
}

/**
 * `bytes → zstd → age → create-only put`, then the manifest: the object exists for restores only
 * once its manifest does. Returns the manifest.
 */
export async function uploadWal(u: WalUpload): Promise<WalManifest> {
  const key = walKey(u.store.prefix, u.source, u.file, u.capturedAt, randomBytes(6).toString("hex"));
  const enc = encode(Readable.from([u.data]), [], u.recipients, u.zstdLevel);
  const lock = u.lock && lockForDays(u.lock.mode, u.lock.days, u.capturedAt);
  try {
    await u.store.putStream(key, enc.body, { lock });
    await enc.done;
  } catch (e) {
    enc.kill();
    throw e;
  }
  const manifest: WalManifest = {
    version: 1,
    source: u.source,
    kind: "wal",
    key,
    file: u.file.replace(/\.partial$/, ""),
    timeline: timelineOf(u.file),
    partial: u.file.endsWith(".partial"),
    capturedAt: u.capturedAt.toISOString(),
    uploadedAt: new Date().toISOString(),
    rawBytes: u.data.length,
    rawSha256: createHash("sha256").update(u.data).digest("hex"),
    storedBytes: enc.hasher.bytes,
    sha256: enc.hasher.digest(),
    compression: { tool: "zstd", level: u.zstdLevel },
    encryption: { tool: "age", recipientFingerprints: u.recipients.map(recipientFingerprint) },
    host: hostname(),
  };
  await u.store.putSmall(manifestKey(key), JSON.stringify(manifest, null, 2) + "\n", { lock });
  return manifest;
}
