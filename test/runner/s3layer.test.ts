/**
 * The runner's one S3 layer (store.ts, upload.ts, context.ts): one client factory whose usage
 * errors name the side's own flags, one checked create-only put (Content-MD5 or a caller's
 * sha256; `readBack: false` for an identity that may only put and list), and a taken key
 * (HTTP 412) told by its status code. replicate's replica side is built from these.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ENV } from "lifeboat-core";
import pino from "pino";
import { envIdentity, s3Bounds } from "../../runner/src/context";
import { parseDest } from "../../runner/src/dest";
import { RunError, UsageError } from "../../runner/src/errors";
import { DEST_FLAGS, keyTaken, makeS3Client, S3Error, S3Store } from "../../runner/src/store";
import { putCreateOnly } from "../../runner/src/upload";
import { replicateCommand, ReplicateOpts } from "../../runner/src/commands/replicate";

const err = (status: number, attempts: number, name = "Error") => Object.assign(new Error(`status ${status}`), { name, $metadata: { httpStatusCode: status, attempts } });

/** A client that records every command and answers PutObject with `put` (an error to throw, or success). */
function fakeClient(put?: unknown) {
  const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
  const client = {
    async send(cmd: { constructor: { name: string }; input: Record<string, unknown> }) {
      sent.push({ name: cmd.constructor.name, input: cmd.input });
      if (cmd instanceof PutObjectCommand && put) throw put;
      if (cmd instanceof GetObjectCommand) return { Body: { transformToByteArray: async () => new Uint8Array() } };
      return {};
    },
  } as unknown as S3Client;
  return { client, sent };
}

const bounds = { maxAttempts: 3, partSizeBytes: 5 * 1024 * 1024, queueSize: 1, timeoutMs: 5000, requestTimeoutMs: 5000 };
const store = (client: S3Client) => new S3Store(client, parseDest("s3://replica/dr"), bounds);

describe("makeS3Client: one factory, the side's own flags in its usage errors", () => {
  const replica = { endpoint: "--to-endpoint", region: "--to-region", endpointEnv: ENV.replicaEndpoint };
  test("region auto without an endpoint names that side's flags and variable", () => {
    expect(() => makeS3Client({ ...bounds, region: "auto" })).toThrow(new UsageError("--region auto is for R2 and needs --endpoint https://ACCOUNT.r2.cloudflarestorage.com (LIFEBOAT_S3_ENDPOINT)"));
    expect(() => makeS3Client({ ...bounds, region: "auto" }, replica)).toThrow(
      new UsageError(`--to-region auto is for R2 and needs --to-endpoint https://ACCOUNT.r2.cloudflarestorage.com (${ENV.replicaEndpoint})`),
    );
    expect(() => makeS3Client({ ...bounds, region: "auto" }, { endpoint: "--bucket-endpoint", region: "--bucket-region" })).toThrow(
      new UsageError("--bucket-region auto is for R2 and needs --bucket-endpoint https://ACCOUNT.r2.cloudflarestorage.com"),
    );
  });

  test("an endpoint that is not an http(s) URL names the side's endpoint flag", () => {
    expect(() => makeS3Client({ ...bounds, endpoint: "ftp://x" }, DEST_FLAGS)).toThrow(new UsageError('--endpoint: must be an http(s) URL, got "ftp://x"'));
    expect(() => makeS3Client({ ...bounds, endpoint: "nope" }, replica)).toThrow(new UsageError('--to-endpoint: must be an http(s) URL, got "nope"'));
  });
});

describe("envIdentity: a side's own keys from its variables", () => {
  const vars = [ENV.replicaAccessKeyId, ENV.replicaSecretAccessKey, ENV.replicaSessionToken];
  const saved = vars.map((v) => process.env[v]);
  const set = (values: Array<string | undefined>) => vars.forEach((v, i) => (values[i] === undefined ? delete process.env[v] : (process.env[v] = values[i])));
  afterEach(() => set(saved));

  test("both or neither; the session token rides along; neither is the default chain", () => {
    set(["AKIA1", "s3cret", "tok"]);
    expect(envIdentity(vars[0], vars[1], vars[2])).toEqual({ accessKeyId: "AKIA1", secretAccessKey: "s3cret", sessionToken: "tok" });
    set(["AKIA1", "s3cret", undefined]);
    expect(envIdentity(vars[0], vars[1], vars[2])).toEqual({ accessKeyId: "AKIA1", secretAccessKey: "s3cret" });
    set([undefined, undefined, "tok"]);
    expect(envIdentity(vars[0], vars[1], vars[2])).toBeUndefined();
    set(["AKIA1", undefined, undefined]);
    expect(() => envIdentity(vars[0], vars[1], vars[2])).toThrow(new UsageError(`${vars[0]} and ${vars[1]} go together: set both or neither`));
  });
});

describe("replicate's replica side comes from the one factory: usage errors before anything is touched", () => {
  const opts = (o: Partial<ReplicateOpts>): ReplicateOpts => ({
    all: true,
    dest: "s3://primary/prod",
    endpoint: "http://127.0.0.1:9",
    to: "s3://replica/dr",
    maxLag: "1h",
    copy: true,
    partSize: "5",
    concurrency: "1",
    maxAttempts: "1",
    timeout: "1",
    requestTimeout: "1",
    ...o,
  });
  const log = pino({ level: "silent" });
  test.each([
    ["a --to-endpoint that is not a URL", { toEndpoint: "replica.example" }, /^--to-endpoint: must be an http\(s\) URL, got "replica.example"$/],
    ["--to-region auto without --to-endpoint", { toRegion: "auto" }, /^--to-region auto is for R2 and needs --to-endpoint .*LIFEBOAT_REPLICA_S3_ENDPOINT/],
    ["a bad --part-size (parsed once for both sides)", { partSize: "1" }, /^--part-size: must be a whole number from 5 to 5120/],
  ])("%s", async (_what, o, msg) => {
    const e = await replicateCommand(opts(o), log).catch((x) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toMatch(msg);
  });

  test("s3Bounds parses the request flags once, with the deadline", () => {
    const ac = new AbortController();
    expect(s3Bounds(opts({ partSize: "8", timeout: "30" }), ac.signal)).toEqual({ maxAttempts: 1, partSizeBytes: 8 << 20, queueSize: 1, timeoutMs: 30_000, requestTimeoutMs: 1000, signal: ac.signal });
  });
});

describe("the one checked put", () => {
  const params = { Bucket: "b", Key: "k", ContentType: "application/octet-stream" };
  test("with the manifest's sha256: x-amz-checksum-sha256 of it instead of Content-MD5", async () => {
    const f = fakeClient();
    const sha = "ab".repeat(32);
    await putCreateOnly(f.client, params, Buffer.from("x"), { sha256: sha });
    expect(f.sent[0].input).toMatchObject({ ChecksumSHA256: Buffer.from(sha, "hex").toString("base64"), IfNoneMatch: "*" });
    expect(f.sent[0].input.ContentMD5).toBeUndefined();
    const g = fakeClient();
    await putCreateOnly(g.client, params, Buffer.from("x"));
    expect(g.sent[0].input).toMatchObject({ ContentMD5: createHash("md5").update("x").digest("base64") });
    expect(g.sent[0].input.ChecksumSHA256).toBeUndefined();
  });

  test("putSmall with readBack false: a 412 is a taken key by its status; never read back", async () => {
    const f = fakeClient(err(412, 2, "PreconditionFailed"));
    const e = await store(f.client).putSmall("dr/a.manifest.json", "{}", { readBack: false }).catch((x) => x);
    expect(e).toBeInstanceOf(S3Error);
    expect(e.status).toBe(412);
    expect(keyTaken(e)).toBe(true);
    expect(f.sent.map((s) => s.name)).toEqual(["PutObjectCommand"]);
  });

  test("another failure is not a taken key, whatever its words say", async () => {
    const denied = await store(fakeClient(err(403, 1, "AccessDenied")).client).putSmall("dr/a", "{}", { readBack: false }).catch((x) => x);
    expect(denied).toBeInstanceOf(S3Error);
    expect(keyTaken(denied)).toBe(false);
    // The words of a 412 without its status (a message regex would have taken it).
    const words = await store(fakeClient(Object.assign(new Error("PreconditionFailed (HTTP 412)"), { $metadata: { httpStatusCode: 500 } })).client)
      .putSmall("dr/a", "{}", { readBack: false })
      .catch((x) => x);
    expect(keyTaken(words)).toBe(false);
    expect(keyTaken(new RunError("put of s3://replica/dr/a failed: (PreconditionFailed, HTTP 412)"))).toBe(false);
  });

  test("putStream of a short stream honours readBack false: a retried 412 is the caller's, nothing is read", async () => {
    const f = fakeClient(err(412, 2));
    const e = await store(f.client).putStream("dr/b", Readable.from([Buffer.from("small")]), { readBack: false }).catch((x) => x);
    expect(keyTaken(e)).toBe(true);
    expect(f.sent.map((s) => s.name)).toEqual(["PutObjectCommand"]);
  });
});
