import { createHash } from "node:crypto";
import type { CompletedPart, S3Client } from "@aws-sdk/client-s3";
import { RunError, errorMessage } from "./errors";
import { ObjectLock } from "./lock";
import { s3sdk } from "./s3sdk";

export interface StreamUploadParams {
  Bucket: string;
  Key: string;
  ContentType: string;
  /** Per-object lock headers on the PutObject / CreateMultipartUpload (S3 only). */
  lock?: ObjectLock;
  /** User metadata and stored headers (a bucket restore puts objects back as they were). */
  extra?: { Metadata?: Record<string, string>; CacheControl?: string; ContentDisposition?: string; ContentEncoding?: string; ContentLanguage?: string };
  /** Replace an existing object (a bucket restore with --force); default create-only (If-None-Match: *). */
  overwrite?: boolean;
}

/** Aborts every request of the run (the run's deadline); requests end with the signal's reason. */
export interface Cancel {
  signal?: AbortSignal;
}

/**
 * `Content-MD5` of a body. S3 refuses PutObject and UploadPart without Content-MD5 or an
 * x-amz-checksum-* header on a bucket with Object Lock; MD5 is the one R2 accepts on both
 * without declaring an algorithm at CreateMultipartUpload, and both stores check it against
 * the bytes received.
 */
export function contentMd5(data: Buffer): string {
  return createHash("md5").update(data).digest("base64");
}

function lockHeaders(lock: ObjectLock | undefined) {
  return lock ? { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: lock.retainUntil } : {};
}

/** The HTTP status an S3 request failed with (undefined: no answer, e.g. a network error or an abort). */
export const httpStatus = (e: unknown) => (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
const is412 = (e: unknown) => httpStatus(e) === 412 || (e as { name?: string })?.name === "PreconditionFailed";

/**
 * What a create-only put found: it wrote the object; a retry found the object an earlier attempt
 * of this put wrote, byte for byte (read back); or a retry found the key taken and this identity
 * may not read it (S3's write-only backup writer).
 */
export type PutOutcome = "created" | "already-there" | "presumed-ours";

/** The warning a caller logs for a put whose answer was lost (none for a plain "created"). */
export function lostAnswerWarning(where: string, outcome: PutOutcome): string | undefined {
  if (outcome === "already-there") return `${where}: the answer to its put was lost and the retry found it already written, byte for byte what this run wrote`;
  if (outcome === "presumed-ours") {
    return `${where}: the answer to its put was lost and the retry found the key taken; this identity may not read it to compare, and only this run's earlier attempt can have written this random key, so it counts as written`;
  }
  return undefined;
}

/** What a create-only put may be told besides its deadline. */
export interface CreateOnlyOptions extends Cancel {
  /** false: a 412 is the caller's, the object there is never read (see {@link putCreateOnly}). */
  readBack?: boolean;
  /**
   * The body's sha256 (hex) as the caller knows it from elsewhere (a manifest): sent as
   * x-amz-checksum-sha256 instead of Content-MD5, so the store checks the bytes it receives
   * against that digest, not only against what this process computed.
   */
  sha256?: string;
}

/**
 * A create-only PutObject (`If-None-Match: *`) of a whole body, with its Content-MD5 (or the
 * caller's sha256, `sha256`).
 *
 * When the answer to a put that succeeded is lost, the SDK's retry of the same put gets 412 (the
 * key exists now). A 412 on the first attempt means the key was taken before this put was ever
 * sent: an error. On a retry the object there is read back and, when it is byte-for-byte what we
 * meant to write, the put counts as done (`"already-there"`); anything else there is an error that
 * says so. When the identity may not read the key (403), only an earlier attempt of this very put
 * can have taken a key this run made up with 48 random bits under a prefix only this source's
 * writer may write: `"presumed-ours"`, which the caller reports. `readBack: false` (an identity
 * that may only put and list there, like the replicator on the replica) leaves the 412 to the caller.
 */
export async function putCreateOnly(
  client: S3Client,
  params: StreamUploadParams,
  data: Buffer,
  c: CreateOnlyOptions = {},
): Promise<PutOutcome> {
  try {
    await client.send(
      new (s3sdk().PutObjectCommand)({
        Bucket: params.Bucket,
        Key: params.Key,
        Body: data,
        ContentLength: data.length,
        ...(c.sha256 ? { ChecksumSHA256: Buffer.from(c.sha256, "hex").toString("base64") } : { ContentMD5: contentMd5(data) }),
        ...(params.overwrite ? {} : { IfNoneMatch: "*" }),
        ContentType: params.ContentType,
        ...params.extra,
        ...lockHeaders(params.lock),
      }),
      { abortSignal: c.signal },
    );
    return "created";
  } catch (e) {
    if (!is412(e) || c.readBack === false) throw e;
    const attempts = (e as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
    if (attempts <= 1) {
      throw new RunError("an object is already at this key (HTTP 412 to the first attempt of a create-only put); keys never repeat, so something else wrote it");
    }
  }
  let there: Buffer;
  try {
    const r = await client.send(new (s3sdk().GetObjectCommand)({ Bucket: params.Bucket, Key: params.Key }), { abortSignal: c.signal });
    there = Buffer.from(await r.Body!.transformToByteArray());
  } catch (e) {
    if (httpStatus(e) === 403) return "presumed-ours";
    throw new RunError(`an object is already at this key (HTTP 412 to a retried create-only put) and it could not be read back to see whether it is ours: ${errorMessage(e)}`);
  }
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  if (there.length !== data.length || sha(there) !== sha(data)) {
    throw new RunError(
      `a different object is already at this key (HTTP 412 to a retried create-only put: ${there.length} bytes, sha256 ${sha(there)}; ours ${data.length} bytes, sha256 ${sha(data)}); keys never repeat, so something else wrote it`,
    );
  }
  return "already-there";
}

export interface StreamUploadOptions {
  /** Every part but the last is exactly this many bytes (R2 requires equal parts). */
  partSize: number;
  /** Parts in flight at once. */
  queueSize: number;
  /** Called with the upload id as soon as the multipart upload exists (so the caller can abort it). */
  onUploadId?: (id: string) => void;
  /** Called with the bytes of the parts (or the single put) that the store has acknowledged. */
  onProgress?: (bytes: number) => void;
  /** The run's deadline: aborts every request and stops reading the body. */
  signal?: AbortSignal;
  /** Called with a warning text (a single put whose answer was lost). */
  onWarning?: (text: string) => void;
  /** false: the single put of a short stream leaves a 412 to the caller (see {@link putCreateOnly}). */
  readBack?: boolean;
}

/**
 * A create-only streaming upload with memory fixed by construction: at most `queueSize + 1`
 * part buffers of `partSize` bytes, allocated once and reused for the whole stream.
 *
 * lib-storage's `Upload` buffers a Readable by collecting its chunks and `Buffer.concat`-ing
 * them into a fresh part-sized buffer per part (plus a subarray that keeps the previous concat
 * alive), so every 16 MiB part allocated and freed new off-heap memory; how much of that garbage
 * was alive at once depended on when V8 collected it, and peak RSS drifted up with the size of
 * the backup. Here incoming chunks are copied into a pooled buffer; when it is full it is sent
 * as one UploadPart (the SDK retries it from the same buffer) and returns to the pool when the
 * part is acknowledged. Each chunk is copied before the next is asked for, so the body may read
 * every chunk into one buffer (a FifoStoredBody does). Reading waits while all buffers are busy, which back-pressures the
 * pipeline (age, zstd, the source) instead of growing memory.
 *
 * A stream that ends within the first part is sent as a single PutObject ({@link putCreateOnly}).
 * Both the PutObject and CompleteMultipartUpload carry `If-None-Match: *`; the PutObject and every
 * UploadPart carry their Content-MD5; the lock headers go on the PutObject or the
 * CreateMultipartUpload. On failure the multipart upload is left for the caller to abort (it gets
 * the id through `onUploadId`).
 */
export async function uploadStream(client: S3Client, params: StreamUploadParams, body: AsyncIterable<Buffer | Uint8Array | string>, o: StreamUploadOptions): Promise<void> {
  const { partSize, queueSize } = o;
  const pool: Buffer[] = [];
  let allocated = 0;
  const inflight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let uploadId: string | undefined;
  let creating: Promise<string> | undefined;
  let acknowledged = 0;
  let failure: unknown;
  let failed = false;

  const createUpload = (): Promise<string> =>
    (creating ??= client
      .send(
        new (s3sdk().CreateMultipartUploadCommand)({ Bucket: params.Bucket, Key: params.Key, ContentType: params.ContentType, ...params.extra, ...lockHeaders(params.lock) }),
        { abortSignal: o.signal },
      )
      .then((r) => {
        if (!r.UploadId) throw new Error("CreateMultipartUpload returned no UploadId");
        uploadId = r.UploadId;
        o.onUploadId?.(uploadId);
        return uploadId;
      }));

  /** Waits until a buffer is free (or may be allocated); rethrows a part's failure. */
  const takeBuffer = async (): Promise<Buffer> => {
    for (;;) {
      if (failed) throw failure;
      const b = pool.pop();
      if (b) return b;
      if (allocated < queueSize + 1) {
        allocated++;
        return Buffer.allocUnsafeSlow(partSize);
      }
      await Promise.race(inflight);
    }
  };

  const sendPart = (partNumber: number, buf: Buffer, length: number): void => {
    const p = (async () => {
      try {
        const id = await createUpload();
        const body = buf.subarray(0, length);
        const r = await client.send(
          new (s3sdk().UploadPartCommand)({ Bucket: params.Bucket, Key: params.Key, UploadId: id, PartNumber: partNumber, Body: body, ContentLength: length, ContentMD5: contentMd5(body) }),
          { abortSignal: o.signal },
        );
        if (!r.ETag) throw new Error(`part ${partNumber} is missing an ETag in the UploadPart response`);
        parts.push({ PartNumber: partNumber, ETag: r.ETag });
        acknowledged += length;
        o.onProgress?.(acknowledged);
        pool.push(buf); // only a buffer the SDK is finished with goes back to the pool
      } catch (e) {
        if (!failed) {
          failed = true;
          failure = e;
        }
      }
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  let current: Buffer | undefined;
  let filled = 0;
  let partNumber = 0;
  try {
    for await (const c of body) {
      const chunk: Buffer = Buffer.isBuffer(c) ? c : Buffer.from(c);
      let off = 0;
      while (off < chunk.length) {
        if (!current) {
          current = await takeBuffer();
          filled = 0;
        }
        const n = chunk.copy(current, filled, off, Math.min(chunk.length, off + partSize - filled));
        filled += n;
        off += n;
        if (filled === partSize) {
          sendPart(++partNumber, current, filled);
          current = undefined;
        }
      }
      if (failed) throw failure;
    }
    if (partNumber === 0) {
      // The whole stream fits in one part: a single create-only put.
      const data = current ? current.subarray(0, filled) : Buffer.alloc(0);
      const warning = lostAnswerWarning(`s3://${params.Bucket}/${params.Key}`, await putCreateOnly(client, params, data, o));
      if (warning) o.onWarning?.(warning);
      o.onProgress?.(data.length);
      return;
    }
    if (current && filled > 0) sendPart(++partNumber, current, filled);
    current = undefined;
    while (inflight.size) await Promise.all([...inflight]);
    if (failed) throw failure;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(
      new (s3sdk().CompleteMultipartUploadCommand)({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        ...(params.overwrite ? {} : { IfNoneMatch: "*" }),
        MultipartUpload: { Parts: parts },
      }),
      { abortSignal: o.signal },
    );
  } catch (e) {
    // Let parts already on the wire settle so the caller's abort is the last word on the upload.
    while (inflight.size) await Promise.all([...inflight]);
    if (creating) await creating.catch(() => undefined);
    throw e;
  }
}
