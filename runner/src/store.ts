import { createReadStream, promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { ListObjectsV2CommandOutput, S3Client, _Object } from "@aws-sdk/client-s3";
import { joinKey } from "lifeboat-core";
import { RunError, UsageError, errorMessage } from "./errors";
import { S3Dest } from "./dest";
import { httpStatus, lostAnswerWarning, putCreateOnly, uploadStream } from "./upload";
import { ObjectLock } from "./lock";
import { processAlive } from "./proc";
import { destroyOnAbort, StoredBody } from "./storedBody";
import { s3sdk } from "./s3sdk";

/** An object as a listing shows it: key, size and when the store received it. */
export interface ListedObject {
  key: string;
  size: number;
  /** When the store received the object (S3 LastModified, set by the server; local: mtime). */
  modified: Date;
}

/** One level of a listing: the objects right under a prefix, and its folders (full prefixes ending in `/`). */
export interface FolderListing {
  objects: ListedObject[];
  folders: string[];
}

export interface PutOptions {
  /** Called with a warning text (e.g. an abort that could not be sent, a put whose answer was lost). */
  onWarning?: (text: string) => void;
  /** S3 Object Lock for this object (its tier's retention); none: the bucket's default. */
  lock?: ObjectLock;
  /** false: on a 412 do not read the object there to compare (the identity may not read); the 412 is the caller's. */
  readBack?: boolean;
  /** putSmall's Content-Type (default application/json: manifests and records). */
  contentType?: string;
  /** putSmall: the body's sha256 (hex) from its manifest, sent for the store to check instead of Content-MD5 (S3 only). */
  sha256?: string;
}

export interface PutStreamOptions extends PutOptions {
  /** Called with bytes handed to the destination so far. */
  onProgress?: (bytes: number) => void;
}

/**
 * Where backups live. Keys are full keys (they include the destination prefix). Every put is
 * create-only: an existing key is never overwritten.
 */
export interface Store {
  /** `s3://bucket/prefix` or the local directory, for messages. */
  readonly description: string;
  /** The key prefix everything lives under (may be empty). */
  readonly prefix: string;
  putStream(key: string, body: StoredBody, opts?: PutStreamOptions): Promise<void>;
  /** One create-only put of a whole body (a string is written as UTF-8). */
  putSmall(key: string, body: string | Buffer, opts?: PutOptions): Promise<void>;
  get(key: string): Promise<Readable>;
  getText(key: string): Promise<string>;
  /** Every object under a flat prefix (no delimiter listing). */
  list(prefix: string): Promise<ListedObject[]>;
  /**
   * One level under `prefix` (a delimiter listing): the objects right under it and its folders
   * (`<prefix>NAME/`), each folder once however many keys it holds. Where a store has none,
   * catalog.ts's listFolder derives the same from list().
   */
  listFolder?(prefix: string): Promise<FolderListing>;
  /** Local mode only (keep-local pruning). */
  remove?(key: string): Promise<void>;
  /** Local mode only: removes partial files under `prefix` that no live run is writing; returns their paths. */
  removeStalePartials?(prefix: string): Promise<string[]>;
}

export interface S3Options {
  endpoint?: string;
  region?: string;
  /** Total attempts per request, including the first (bounded retries with backoff). */
  maxAttempts: number;
  partSizeBytes: number;
  queueSize: number;
  /** Socket idle timeout per request (no byte in either direction for this long ends the attempt). */
  timeoutMs: number;
  /** Total time per request attempt from sending it to the answer's headers (a body being downloaded is bounded by timeoutMs and the run's deadline). */
  requestTimeoutMs: number;
  /** The run's deadline: aborts every request; its reason is the error the run reports. */
  signal?: AbortSignal;
  /** An identity of its own (the bucket source's app bucket, the replica); default: the AWS_* chain. */
  credentials?: S3Credentials;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The flags (and the endpoint's environment variable) that name one S3 side in usage errors. */
export interface S3Flags {
  endpoint: string;
  region: string;
  endpointEnv?: string;
}

/** The destination's flags (--dest's side). */
export const DEST_FLAGS: S3Flags = { endpoint: "--endpoint", region: "--region", endpointEnv: "LIFEBOAT_S3_ENDPOINT" };

/**
 * The HTTP handler's bounds. In this SDK `requestTimeout` only logs a warning unless
 * `throwOnRequestTimeout` is set, and the idle bound is `socketTimeout`: with `requestTimeout`
 * alone (what `--timeout` used to set) a request that never gets an answer waits forever.
 */
export function requestHandlerOptions(o: S3Options) {
  return {
    connectionTimeout: Math.min(o.timeoutMs, 15000),
    socketTimeout: o.timeoutMs,
    requestTimeout: o.requestTimeoutMs,
    throwOnRequestTimeout: true,
  };
}

/**
 * The one S3 client factory: every S3 side of every command (the destination, a replica, the app
 * bucket, a restore target) gets its client here, with its own endpoint, region and identity and
 * the run's request bounds. `flags` name that side's flags in the usage errors.
 */
export function makeS3Client(o: S3Options, flags: S3Flags = DEST_FLAGS): S3Client {
  const region = o.region || "us-east-1";
  if (region === "auto" && !o.endpoint) {
    const env = flags.endpointEnv ? ` (${flags.endpointEnv})` : "";
    throw new UsageError(`${flags.region} auto is for R2 and needs ${flags.endpoint} https://ACCOUNT.r2.cloudflarestorage.com${env}`);
  }
  if (o.endpoint) {
    try {
      const u = new URL(o.endpoint);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    } catch {
      throw new UsageError(`${flags.endpoint}: must be an http(s) URL, got ${JSON.stringify(o.endpoint)}`);
    }
  }
  return new (s3sdk().S3Client)({
    region,
    ...(o.endpoint ? { endpoint: o.endpoint, forcePathStyle: true } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    // R2 and most S3-compatible stores reject the SDK's default flexible checksums.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: o.maxAttempts,
    retryMode: "standard",
    requestHandler: requestHandlerOptions(o),
  });
}

/** A failed S3 request as the run reports it, with the HTTP status the store answered (if any). */
export class S3Error extends RunError {
  override name = "S3Error";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * A create-only put found the key taken (HTTP 412). Only for puts with `readBack: false`, which
 * leave the 412 to the caller; decided by the status code, never by the message's words.
 */
export const keyTaken = (e: unknown): boolean => e instanceof S3Error && e.status === 412;

function s3Error(action: string, where: string, e: unknown, signal?: AbortSignal): RunError {
  // The run's deadline aborted the request: say that, not "Request aborted".
  if (signal?.aborted) return new RunError(`${action} ${where} stopped: ${errorMessage(signal.reason)}`);
  const err = e as { name?: string; $metadata?: { attempts?: number } };
  const attempts = err?.$metadata?.attempts;
  const status = httpStatus(e);
  const bits = [err?.name && err.name !== "Error" ? err.name : undefined, status ? `HTTP ${status}` : undefined]
    .filter(Boolean)
    .join(", ");
  return new S3Error(
    `${action} ${where} failed${attempts ? ` after ${attempts} attempt(s)` : ""}: ${errorMessage(e)}${bits ? ` (${bits})` : ""}`,
    status,
  );
}

export class S3Store implements Store {
  readonly description: string;
  readonly prefix: string;
  constructor(
    private readonly client: S3Client,
    private readonly dest: S3Dest,
    private readonly opts: S3Options,
  ) {
    this.prefix = dest.prefix;
    this.description = `s3://${dest.bucket}/${dest.prefix}`;
  }

  private url(key: string): string {
    return `s3://${this.dest.bucket}/${key}`;
  }

  async putStream(key: string, body: StoredBody, o: PutStreamOptions = {}): Promise<void> {
    // Our own create-only multipart upload with a fixed pool of part buffers (see upload.ts:
    // lib-storage's per-part Buffer.concat made peak memory drift up with the backup's size).
    // We abort a failed multipart upload ourselves, keeping the original error.
    let uploadId: string | undefined;
    // The deadline also ends a wait for the body (a stalled source), not only requests in flight.
    const signal = this.opts.signal;
    const stopWatching = destroyOnAbort(body, signal);
    try {
      await uploadStream(
        this.client,
        { Bucket: this.dest.bucket, Key: key, ContentType: "application/octet-stream", lock: o.lock },
        body,
        {
          partSize: this.opts.partSizeBytes,
          queueSize: this.opts.queueSize,
          onUploadId: (id) => (uploadId = id),
          onProgress: o.onProgress,
          onWarning: o.onWarning,
          readBack: o.readBack,
          signal,
        },
      );
    } catch (e) {
      if (uploadId) await this.abort(key, uploadId, o);
      throw e instanceof RunError ? e : s3Error("upload to", this.url(key), e, signal);
    } finally {
      stopWatching();
    }
  }

  private async abort(key: string, uploadId: string, o: PutStreamOptions): Promise<void> {
    try {
      // Best effort with its own short bound: after the run's deadline, against a stalled endpoint,
      // the failure (and its alert) must not wait --max-attempts × --timeout for it.
      await this.client.send(new (s3sdk().AbortMultipartUploadCommand)({ Bucket: this.dest.bucket, Key: key, UploadId: uploadId }), {
        abortSignal: AbortSignal.timeout(Math.min(this.opts.timeoutMs, 30_000)),
      });
      o.onWarning?.(`aborted multipart upload ${uploadId} of ${this.url(key)}`);
    } catch (e) {
      o.onWarning?.(
        `could not abort multipart upload ${uploadId} of ${this.url(key)} (${errorMessage(e)}); its parts are invisible and the bucket's abort-incomplete-multipart lifecycle rule removes them`,
      );
    }
  }

  async putSmall(key: string, body: string | Buffer, o: PutOptions = {}): Promise<void> {
    try {
      const data = typeof body === "string" ? Buffer.from(body, "utf8") : body;
      const params = { Bucket: this.dest.bucket, Key: key, ContentType: o.contentType ?? "application/json", lock: o.lock };
      const r = await putCreateOnly(this.client, params, data, { signal: this.opts.signal, readBack: o.readBack, sha256: o.sha256 });
      const warning = lostAnswerWarning(this.url(key), r);
      if (warning) o.onWarning?.(warning);
    } catch (e) {
      throw s3Error("put", this.url(key), e, this.opts.signal);
    }
  }

  async get(key: string): Promise<Readable> {
    const signal = this.opts.signal;
    try {
      const r = await this.client.send(new (s3sdk().GetObjectCommand)({ Bucket: this.dest.bucket, Key: key }), { abortSignal: signal });
      if (!r.Body) throw new Error("empty body");
      const body = r.Body as Readable;
      // A download that outlives the run's deadline ends with the deadline's error.
      if (signal) {
        const stop = () => body.destroy(signal.reason);
        signal.addEventListener("abort", stop, { once: true });
        body.once("close", () => signal.removeEventListener("abort", stop));
      }
      return body;
    } catch (e) {
      throw s3Error("download of", this.url(key), e, signal);
    }
  }

  async getText(key: string): Promise<string> {
    const body = await this.get(key);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks).toString("utf8");
  }

  /** Every page of a listing of `prefix` (with `delimiter`: one level of it), each handed to `page`. */
  private async pages(prefix: string, delimiter: string | undefined, page: (r: ListObjectsV2CommandOutput) => void): Promise<void> {
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(
          new (s3sdk().ListObjectsV2Command)({ Bucket: this.dest.bucket, Prefix: prefix, ContinuationToken: token, ...(delimiter ? { Delimiter: delimiter } : {}) }),
          { abortSignal: this.opts.signal },
        );
        page(r);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw s3Error("listing of", this.url(prefix), e, this.opts.signal);
    }
  }

  async list(prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    await this.pages(prefix, undefined, (r) => out.push(...listed(r.Contents)));
    return out;
  }

  async listFolder(prefix: string): Promise<FolderListing> {
    const out: FolderListing = { objects: [], folders: [] };
    await this.pages(prefix, "/", (r) => {
      out.objects.push(...listed(r.Contents));
      for (const p of r.CommonPrefixes ?? []) if (p.Prefix) out.folders.push(p.Prefix);
    });
    return out;
  }
}

function listed(contents: _Object[] | undefined): ListedObject[] {
  return (contents ?? []).filter((o) => o.Key).map((o) => ({ key: o.Key!, size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) }));
}

/**
 * A file being written in local mode: `<final name>.partial-<pid>-<random>`, the pid of the run
 * writing it (older runners wrote `.partial-<random>`).
 */
const PARTIAL = /\.partial-(?:(\d+)-)?[0-9a-f]{8}$/;

/** When this process started: a pid-less partial older than that belongs to no run of ours. */
const PROCESS_STARTED = Date.now() - process.uptime() * 1000;

/**
 * Whether a partial file is left over: its writer's pid is gone (killed mid-backup), or, for a
 * pid-less name, it predates this process. A partial whose writer is alive is never touched.
 */
export function partialIsStale(name: string, mtime: Date, alive: (pid: number) => boolean = processAlive, startedAt = PROCESS_STARTED): boolean {
  const m = PARTIAL.exec(name);
  if (!m) return false;
  if (m[1] !== undefined) return !alive(Number(m[1]));
  return mtime.getTime() < startedAt;
}

/**
 * Local mode: the same layout under a directory. Files appear under their final name only when
 * complete. `signal` (the run's deadline and stop, context.ts) ends a write or a read as it ends
 * an S3 request: a write's partial file is removed and the error is the signal's reason.
 */
export class LocalStore implements Store {
  readonly description: string;
  readonly prefix = "";
  constructor(
    private readonly dir: string,
    private readonly signal?: AbortSignal,
  ) {
    this.description = dir;
  }

  private path(key: string): string {
    const k = joinKey(key);
    if (k.split("/").some((p) => p === "..")) throw new RunError(`invalid key ${key}`);
    return join(this.dir, ...k.split("/"));
  }

  private async createOnly(key: string, write: (partial: string) => Promise<void>): Promise<void> {
    const final = this.path(key);
    await fsp.mkdir(dirname(final), { recursive: true });
    const partial = `${final}.partial-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      this.signal?.throwIfAborted();
      await write(partial).catch((e) => {
        throw this.signal?.aborted ? this.signal.reason : e;
      });
      // link() fails when the final name exists: never overwrite.
      await fsp.link(partial, final);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new RunError(`${final} already exists; refusing to overwrite`);
      throw e;
    } finally {
      await fsp.rm(partial, { force: true });
    }
  }

  async putStream(key: string, body: StoredBody, o: PutStreamOptions = {}): Promise<void> {
    await this.createOnly(key, async (partial) => {
      const fh = await fsp.open(partial, "wx", 0o600);
      const stopWatching = destroyOnAbort(body, this.signal);
      try {
        await writeInPieces(fh, body, o.onProgress);
      } catch (e) {
        body.destroy(e instanceof Error ? e : new Error(String(e)));
        throw e;
      } finally {
        stopWatching();
        await fh.close();
      }
    });
  }

  async putSmall(key: string, body: string | Buffer): Promise<void> {
    // Local mode has no object lock: the lock option is S3's.
    await this.createOnly(key, (partial) => fsp.writeFile(partial, body, { flag: "wx", mode: 0o600, signal: this.signal }));
  }

  async get(key: string): Promise<Readable> {
    const p = this.path(key);
    await fsp.access(p).catch(() => {
      throw new RunError(`${p} does not exist`);
    });
    return createReadStream(p, { signal: this.signal });
  }

  async getText(key: string): Promise<string> {
    return fsp.readFile(this.path(key), "utf8");
  }

  /** Every regular file under the directory whose key starts with `prefix`, partials included. */
  private async files(prefix: string): Promise<Array<{ key: string; path: string; name: string }>> {
    const out: Array<{ key: string; path: string; name: string }> = [];
    const walk = async (d: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          const key = relative(this.dir, p).split(sep).join("/");
          if (key.startsWith(prefix)) out.push({ key, path: p, name: e.name });
        }
      }
    };
    await walk(this.dir);
    return out;
  }

  async list(prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    for (const f of await this.files(prefix)) {
      if (PARTIAL.test(f.name)) continue;
      const st = await fsp.stat(f.path);
      out.push({ key: f.key, size: st.size, modified: st.mtime });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async removeStalePartials(prefix: string): Promise<string[]> {
    const removed: string[] = [];
    for (const f of await this.files(prefix)) {
      const st = await fsp.stat(f.path).catch(() => undefined);
      if (!st || !partialIsStale(f.name, st.mtime)) continue;
      await fsp.rm(f.path, { force: true });
      removed.push(f.path);
    }
    return removed;
  }

  async remove(key: string): Promise<void> {
    await fsp.rm(this.path(key), { force: true });
  }
}

/** How many bytes a local backup file is written in at once: 64 KiB writes cost node's main thread ~0.2 s per GB. */
const FILE_WRITE_BYTES = 1 << 20;

/**
 * Writes every chunk of `body` to `fh` in pieces of {@link FILE_WRITE_BYTES} (the last may be
 * shorter), through one reused buffer; a chunk of at least that size is written as it is. Each
 * chunk is written or copied before the next is asked for (a StoredBody may reuse its buffer).
 */
async function writeInPieces(fh: FileHandle, body: StoredBody, onBytes?: (n: number) => void): Promise<void> {
  const buf = Buffer.allocUnsafe(FILE_WRITE_BYTES);
  let held = 0;
  let written = 0;
  const write = async (b: Buffer) => {
    for (let off = 0; off < b.length; ) off += (await fh.write(b, off, b.length - off)).bytesWritten;
    written += b.length;
    onBytes?.(written);
  };
  for await (const chunk of body) {
    if (held === 0 && chunk.length >= FILE_WRITE_BYTES) {
      await write(chunk);
      continue;
    }
    for (let off = 0; off < chunk.length; ) {
      const n = chunk.copy(buf, held, off);
      held += n;
      off += n;
      if (held === FILE_WRITE_BYTES) {
        await write(buf);
        held = 0;
      }
    }
  }
  if (held) await write(buf.subarray(0, held));
}
