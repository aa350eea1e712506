import { createHash } from "node:crypto";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

/** What a restore must bring back for one key: bytes, content-type and user metadata. */
export interface ObjectState {
  sha256: string;
  size: number;
  contentType?: string;
  metadata?: Record<string, string>;
}

export type BucketState = Record<string, ObjectState>;

/** Every object under `prefix` in `bucket` (keys relative to the prefix) with its bytes' sha256, content-type and metadata. */
export async function bucketState(client: S3Client, bucket: string, prefix = ""): Promise<BucketState> {
  const out: BucketState = {};
  let token: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token }));
    for (const o of r.Contents ?? []) {
      const g = await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      const body = Buffer.from(await g.Body!.transformToByteArray());
      out[o.Key!.slice(prefix.length)] = {
        sha256: createHash("sha256").update(body).digest("hex"),
        size: body.length,
        contentType: g.ContentType,
        ...(g.Metadata && Object.keys(g.Metadata).length ? { metadata: g.Metadata } : {}),
      };
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function putObject(client: S3Client, bucket: string, key: string, body: Buffer | string, contentType = "application/octet-stream", metadata?: Record<string, string>): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, ...(metadata ? { Metadata: metadata } : {}) }));
}

/** Puts `n` small objects `<prefix>NNNNNN.bin` with `parallel` requests at once. */
export async function putMany(client: S3Client, bucket: string, n: number, prefix = "o/", parallel = 32, size = 200): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const body = Buffer.alloc(size, i % 251);
        body.writeUInt32BE(i, 0);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${String(i).padStart(6, "0")}.bin`, Body: body, ContentType: "application/octet-stream" }));
      }
    }),
  );
}
