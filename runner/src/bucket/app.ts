import { Readable } from "node:stream";
import { GetObjectCommand, GetObjectCommandOutput, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { ENV, parseDuration } from "lifeboat-core";
import { RunError, UsageError, errorMessage } from "../errors";
import { S3Dest, parseDest } from "../dest";
import { S3Credentials, makeS3Client } from "../store";
import { S3Bounds, envIdentity } from "../context";
import { Listed, bareEtag } from "./plan";
import { KEPT_HEADERS, SnapshotEntry, metadataObject } from "./snapshot";

/** A bucket other than the backup bucket: the app bucket, or a restore's target. */
export interface OtherBucket {
  client: S3Client;
  dest: S3Dest;
  url: string;
  signal?: AbortSignal;
}

/** Both variables of an identity, or neither (`required`: both). */
export function envCredentials(idVar: string, secretVar: string, required: boolean): S3Credentials | undefined {
  const c = envIdentity(idVar, secretVar);
  if (!c && required) throw new UsageError(`${idVar} and ${secretVar} are required: the app bucket is read with its own read-only identity, never the backup writer's`);
  return c;
}

/**
 * A client for the app bucket (or a restore target): its own endpoint, region and identity,
 * the same request bounds as the backup bucket's client.
 */
export function otherBucket(
  flags: { url: string; endpoint: string; region: string },
  url: string | undefined,
  endpoint: string | undefined,
  region: string | undefined,
  credentials: S3Credentials | undefined,
  base: S3Bounds,
): OtherBucket {
  const dest = parseDest(url, flags.url);
  const client = makeS3Client({ ...base, endpoint, region, credentials }, flags);
  return { client, dest, url: `s3://${dest.bucket}${dest.prefix ? "/" + dest.prefix : ""}`, signal: base.signal };
}

/** `--window`: a duration of whole days or more (the lifecycle rules count days). */
export function parseWindow(text: string | undefined): number {
  const t = text ?? "30d";
  let s: number;
  try {
    s = parseDuration(t);
  } catch (e) {
    throw new UsageError(`--window (${ENV.bucketWindow}): ${(e as Error).message}`);
  }
  if (s < 86400 || s % 86400 !== 0) throw new UsageError(`--window (${ENV.bucketWindow}): must be whole days (the lifecycle rules count days), got ${JSON.stringify(t)}`);
  return s;
}

export function keyBase(dest: S3Dest): string {
  return dest.prefix ? dest.prefix + "/" : "";
}

/**
 * The bucket's objects under its prefix, page by page (ListObjectsV2, 1000 keys a page): only one
 * page is held at a time. Keys come relative to the prefix, in S3's (UTF-8 byte) order; `under`
 * narrows the listing to keys starting with it (relative to the prefix).
 */
export async function* listObjects(b: OtherBucket, under = ""): AsyncGenerator<Listed> {
  const base = keyBase(b.dest);
  let token: string | undefined;
  do {
    let r;
    try {
      r = await b.client.send(new ListObjectsV2Command({ Bucket: b.dest.bucket, Prefix: base + under || undefined, ContinuationToken: token }), { abortSignal: b.signal });
    } catch (e) {
      throw new RunError(`listing ${b.url} failed: ${b.signal?.aborted ? errorMessage(b.signal.reason) : errorMessage(e)}`);
    }
    for (const o of r.Contents ?? []) {
      if (!o.Key || o.Key.endsWith("/") && (o.Size ?? 0) === 0) continue; // "folder" markers hold nothing
      yield { key: o.Key.slice(base.length), size: o.Size ?? 0, etag: bareEtag(o.ETag), lastModified: o.LastModified ?? new Date(0) };
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
}

const status = (e: unknown) => (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;

/** An object read from the app bucket, with what S3 keeps beside its bytes. */
export interface AppObject {
  body: Readable;
  size: number;
  etag: string;
  lastModified: Date;
  contentType?: string;
  metadata?: Record<string, string>;
  headers?: SnapshotEntry["headers"];
}

const META = "x-amz-meta-";

/**
 * The user metadata of an answer, from its own `x-amz-meta-*` headers: the SDK builds `Metadata`
 * on a plain object, where a `__proto__` name (legal S3 metadata) is silently lost.
 */
export function headerMetadata(headers: Record<string, string | undefined>): Record<string, string> | undefined {
  const pairs = Object.entries(headers)
    .filter((h): h is [string, string] => h[0].toLowerCase().startsWith(META) && h[1] !== undefined)
    .map(([h, v]) => [h.slice(META.length).toLowerCase(), v] as const);
  return pairs.length ? metadataObject(pairs) : undefined;
}

/** GETs one object; undefined when it is gone (deleted since it was listed); any other failure names it. */
export async function getObject(b: OtherBucket, key: string): Promise<AppObject | undefined> {
  let r: GetObjectCommandOutput;
  let answer: Record<string, string | undefined> = {};
  try {
    const get = new GetObjectCommand({ Bucket: b.dest.bucket, Key: keyBase(b.dest) + key });
    // The answer's headers as they came (see headerMetadata).
    get.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        answer = (out.response as { headers?: Record<string, string> }).headers ?? {};
        return out;
      },
      { step: "initialize", name: "lifeboatAnswerHeaders" },
    );
    r = await b.client.send(get, { abortSignal: b.signal });
  } catch (e) {
    if (status(e) === 404 || (e as { name?: string }).name === "NoSuchKey") return undefined;
    throw new RunError(`reading ${b.url}/${key} failed: ${b.signal?.aborted ? errorMessage(b.signal.reason) : errorMessage(e)}${status(e) ? ` (HTTP ${status(e)})` : ""}`);
  }
  const headers: NonNullable<SnapshotEntry["headers"]> = {};
  const cap = (h: (typeof KEPT_HEADERS)[number]) => (h[0]!.toUpperCase() + h.slice(1)) as "CacheControl";
  for (const h of KEPT_HEADERS) {
    const v = r[cap(h)];
    if (v) headers[h] = v;
  }
  const metadata = headerMetadata(answer);
  return {
    body: r.Body as Readable,
    size: r.ContentLength ?? 0,
    etag: bareEtag(r.ETag),
    lastModified: r.LastModified ?? new Date(0),
    ...(r.ContentType ? { contentType: r.ContentType } : {}),
    ...(metadata ? { metadata } : {}),
    ...(Object.keys(headers).length ? { headers } : {}),
  };
}
