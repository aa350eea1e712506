import { createHash } from "node:crypto";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

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

/**
 * An object's user metadata as the store sent it: its `x-amz-meta-*` answer headers, name → value.
 * Not the SDK's `Metadata`, which is a plain object and silently loses a `__proto__` name.
 */
export async function wireMetadata(client: S3Client, bucket: string, key: string): Promise<Array<[string, string]>> {
  const head = new HeadObjectCommand({ Bucket: bucket, Key: key });
  let headers: Record<string, string> = {};
  head.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      headers = (out.response as { headers: Record<string, string> }).headers;
      return out;
    },
    { step: "initialize", name: "testAnswerHeaders" },
  );
  await client.send(head);
  return Object.entries(headers)
    .filter(([h]) => h.startsWith("x-amz-meta-"))
    .map(([h, v]): [string, string] => [h.slice("x-amz-meta-".length), v])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}
