/**
 * The strict S3 layer's listings (test/support/s3.ts): how it answers a delimiter listing, and
 * which recorded requests are LISTs (each one a paid Class A request on S3 and R2).
 *
 * s3rver's own delimiter listing drops every folder whose keys all lie two or more levels below
 * the prefix (it never walks into them): `prod/` with delimiter `/` shows no source folder at all
 * when the keys are `prod/SOURCE/daily/…`. S3 answers with each folder once, so the layer answers
 * ListObjectsV2 with a delimiter itself, from s3rver's flat listing (which it gets right): the
 * keys right under the prefix and each folder once, in key order, at most max-keys (at most 1000)
 * entries a page counting both, continued by a token, as S3 pages them.
 */
import { ServerResponse } from "node:http";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import type { RecordedRequest } from "./s3";

function listingQuery(url: string): { bucket: string; key: string; query: URLSearchParams } {
  const u = new URL(url, "http://proxy");
  const [, bucket = "", ...rest] = u.pathname.split("/");
  return { bucket: decodeURIComponent(bucket), key: rest.join("/"), query: u.searchParams };
}

/** Subresources a GET on a bucket may name that are not a listing of its keys. */
const NOT_LISTINGS = ["location", "versioning", "versions", "uploads", "policy", "lifecycle", "object-lock", "acl", "cors", "tagging", "website", "encryption", "replication"];

/** A GET on a bucket that lists its keys (ListObjects V1 or V2, with or without a delimiter). */
export function isListRequest(r: RecordedRequest): boolean {
  if (r.method !== "GET") return false;
  const { bucket, key, query } = listingQuery(r.url);
  return !!bucket && !key && !NOT_LISTINGS.some((s) => query.has(s));
}

/** The number of LIST requests among `requests` (from index `from` on). */
export function listRequestCount(requests: RecordedRequest[], from = 0): number {
  return requests.slice(from).filter(isListRequest).length;
}

/** Whether the layer answers this request itself ({@link answerDelimiterList}). */
export function isDelimiterList(method: string, url: string): boolean {
  const { bucket, key, query } = listingQuery(url);
  return method === "GET" && !!bucket && !key && query.get("list-type") === "2" && !!query.get("delimiter");
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
const tag = (name: string, value: string | number | boolean) => `<${name}>${typeof value === "string" ? xml(value) : value}</${name}>`;

type Entry = { key: string; size: number; etag: string; modified: Date } | { folder: string };
const nameOf = (e: Entry) => ("folder" in e ? e.folder : e.key);

/** Answers a ListObjectsV2 with a delimiter from s3rver's flat listing of the prefix (see the module comment). */
export async function answerDelimiterList(client: S3Client, url: string, res: ServerResponse): Promise<void> {
  const { bucket, query } = listingQuery(url);
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter")!;
  const maxKeys = Math.min(1000, Number(query.get("max-keys") ?? "1000"));
  const token = query.get("continuation-token");
  const after = token ? Buffer.from(token, "base64").toString("utf8") : (query.get("start-after") ?? "");

  const flat: Array<{ key: string; size: number; etag: string; modified: Date }> = [];
  let next: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: next }));
    for (const o of r.Contents ?? []) flat.push({ key: o.Key!, size: o.Size ?? 0, etag: o.ETag ?? "", modified: o.LastModified ?? new Date(0) });
    next = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (next);
  flat.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));

  const entries: Entry[] = [];
  for (const o of flat) {
    const at = o.key.indexOf(delimiter, prefix.length);
    if (at < 0) entries.push(o);
    else {
      const folder = o.key.slice(0, at + delimiter.length);
      const last = entries[entries.length - 1];
      if (!last || nameOf(last) !== folder) entries.push({ folder });
    }
  }
  const rest = entries.filter((e) => Buffer.compare(Buffer.from(nameOf(e)), Buffer.from(after)) > 0);
  const page = rest.slice(0, maxKeys);
  const truncated = rest.length > page.length;
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    tag("Name", bucket) +
    tag("Prefix", prefix) +
    tag("Delimiter", delimiter) +
    tag("MaxKeys", maxKeys) +
    tag("KeyCount", page.length) +
    tag("IsTruncated", truncated) +
    (token ? tag("ContinuationToken", token) : "") +
    (truncated ? tag("NextContinuationToken", Buffer.from(nameOf(page[page.length - 1]!)).toString("base64")) : "") +
    page
      .filter((e): e is Exclude<Entry, { folder: string }> => !("folder" in e))
      .map((o) => `<Contents>${tag("Key", o.key)}${tag("LastModified", o.modified.toISOString())}${tag("ETag", o.etag)}${tag("Size", o.size)}${tag("StorageClass", "STANDARD")}</Contents>`)
      .join("") +
    page
      .filter((e): e is { folder: string } => "folder" in e)
      .map((e) => `<CommonPrefixes>${tag("Prefix", e.folder)}</CommonPrefixes>`)
      .join("") +
    `</ListBucketResult>`;
  res.writeHead(200, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body);
}
