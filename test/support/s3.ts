import { ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, request, IncomingMessage, Server, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Socket } from "node:net";
import { crc32 } from "node:zlib";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { freePort, waitFor } from "./ports";
import { answerDelimiterList, isDelimiterList } from "./s3List";

export interface RecordedRequest {
  method: string;
  url: string;
}

export type Fault =
  | { kind: "none" }
  | { kind: "down" }
  | { kind: "drop-after-parts"; parts: number }
  | { kind: "slow-parts"; ms: number }
  /** Hold every PUT (objects and parts; those whose path matches) this long before forwarding it: a slow uplink. */
  | { kind: "slow-puts"; ms: number; path?: RegExp }
  /** Accept the connection and read the request (every one, or those whose path matches) and never answer. */
  | { kind: "stall"; path?: RegExp }
  /** Forward the request (every one, or those whose path matches), send the answer's status and headers, then never a byte of its body. */
  | { kind: "stall-body"; path?: RegExp }
  /**
   * Let `times` requests whose path matches `path` through to s3rver and then drop the connection
   * instead of answering (the put happened; its answer is lost). With `replaceWith`, something
   * else overwrites the object in between: what a retry then finds is not what was sent.
   */
  | { kind: "lose-answer"; path: RegExp; times: number; replaceWith?: Buffer };

/** What the strict layer refused: a rule AWS S3 (or R2 in R2 mode) enforces that s3rver does not. */
export interface Violation {
  method: string;
  url: string;
  status: number;
  code: string;
  message: string;
}

/** The per-object lock headers a PutObject or CreateMultipartUpload carried. */
export interface RecordedLock {
  mode: string;
  retainUntil: string;
}

export interface S3Options {
  /** R2 rules instead of S3's: all parts but the last the same size, no per-object lock headers. */
  r2?: boolean;
}

/**
 * s3rver (as a child process, `node --openssl-legacy-provider`) behind an in-process HTTP proxy
 * that records every request, can stall, drop connections or lose answers to play an endpoint
 * that goes away, and puts in front of s3rver the rules of the real store that Lifeboat relies
 * on and s3rver ignores:
 * - on a bucket with Object Lock (buckets are created lock-enabled unless asked otherwise, like
 *   Lifeboat's S3 buckets), PutObject and UploadPart need Content-MD5 or an x-amz-checksum-*
 *   header: 400 InvalidRequest with AWS's message otherwise;
 * - a Content-MD5 or x-amz-checksum-* value must match the body: 400 BadDigest otherwise;
 * - `If-None-Match: *` on PutObject and CompleteMultipartUpload: 412 PreconditionFailed when the
 *   key exists;
 * - multipart: every part but the last at least 5 MiB (S3, EntityTooSmall) and, in R2 mode, all
 *   parts but the last the same size and the last no larger (InvalidPart);
 * - R2 mode: per-object lock headers are refused (R2 locks with bucket rules only);
 * - multipart uploads as S3 keeps them (s3rver has no ListMultipartUploads or
 *   AbortMultipartUpload, and takes a part for an upload that is gone): ListMultipartUploads lists
 *   the uploads neither completed nor aborted, AbortMultipartUpload removes one (204), and a part,
 *   completion or abort naming an upload that is not open is 404 NoSuchUpload;
 * - ListObjectsV2 with a delimiter lists each folder once, however deep its keys (s3List.ts).
 * Every refusal is also kept in `violations`, and the lock headers of every write in `locks`.
 */
export interface S3Server {
  /** The proxy's URL: what the runner is pointed at. */
  endpoint: string;
  /** s3rver's own URL, bypassing the proxy. */
  directEndpoint: string;
  requests: RecordedRequest[];
  /** Requests the strict layer refused. */
  violations: Violation[];
  /** `bucket/key` → the lock headers its PutObject / CreateMultipartUpload carried. */
  locks: Map<string, RecordedLock>;
  /** Connections the proxy accepted (including the ones it dropped). */
  connections: number;
  setFault(f: Fault): void;
  /** true: every read through the proxy (GET, HEAD, listing) is 403 AccessDenied, as for S3's write-only backup writer. */
  setWriteOnly(on: boolean): void;
  client: S3Client;
  /** A bucket; with Object Lock (the checksum rule applies) unless `objectLock: false`. */
  createBucket(name: string, o?: { objectLock?: boolean }): Promise<void>;
  keys(bucket: string, prefix?: string): Promise<string[]>;
  /** The multipart uploads open in a bucket (neither completed nor aborted), by ListMultipartUploads through the proxy. */
  openUploads(bucket: string): Promise<Array<{ key: string; uploadId: string }>>;
  get(bucket: string, key: string): Promise<Buffer>;
  put(bucket: string, key: string, body: Buffer): Promise<void>;
  remove(bucket: string, key: string): Promise<void>;
  /**
   * Bit rot: replaces an object's bytes in s3rver's files, keeping the LastModified the store gave
   * it (a put would set a new one, which the runner rightly flags as a replaced object).
   */
  rot(bucket: string, key: string, body: Buffer): void;
  /** Sets an object's LastModified in s3rver's files, as if the store had received it at `when`: a backup planted in the past. */
  backdate(bucket: string, key: string, when: Date): void;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export const S3_ENV = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };

const MIN_PART = 5 * 1024 * 1024;

/** `x-amz-checksum-<alg>` → how to compute it (base64 of the digest, as S3 sends it). */
const CHECKSUMS: Record<string, (b: Buffer) => string> = {
  sha256: (b) => createHash("sha256").update(b).digest("base64"),
  sha1: (b) => createHash("sha1").update(b).digest("base64"),
  crc32: (b) => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(crc32(b) >>> 0);
    return out.toString("base64");
  },
};

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>strict-proxy</RequestId></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body);
}

/** `/bucket/key?query` (path-style) → bucket, key and query. */
function parsePath(url: string): { bucket: string; key: string; query: URLSearchParams } {
  const u = new URL(url, "http://proxy");
  const [, bucket = "", ...rest] = u.pathname.split("/");
  return { bucket: decodeURIComponent(bucket), key: rest.map(decodeURIComponent).join("/"), query: u.searchParams };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => ok(Buffer.concat(chunks)));
    req.on("error", fail);
  });
}

export async function startS3(opts: S3Options = {}): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-s3-"));
  const port = await freePort();
  const bin = resolve(__dirname, "../../node_modules/s3rver/bin/s3rver.js");
  const child: ChildProcess = spawn(process.execPath, ["--openssl-legacy-provider", bin, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "-s"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (b) => (log = (log + b.toString()).slice(-2000)));
  const direct = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint: direct,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  await waitFor(`s3rver on ${port} (${log})`, async () => {
    const r = await fetch(direct + "/");
    return r.status < 500;
  });

  let fault: Fault = { kind: "none" };
  let writeOnly = false;
  let parts = 0;
  let lost = 0;
  const requests: RecordedRequest[] = [];
  const violations: Violation[] = [];
  const locks = new Map<string, RecordedLock>();
  const lockedBuckets = new Set<string>();
  /** uploadId → partNumber → size. */
  const partSizes = new Map<string, Map<number, number>>();
  const sockets = new Set<Socket>();
  const state = { connections: 0 };

  const exists = async (bucket: string, key: string): Promise<boolean> => {
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (e) {
      if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw e;
    }
  };

  /** The strict rules; answers and returns true when the request is refused. */
  const refuse = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<boolean> => {
    const { bucket, key, query } = parsePath(req.url!);
    const h = req.headers;
    const no = (status: number, code: string, message: string) => {
      violations.push({ method: req.method!, url: req.url!, status, code, message });
      xmlError(res, status, code, message);
      return true;
    };
    const isPart = req.method === "PUT" && query.has("partNumber");
    const isPut = req.method === "PUT" && !!key && !query.has("partNumber") && !h["x-amz-copy-source"];
    const isCreate = req.method === "POST" && query.has("uploads");
    const isComplete = req.method === "POST" && query.has("uploadId");
    const lockMode = h["x-amz-object-lock-mode"];
    const retainUntil = h["x-amz-object-lock-retain-until-date"];
    if ((isPut || isCreate) && (lockMode || retainUntil)) {
      if (opts.r2) return no(501, "NotImplemented", "R2 does not support per-object Object Lock headers (x-amz-object-lock-*); use bucket lock rules");
      if (!lockedBuckets.has(bucket)) return no(400, "InvalidRequest", "Bucket is missing Object Lock Configuration");
      locks.set(`${bucket}/${key}`, { mode: String(lockMode), retainUntil: String(retainUntil) });
    }
    if (isPut || isPart) {
      if (String(h["x-amz-content-sha256"] ?? "").startsWith("STREAMING-")) {
        return no(400, "NotImplemented", "strict proxy: aws-chunked (streaming) bodies are not checked here; send the checksum as a header");
      }
      const md5 = h["content-md5"];
      const sums = Object.keys(h).filter((k) => k.startsWith("x-amz-checksum-") && k !== "x-amz-checksum-algorithm" && k !== "x-amz-checksum-type");
      if (!md5 && sums.length === 0 && lockedBuckets.has(bucket)) {
        return no(400, "InvalidRequest", `Content-MD5 OR x-amz-checksum- HTTP header is required for Put ${isPart ? "Part" : "Object"} requests with Object Lock parameters`);
      }
      if (md5 && createHash("md5").update(body).digest("base64") !== md5) {
        return no(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
      }
      for (const name of sums) {
        const alg = name.slice("x-amz-checksum-".length);
        const calc = CHECKSUMS[alg];
        if (!calc) return no(400, "InvalidRequest", `strict proxy: cannot check ${name}`);
        if (calc(body) !== h[name]) return no(400, "BadDigest", `The ${alg.toUpperCase()} you specified did not match the calculated checksum.`);
      }
    }
    if (isPart) {
      const id = query.get("uploadId")!;
      const sizes = partSizes.get(id) ?? new Map<number, number>();
      sizes.set(Number(query.get("partNumber")), body.length);
      partSizes.set(id, sizes);
    }
    if (isComplete) {
      const sizes = partSizes.get(query.get("uploadId")!) ?? new Map<number, number>();
      const listed = [...body.toString("utf8").matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
      const lens = listed.map((n) => sizes.get(n) ?? -1);
      const last = lens.length - 1;
      if (lens.some((l, i) => i < last && l < MIN_PART)) return no(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.");
      if (opts.r2 && lens.some((l, i) => (i < last ? l !== lens[0] : l > lens[0]!))) {
        return no(400, "InvalidPart", "All non-trailing parts must have the same length.");
      }
    }
    if ((isPut || isComplete) && h["if-none-match"] === "*" && (await exists(bucket, key))) {
      // Not a violation: what S3 answers a create-only write to an existing key.
      xmlError(res, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
      return true;
    }
    return false;
  };

  /** s3rver's own record of a bucket's multipart uploads: a directory per upload, its key in a file (see its filesystem store). */
  const uploadsDir = (bucket: string) => join(dir, bucket, "._S3rver_uploads");
  const isOpen = (bucket: string, id: string) => /^[0-9a-f]+$/.test(id) && existsSync(join(uploadsDir(bucket), id, "key"));
  const xmlText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  /** The multipart rules (see S3Server); answers and returns true when the request is one of them. */
  const multipart = (req: IncomingMessage, res: ServerResponse): boolean => {
    const { bucket, key, query } = parsePath(req.url!);
    if (req.method === "GET" && !key && query.has("uploads")) {
      const d = uploadsDir(bucket);
      const ids = existsSync(d) ? readdirSync(d).filter((id) => isOpen(bucket, id)) : [];
      const uploads = ids.map(
        (id) =>
          `<Upload><Key>${xmlText(readFileSync(join(d, id, "key"), "utf8"))}</Key><UploadId>${id}</UploadId><Initiated>${statSync(join(d, id, "key")).mtime.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
      );
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${xmlText(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads.join("")}</ListMultipartUploadsResult>`;
      res.writeHead(200, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body);
      return true;
    }
    const id = query.get("uploadId");
    if (id === null || !key) return false;
    if (!isOpen(bucket, id)) {
      xmlError(res, 404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.");
      return true;
    }
    if (req.method === "DELETE") {
      rmSync(join(uploadsDir(bucket), id), { recursive: true, force: true });
      res.writeHead(204).end();
      return true;
    }
    return false;
  };

  const proxy: Server = createServer((req: IncomingMessage, res) => {
    requests.push({ method: req.method!, url: req.url! });
    const isPart = req.method === "PUT" && /[?&]partNumber=/.test(req.url!);
    if (isPart) parts++;
    if (fault.kind === "down" || (fault.kind === "drop-after-parts" && isPart && parts > fault.parts)) {
      req.socket.destroy();
      return;
    }
    if (writeOnly && (req.method === "GET" || req.method === "HEAD")) {
      req.resume();
      xmlError(res, 403, "AccessDenied", "Access Denied");
      return;
    }
    const f = fault;
    const hit = (path?: RegExp) => !path || path.test(decodeURIComponent(req.url!));
    if (f.kind === "stall" && hit(f.path)) {
      req.resume(); // read the request, never answer
      return;
    }
    void (async () => {
      const body = await readBody(req);
      if (await refuse(req, res, body)) return;
      // s3rver drops nested folders from a delimiter listing: the layer answers it as S3 does (s3List.ts).
      if (isDelimiterList(req.method!, req.url!)) return answerDelimiterList(client, req.url!, res);
      if (f.kind === "slow-parts" && isPart) await new Promise((r) => setTimeout(r, f.ms));
      if (f.kind === "slow-puts" && req.method === "PUT" && hit(f.path)) await new Promise((r) => setTimeout(r, f.ms));
      // After any hold: a part held while its upload was aborted finds it gone, as on S3.
      if (multipart(req, res)) return;
      const loseThis = f.kind === "lose-answer" && lost < f.times && hit(f.path);
      if (loseThis) lost++;
      const headers = { ...req.headers, "content-length": String(body.length) };
      delete headers.expect;
      const up = request({ host: "127.0.0.1", port, method: req.method, path: req.url, headers }, (ur) => {
        if (loseThis) {
          ur.resume();
          ur.on("end", async () => {
            if (f.kind === "lose-answer" && f.replaceWith) {
              const { bucket, key } = parsePath(req.url!);
              await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: f.replaceWith }));
            }
            req.socket.destroy();
          });
          return;
        }
        res.writeHead(ur.statusCode!, ur.headers);
        if (f.kind === "stall-body" && hit(f.path)) {
          res.flushHeaders();
          ur.resume();
          return;
        }
        ur.pipe(res);
      });
      up.on("error", () => res.destroy());
      up.end(body);
    })().catch(() => res.destroy());
  });
  proxy.on("connection", (s: Socket) => {
    state.connections++;
    if (fault.kind === "down") {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const proxyPort = await freePort();
  await new Promise<void>((r) => proxy.listen(proxyPort, "127.0.0.1", r));

  const objectFile = (bucket: string, key: string) => {
    const parts = key.split("/");
    return join(dir, bucket, ...parts.slice(0, -1), `${parts[parts.length - 1]}._S3rver_object`);
  };
  const s3: S3Server = {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    directEndpoint: direct,
    requests,
    violations,
    locks,
    get connections() {
      return state.connections;
    },
    setFault(f) {
      fault = f;
      parts = 0;
      lost = 0;
      if (f.kind === "down") for (const s of sockets) s.destroy();
    },
    setWriteOnly(on) {
      writeOnly = on;
    },
    client,
    async createBucket(name, o = {}) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      if (o.objectLock !== false && !opts.r2) lockedBuckets.add(name);
    },
    async keys(bucket, prefix = "") {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of r.Contents ?? []) out.push(o.Key!);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out.sort();
    },
    async openUploads(bucket) {
      const c = new S3Client({
        endpoint: `http://127.0.0.1:${proxyPort}`,
        forcePathStyle: true,
        region: "us-east-1",
        credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
      });
      try {
        const r = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
        return (r.Uploads ?? []).map((u) => ({ key: u.Key!, uploadId: u.UploadId! }));
      } finally {
        c.destroy();
      }
    },
    async get(bucket, key) {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    async put(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async remove(bucket, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    rot(bucket, key, body) {
      const file = objectFile(bucket, key);
      const { atime, mtime } = statSync(file);
      writeFileSync(file, body);
      rmSync(`${file}.md5`, { force: true });
      utimesSync(file, atime, mtime);
    },
    backdate(bucket, key, when) {
      utimesSync(objectFile(bucket, key), when, when);
    },
    env: { ...S3_ENV },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
      client.destroy();
      if (child.exitCode === null) {
        const closed = new Promise((r) => child.once("close", r));
        child.kill("SIGTERM");
        await closed;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s3;
}
