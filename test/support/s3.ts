import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, request, IncomingMessage, Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Socket } from "node:net";
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { freePort, waitFor } from "./ports";

export interface RecordedRequest {
  method: string;
  url: string;
}

export type Fault = { kind: "none" } | { kind: "down" } | { kind: "drop-after-parts"; parts: number } | { kind: "slow-parts"; ms: number };

/**
 * s3rver (as a child process, `node --openssl-legacy-provider`) behind an in-process HTTP proxy
 * that records every request and can drop connections, to play an endpoint that goes away.
 */
export interface S3Server {
  /** The proxy's URL: what the runner is pointed at. */
  endpoint: string;
  /** s3rver's own URL, bypassing the proxy. */
  directEndpoint: string;
  requests: RecordedRequest[];
  /** Connections the proxy accepted (including the ones it dropped). */
  connections: number;
  setFault(f: Fault): void;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  keys(bucket: string, prefix?: string): Promise<string[]>;
  get(bucket: string, key: string): Promise<Buffer>;
  put(bucket: string, key: string, body: Buffer): Promise<void>;
  remove(bucket: string, key: string): Promise<void>;
  /**
   * Bit rot: replaces an object's bytes in s3rver's files, keeping the LastModified the store gave
   * it (a put would set a new one, which the runner rightly flags as a replaced object).
   */
  rot(bucket: string, key: string, body: Buffer): void;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export const S3_ENV = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };

export async function startS3(): Promise<S3Server> {
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
  let parts = 0;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const proxy: Server = createServer((req: IncomingMessage, res) => {
    requests.push({ method: req.method!, url: req.url! });
    const isPart = req.method === "PUT" && /[?&]partNumber=/.test(req.url!);
    if (isPart) parts++;
    if (fault.kind === "down" || (fault.kind === "drop-after-parts" && isPart && parts > fault.parts)) {
      req.socket.destroy();
      return;
    }
    const forward = () => {
    const up = request({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
    };
    if (fault.kind === "slow-parts" && isPart) setTimeout(forward, fault.ms);
    else forward();
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

  const s3: S3Server = {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    directEndpoint: direct,
    requests,
    get connections() {
      return state.connections;
    },
    setFault(f) {
      fault = f;
      parts = 0;
      if (f.kind === "down") for (const s of sockets) s.destroy();
    },
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
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
      const parts = key.split("/");
      const file = join(dir, bucket, ...parts.slice(0, -1), `${parts[parts.length - 1]}._S3rver_object`);
      const { atime, mtime } = statSync(file);
      writeFileSync(file, body);
      rmSync(`${file}.md5`, { force: true });
      utimesSync(file, atime, mtime);
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
