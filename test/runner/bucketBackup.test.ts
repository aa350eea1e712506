/**
 * bucketBackup (runner/src/bucket/backup.ts) against a scripted app bucket (a stand-in S3 client
 * answering ListObjectsV2 and GetObject) and a local backup store: what s3rver cannot be made to
 * do on cue. An object deleted between list and get is skipped and named; an unreadable one fails
 * the run naming it and leaves no snapshot; copies older than the window are made again.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import pino from "pino";
import { S3Client } from "@aws-sdk/client-s3";
import { LocalStore } from "../../runner/src/store";
import { bucketBackup, BucketBackupParams } from "../../runner/src/bucket/backup";
import { listSnapshots, readSnapshot } from "../../runner/src/bucket/store";
import { ageKey } from "../support/runner";

type Obj = { body: string; etag?: string };

/** A client whose bucket is `objects`; `onGet` may answer a GET differently (gone, forbidden). */
function scripted(objects: Map<string, Obj>, onGet: (key: string) => "ok" | 404 | 403 = () => "ok"): S3Client {
  const err = (status: number, name: string) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  return {
    async send(cmd: { constructor: { name: string }; input: { Key?: string; Prefix?: string } }) {
      if (cmd.constructor.name === "ListObjectsV2Command") {
        const keys = [...objects.keys()].filter((k) => k.startsWith(cmd.input.Prefix ?? "")).sort();
        return { Contents: keys.map((k) => ({ Key: k, Size: objects.get(k)!.body.length, ETag: `"${objects.get(k)!.etag ?? createHash("md5").update(objects.get(k)!.body).digest("hex")}"`, LastModified: new Date() })), IsTruncated: false };
      }
      const key = cmd.input.Key!;
      const how = onGet(key);
      if (how === 404 || !objects.has(key)) throw err(404, "NoSuchKey");
      if (how === 403) throw err(403, "AccessDenied");
      const o = objects.get(key)!;
      return { Body: Readable.from([Buffer.from(o.body)]), ContentLength: o.body.length, ETag: `"${createHash("md5").update(o.body).digest("hex")}"`, ContentType: "text/plain", Metadata: { k: "v" }, LastModified: new Date() };
    },
  } as unknown as S3Client;
}

const key = ageKey();
const log = pino({ level: "silent" });

function params(store: LocalStore, client: S3Client, warnings: string[], started = new Date()): BucketBackupParams {
  return {
    name: "media",
    store,
    app: { client, dest: { bucket: "app", prefix: "m" }, url: "s3://app/m" },
    recipients: [key.recipient],
    windowSeconds: 30 * 86400,
    concurrency: 4,
    tools: {},
    started,
    log,
    warn: (t) => warnings.push(t),
  };
}

test("an object gone between list and get is skipped and named, not a failure", async () => {
  const store = new LocalStore(mkdtempSync(join(tmpdir(), "lifeboat-bb-")));
  const objects = new Map<string, Obj>([["m/a", { body: "A" }], ["m/b", { body: "B" }], ["m/c", { body: "C" }]]);
  const warnings: string[] = [];
  const r = await bucketBackup(params(store, scripted(objects, (k) => (k === "m/b" ? 404 : "ok")), warnings));
  expect(r.summary).toMatchObject({ objects: 2, copied: 2, vanished: ["b"] });
  expect(warnings.join("\n")).toContain("s3://app/m/b was listed but gone when read");
  const keys: string[] = [];
  await readSnapshot(store, r.key, (e) => {
    keys.push(e.key);
  });
  expect(keys).toEqual(["a", "c"]);
});

test("an unreadable object fails the run naming it, and no snapshot exists", async () => {
  const store = new LocalStore(mkdtempSync(join(tmpdir(), "lifeboat-bb-")));
  const objects = new Map<string, Obj>(Array.from({ length: 30 }, (_, i) => [`m/${String(i).padStart(2, "0")}`, { body: `body ${i}` }]));
  await expect(bucketBackup(params(store, scripted(objects, (k) => (k === "m/17" ? 403 : "ok")), []))).rejects.toThrow(/reading s3:\/\/app\/m\/17 failed: AccessDenied \(HTTP 403\)/);
  expect(await listSnapshots(store, "media")).toEqual([]);
});

test("copies older than the window are made again; younger ones are reused", async () => {
  const store = new LocalStore(mkdtempSync(join(tmpdir(), "lifeboat-bb-")));
  const objects = new Map<string, Obj>([["m/a", { body: "A" }], ["m/b", { body: "B" }]]);
  const first = await bucketBackup(params(store, scripted(objects), []));
  expect(first.summary).toMatchObject({ copied: 2, new: 2 });
  const soon = await bucketBackup(params(store, scripted(objects), [], new Date(Date.now() + 29 * 86_400_000)));
  expect(soon.summary).toMatchObject({ copied: 0, reused: 2 });
  const late = await bucketBackup(params(store, scripted(objects), [], new Date(Date.now() + 31 * 86_400_000)));
  expect(late.summary).toMatchObject({ copied: 2, stale: 2, reused: 0 });
});
