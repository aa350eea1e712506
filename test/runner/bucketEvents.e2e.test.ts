/**
 * bucket-events against a FAKE of the Cloudflare Queues HTTP pull API (the documented
 * `POST /accounts/{account_id}/queues/{queue_id}/messages/pull` and `/messages/ack`, with
 * R2 event notification bodies as documented): no Cloudflare here. The app and backup buckets
 * are on the strict S3 stand-in. Created objects are copied and journalled, deletes journalled,
 * and a restore of the latest state lays the journal over the last snapshot.
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer, Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, bucketEventsArgs, restoreArgs } from "lifeboat-core";
import { startS3, S3Server } from "../support/s3";
import { ageKey, AgeKey, requireBuiltRunner, runner, RUNNER_BIN } from "../support/runner";
import { bucketState, putObject } from "../support/bucket";
import { freePort, waitFor } from "../support/ports";

jest.setTimeout(120_000);

const APP = "app-events";
const BACKUPS = "lifeboat-ev";
let s3: S3Server;
let key: AgeKey;
let work: string;

const env = () => ({ ...s3.env, LIFEBOAT_BUCKET_ACCESS_KEY_ID: "S3RVER", LIFEBOAT_BUCKET_SECRET_ACCESS_KEY: "S3RVER" });
const dest = () => ({ dest: `s3://${BACKUPS}/prod`, endpoint: s3.endpoint, region: "us-east-1", stateFile: join(work, "state.json") });

/** The fake queue: hands out its messages once each (with lease ids), records pulls, acks and retries and the token it was sent. */
function fakeQueue(messages: unknown[]) {
  const pending = messages.map((body, i) => ({ body: JSON.stringify(body), id: `m${i}`, lease_id: `lease-${i}`, attempts: 1, timestamp_ms: Date.now() }));
  const seen = { pulls: 0, acked: [] as string[], retried: [] as string[], auth: new Set<string>(), paths: new Set<string>() };
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.auth.add(String(req.headers.authorization));
      seen.paths.add(`${req.method} ${req.url}`);
      const json = body ? JSON.parse(body) : {};
      res.setHeader("content-type", "application/json");
      if (req.url === "/client/v4/accounts/acct1/queues/q1/messages/pull") {
        seen.pulls++;
        const batch = pending.splice(0, json.batch_size ?? 10);
        res.end(JSON.stringify({ success: true, errors: [], messages: [], result: { messages: batch } }));
      } else if (req.url === "/client/v4/accounts/acct1/queues/q1/messages/ack") {
        for (const a of json.acks ?? []) seen.acked.push(a.lease_id);
        for (const r of json.retries ?? []) seen.retried.push(r.lease_id);
        res.end(JSON.stringify({ success: true, errors: [], messages: [], result: { ackCount: json.acks?.length ?? 0, retryCount: json.retries?.length ?? 0 } }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ success: false, errors: [{ code: 7003, message: "No route for that URI" }] }));
      }
    });
  });
  return { server, seen };
}

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-bucket-ev-"));
  key = ageKey(work);
  s3 = await startS3();
  await s3.createBucket(APP, { objectLock: false });
  await s3.createBucket(BACKUPS);
  await s3.createBucket("ev-restore", { objectLock: false });
});

afterAll(async () => {
  await s3?.stop();
});

test("bucket-events copies created objects and journals deletes; restore lays the journal over the snapshot", async () => {
  await putObject(s3.client, APP, "up/a.txt", "a first", "text/plain");
  await putObject(s3.client, APP, "up/b.png", Buffer.alloc(3000, 2), "image/png", { who: "bot" });
  const snap = await runner(backupArgs({ source: "bucket", name: "uploads", bucketUrl: `s3://${APP}/up`, bucketEndpoint: s3.endpoint, recipients: [key.recipient], ...dest() }), env());
  expect(snap.code).toBe(0);
  await new Promise((r) => setTimeout(r, 20));

  // After the snapshot: c is created, a deleted, b overwritten; R2 sends one event each.
  await putObject(s3.client, APP, "up/c.pdf", "a new contract", "application/pdf", { customer: "acme" });
  await s3.remove(APP, "up/a.txt");
  await putObject(s3.client, APP, "up/b.png", Buffer.alloc(2000, 5), "image/png", { who: "human" });
  const ev = (action: string, k: string, extra = {}) => ({ account: "acct1", action, bucket: APP, object: { key: k, ...extra }, eventTime: new Date().toISOString() });
  const q = fakeQueue([
    ev("PutObject", "up/c.pdf", { size: 14, eTag: "x" }),
    ev("DeleteObject", "up/a.txt"),
    ev("CompleteMultipartUpload", "up/b.png", { size: 2000, eTag: "y" }),
    ev("PutObject", "elsewhere/z.txt", { size: 1 }),
    { ...ev("PutObject", "up/other-bucket.txt"), bucket: "someone-else" },
    "not an event",
  ]);
  const port = await freePort();
  await new Promise<void>((r) => q.server.listen(port, "127.0.0.1", r));
  try {
    const args = bucketEventsArgs({ name: "uploads", bucketUrl: `s3://${APP}/up`, bucketEndpoint: s3.endpoint, queue: "acct1/q1", cloudflareApi: `http://127.0.0.1:${port}/client/v4`, ...dest() });
    const child = spawn(process.execPath, [RUNNER_BIN, ...args, "--recipient", key.recipient, "--poll-interval", "1"], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env(), LIFEBOAT_QUEUE_TOKEN: "cf-token-123" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (out += b));
    const exited = new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    await waitFor(`all six messages acked (${out.slice(-2000)})`, async () => q.seen.acked.length === 6, 60_000);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).not.toContain("cf-token-123");
  } finally {
    await new Promise((r) => q.server.close(r));
  }
  expect(q.seen.retried).toEqual([]);
  expect([...q.seen.auth]).toEqual(["Bearer cf-token-123"]);
  const journal = await s3.keys(BACKUPS, "prod/uploads/journal/");
  expect(journal).toHaveLength(3);
  const records = await Promise.all(journal.map(async (k) => JSON.parse((await s3.get(BACKUPS, k)).toString())));
  expect(records.map((r) => [r.op, r.key]).sort()).toEqual([["delete", "a.txt"], ["put", "b.png"], ["put", "c.pdf"]]);

  // Restore as of now: the snapshot with the journal laid over it is the bucket as it is.
  const r = await runner([...restoreArgs({ name: "uploads", identity: key.file, ...dest() }), "--source", "bucket", "--to", "s3://ev-restore/x", "--to-endpoint", s3.endpoint], env());
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/and 3 later event\(s\)/);
  expect(await bucketState(s3.client, "ev-restore", "x/")).toEqual(await bucketState(s3.client, APP, "up/"));
  expect(s3.violations).toEqual([]);
});

test("bucket-events refuses bad input naming the flag", async () => {
  const base = { name: "uploads", bucketUrl: `s3://${APP}/up`, ...dest() };
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [bucketEventsArgs({ ...base, queue: "just-one-part" }), { ...env(), LIFEBOAT_QUEUE_TOKEN: "t" }, /--queue \(LIFEBOAT_QUEUE\): must be ACCOUNT_ID\/QUEUE_ID/],
    [bucketEventsArgs({ ...base, queue: "a/b" }), env(), /LIFEBOAT_QUEUE_TOKEN is required/],
  ];
  for (const [args, e, msg] of cases) {
    const r = await runner([...args, "--recipient", key.recipient], e);
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 2, err: expect.stringMatching(msg) });
  }
});
