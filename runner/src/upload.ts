import { Readable } from "node:stream";
import {
  CompleteMultipartUploadCommand,
  CompletedPart,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";

export interface StreamUploadParams {
  Bucket: string;
  Key: string;
  ContentType: string;
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
 * part is acknowledged. Reading waits while all buffers are busy, which back-pressures the
 * pipeline (age, zstd, the source) instead of growing memory.
 *
 * A stream that ends within the first part is sent as a single PutObject. Both the PutObject
 * and CompleteMultipartUpload carry `If-None-Match: *`. On failure the multipart upload is left
 * for the caller to abort (it gets the id through `onUploadId`).
 */
export async function uploadStream(client: S3Client, params: StreamUploadParams, body: Readable, o: StreamUploadOptions): Promise<void> {
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
      .send(new CreateMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, ContentType: params.ContentType }))
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
        const r = await client.send(
          new UploadPartCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: id, PartNumber: partNumber, Body: buf.subarray(0, length), ContentLength: length }),
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
      await client.send(
        new PutObjectCommand({ Bucket: params.Bucket, Key: params.Key, Body: data, ContentLength: data.length, IfNoneMatch: "*", ContentType: params.ContentType }),
      );
      o.onProgress?.(data.length);
      return;
    }
    if (current && filled > 0) sendPart(++partNumber, current, filled);
    current = undefined;
    while (inflight.size) await Promise.all([...inflight]);
    if (failed) throw failure;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        IfNoneMatch: "*",
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (e) {
    // Let parts already on the wire settle so the caller's abort is the last word on the upload.
    while (inflight.size) await Promise.all([...inflight]);
    if (creating) await creating.catch(() => undefined);
    throw e;
  }
}
