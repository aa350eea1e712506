/**
 * The runner against S3 as AWS really behaves (the strict layer of test/support/s3.ts in front
 * of s3rver): checksums on a lock-enabled bucket, per-object lock headers per tier, create-only
 * puts whose answer is lost, and endpoints that stall.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { BackupSpec, backupArgs, listArgs, replicateArgs, restoreArgs, scheduleArgs, verifyArgs } from "lifeboat-core";
import { startS3, S3Server, S3_ENV } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, ExecResult, requireBuiltRunner, runner, RUNNER_BIN } from "../support/runner";
import { waitFor } from "../support/ports";

jest.setTimeout(240_000);

const BUCKET = "lifeboat-strict";
const REPLICA = "lifeboat-strict-replica";
const PLAIN = "lifeboat-no-lock";
const DEST = `s3://${BUCKET}/prod`;
const DAY = 86_400_000;

let s3: S3Server;
let hook: Hook;
let key: AgeKey;
let work: string;
let big: string;
let small: string;

const env = () => ({ ...s3.env });
const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "us-east-1", stateFile: join(work, "state.json"), workDir: work });

function backup(spec: Partial<BackupSpec> & Pick<BackupSpec, "name">, extra: NodeJS.ProcessEnv = {}) {
  return runner(backupArgs({ source: "directory", path: small, recipients: [key.recipient], ...dest(), json: true, ...spec }), { ...env(), ...extra });
}

/** Runs the runner, killing it after `ms` (a run that hangs shows as `code: null`, not as a hung test). */
function runBounded(args: string[], extra: NodeJS.ProcessEnv, ms: number): Promise<ExecResult & { seconds: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUNNER_BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env(), ...extra } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    const kill = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("close", (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

/** Bytes that zstd cannot shrink: the upload is as large as the source. */
function noise(n: number): Buffer {
  const out = Buffer.alloc(n);
  let h = createHash("sha256").update("seed").digest();
  for (let off = 0; off < n; off += h.length) {
    h = createHash("sha256").update(h).digest();
    h.copy(out, off);
  }
  return out;
}

const alerts = () => hook.received.map((r) => r.body);

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-strict-e2e-"));
  [s3, hook] = await Promise.all([startS3(), startWebhook()]);
  await s3.createBucket(BUCKET);
  await s3.createBucket(REPLICA);
  await s3.createBucket(PLAIN, { objectLock: false });
  key = ageKey(work);
  big = join(work, "big");
  mkdirSync(big);
  writeFileSync(join(big, "media.bin"), noise(12 * 1024 * 1024));
  small = join(work, "small");
  mkdirSync(small);
  writeFileSync(join(small, "note.txt"), "small backup\n");
});

afterEach(() => {
  s3.setFault({ kind: "none" });
  s3.setWriteOnly(false);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), hook?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A plain SDK client through the proxy: no checksum unless the test gives one, no retries. */
const rigClient = (endpoint: string) =>
  new S3Client({
    endpoint,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: S3_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: S3_ENV.AWS_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });

describe("the strict layer refuses what AWS refuses", () => {
  let c: S3Client;
  beforeAll(() => {
    c = rigClient(s3.endpoint);
  });
  afterAll(() => c.destroy());
  const md5 = (b: Buffer) => createHash("md5").update(b).digest("base64");
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => ({ status: 200, name: "ok", message: "" }),
      (e) => ({ status: e.$metadata?.httpStatusCode, name: e.name, message: e.message }),
    );

  test("a put without Content-MD5 or x-amz-checksum-* to a lock-enabled bucket: 400 InvalidRequest, as AWS answers; without lock it goes through", async () => {
    const n = s3.violations.length;
    const body = Buffer.from("x");
    expect(await failure(c.send(new PutObjectCommand({ Bucket: BUCKET, Key: "rig/a", Body: body })))).toEqual({
      status: 400,
      name: "InvalidRequest",
      message: "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
    });
    expect(s3.violations.slice(n).map((v) => v.code)).toEqual(["InvalidRequest"]);
    expect((await failure(c.send(new PutObjectCommand({ Bucket: PLAIN, Key: "rig/a", Body: body })))).status).toBe(200);
    expect((await failure(c.send(new PutObjectCommand({ Bucket: BUCKET, Key: "rig/a", Body: body, ContentMD5: md5(body) })))).status).toBe(200);
    const sha = createHash("sha256").update(body).digest("base64");
    expect((await failure(c.send(new PutObjectCommand({ Bucket: BUCKET, Key: "rig/b", Body: body, ChecksumSHA256: sha })))).status).toBe(200);
  });

  test("a checksum that does not match the body: 400 BadDigest", async () => {
    const r = await failure(c.send(new PutObjectCommand({ Bucket: BUCKET, Key: "rig/c", Body: Buffer.from("y"), ContentMD5: md5(Buffer.from("z")) })));
    expect([r.status, r.name]).toEqual([400, "BadDigest"]);
    const s = await failure(c.send(new PutObjectCommand({ Bucket: BUCKET, Key: "rig/c", Body: Buffer.from("y"), ChecksumSHA256: createHash("sha256").update("z").digest("base64") })));
    expect([s.status, s.name]).toEqual([400, "BadDigest"]);
  });

  test("If-None-Match: * on an existing key: 412; lock headers are recorded per key", async () => {
    const body = Buffer.from("once");
    const until = new Date("2030-01-01T00:00:00Z");
    const put = () =>
      failure(c.send(new PutObjectCommand({ Bucket: BUCKET, Key: "rig/once", Body: body, ContentMD5: md5(body), IfNoneMatch: "*", ObjectLockMode: "GOVERNANCE", ObjectLockRetainUntilDate: until })));
    expect((await put()).status).toBe(200);
    expect((await put()).status).toBe(412);
    const lock = s3.locks.get(`${BUCKET}/rig/once`)!;
    expect([lock.mode, new Date(lock.retainUntil).toISOString()]).toEqual(["GOVERNANCE", until.toISOString()]);
  });

  test("a delimiter listing names each folder once however deep its keys (s3rver alone drops the deep ones), a page of max-keys at a time", async () => {
    for (const k of ["dl/a/daily/1", "dl/a/daily/2", "dl/b/x", "dl/c", "dl/d/e/f/g"]) await s3.put(BUCKET, k, Buffer.from(k));
    const level = async (client: S3Client, MaxKeys?: number) => {
      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "dl/", Delimiter: "/", ContinuationToken: token, MaxKeys }));
        pages.push([...(r.Contents ?? []).map((o) => o.Key!), ...(r.CommonPrefixes ?? []).map((p) => p.Prefix!)]);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return pages;
    };
    expect(await level(c)).toEqual([["dl/c", "dl/a/", "dl/b/", "dl/d/"]]);
    expect(await level(c, 2)).toEqual([["dl/a/", "dl/b/"], ["dl/c", "dl/d/"]]);
    const direct = rigClient(s3.directEndpoint);
    try {
      expect(await level(direct)).toEqual([["dl/c", "dl/b/"]]);
    } finally {
      direct.destroy();
    }
  });

  test("a part without a checksum is refused; R2 mode refuses unequal parts and lock headers", async () => {
    const up = await c.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "rig/mp" }));
    const part = await failure(c.send(new UploadPartCommand({ Bucket: BUCKET, Key: "rig/mp", UploadId: up.UploadId, PartNumber: 1, Body: Buffer.alloc(10) })));
    expect(part).toMatchObject({ status: 400, message: "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Part requests with Object Lock parameters" });

    const r2 = await startS3({ r2: true });
    const rc = rigClient(r2.endpoint);
    try {
      await r2.createBucket("r2-rig");
      const id = (await rc.send(new CreateMultipartUploadCommand({ Bucket: "r2-rig", Key: "mp" }))).UploadId;
      const sizes = [6 * 1024 * 1024, 5 * 1024 * 1024, 1024];
      const parts = [];
      for (const [i, n] of sizes.entries()) {
        const b = Buffer.alloc(n, i);
        const r = await rc.send(new UploadPartCommand({ Bucket: "r2-rig", Key: "mp", UploadId: id, PartNumber: i + 1, Body: b, ContentMD5: md5(b) }));
        parts.push({ PartNumber: i + 1, ETag: r.ETag });
      }
      const done = await failure(rc.send(new CompleteMultipartUploadCommand({ Bucket: "r2-rig", Key: "mp", UploadId: id, MultipartUpload: { Parts: parts } })));
      expect([done.status, done.name]).toEqual([400, "InvalidPart"]);
      const one = Buffer.from("x");
      const locked = await failure(rc.send(new PutObjectCommand({ Bucket: "r2-rig", Key: "l", Body: one, ContentMD5: md5(one), ObjectLockMode: "GOVERNANCE", ObjectLockRetainUntilDate: new Date("2030-01-01") })));
      expect(locked.status).toBe(501);

      // The runner's own multipart upload in R2 mode: equal parts, no violation.
      const n = r2.violations.length;
      await r2.createBucket("r2-backups");
      const b = await runner(
        backupArgs({ source: "directory", name: "media", path: big, recipients: [key.recipient], dest: "s3://r2-backups/prod", endpoint: r2.endpoint, region: "auto", partSizeMiB: 5, json: true }),
        { ...r2.env },
      );
      expect(describeRun(b)).toMatch(/^exit 0/);
      expect(r2.requests.filter((q) => q.method === "PUT" && q.url.includes("partNumber=")).length).toBeGreaterThanOrEqual(3);
      expect(r2.violations.slice(n)).toEqual([]);
    } finally {
      rc.destroy();
      await r2.stop();
    }
  });
});

describe("every write the runner makes passes on a lock-enabled bucket", () => {
  test("multipart and single-put backups, manifests, verification records and replication: no violation", async () => {
    const n = s3.violations.length;
    const b1 = await backup({ name: "media", path: big, partSizeMiB: 5 });
    expect(describeRun(b1)).toMatch(/^exit 0/);
    const m1 = JSON.parse(b1.stdout).manifest;
    expect(m1.storedBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(s3.requests.filter((q) => q.method === "PUT" && q.url.includes("partNumber=")).length).toBeGreaterThanOrEqual(3);
    const b2 = await backup({ name: "notes" });
    expect(describeRun(b2)).toMatch(/^exit 0/);

    for (const name of ["media", "notes"]) {
      const v = await runner(verifyArgs({ name, identity: key.file, ...dest(), json: true }), env());
      expect(describeRun(v)).toMatch(/^exit 0/);
    }
    expect((await s3.keys(BUCKET, "prod/_verifications/")).length).toBe(2);

    const rep = await runner(replicateArgs({ all: true, to: `s3://${REPLICA}/prod`, toEndpoint: s3.endpoint, toRegion: "us-east-1", partSizeMiB: 5, ...dest(), json: true }), env());
    expect(describeRun(rep)).toMatch(/^exit 0/);
    expect(JSON.parse(rep.stdout).copied).toBe(2);
    expect((await s3.keys(REPLICA)).length).toBe(6);

    expect(s3.violations.slice(n)).toEqual([]);
  });

  test("each object and its manifest are locked until its tier expires: daily, weekly, monthly and yearly runs", async () => {
    const n = s3.violations.length;
    const retention = "daily=30d,weekly=12w,monthly=12m,yearly=7y";
    const runs = [
      ["2027-03-03T03:00:00.000Z", "daily", 30],
      ["2027-03-07T03:00:00.000Z", "weekly", 84],
      ["2027-03-01T03:00:00.000Z", "monthly", 372],
      ["2027-01-01T03:00:00.000Z", "yearly", 2562],
    ] as const;
    for (const [now, tier, days] of runs) {
      const r = await backup({ name: "locked", retention, lockMode: "compliance", path: tier === "monthly" ? big : small, partSizeMiB: 5 }, { LIFEBOAT_NOW: now });
      expect(describeRun(r)).toMatch(/^exit 0/);
      const m = JSON.parse(r.stdout).manifest;
      expect(m.tier).toBe(tier);
      const want = { mode: "COMPLIANCE", retainUntil: new Date(Date.parse(now) + days * DAY).toISOString() };
      for (const k of [m.key, `${m.key}.manifest.json`]) {
        const got = s3.locks.get(`${BUCKET}/${k}`);
        expect({ key: k, mode: got?.mode, retainUntil: got && new Date(got.retainUntil).toISOString() }).toEqual({ key: k, ...want });
      }
    }
    expect(s3.violations.slice(n)).toEqual([]);
  });

  test("without --retention no lock header is sent (the bucket default applies; R2 has none); R2 and local mode refuse the flags", async () => {
    const r = await backup({ name: "unlocked" });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const k = JSON.parse(r.stdout).manifest.key;
    expect(s3.locks.has(`${BUCKET}/${k}`)).toBe(false);
    const r2 = await backup({ name: "unlocked", region: "auto", retention: "daily=30d,weekly=12w,monthly=12m,yearly=7y", lockMode: "governance" });
    expect(describeRun(r2)).toMatch(/^exit 2/);
    expect(r2.stderr).toMatch(/--retention\/--lock-mode: R2 \(--region auto\) has no per-object lock/);
    const half = await backup({ name: "unlocked", retention: "daily=30d,weekly=12w,monthly=12m,yearly=7y" });
    expect(describeRun(half)).toMatch(/^exit 2/);
    expect(half.stderr).toMatch(/--retention needs --lock-mode/);
    const local = await backup({ name: "unlocked", dest: undefined, noUpload: true, localDir: join(work, "local"), retention: "daily=30d,weekly=12w,monthly=12m,yearly=7y", lockMode: "governance" });
    expect(describeRun(local)).toMatch(/^exit 2/);
    expect(local.stderr).toMatch(/--retention\/--lock-mode set S3 Object Lock on each object: not with --local-dir/);
  });
});

describe("a manifest put whose answer is lost", () => {
  test("the retry's 412 finds the manifest this run wrote: the run succeeds", async () => {
    s3.setFault({ kind: "lose-answer", path: /\.manifest\.json(\?|$)/, times: 1 });
    const r = await backup({ name: "lost-answer" });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const m = JSON.parse(r.stdout).manifest;
    expect(r.stderr).toMatch(/the answer to its put was lost and the retry found it already written/);
    const puts = s3.requests.filter((q) => q.method === "PUT" && decodeURIComponent(q.url).includes(`${m.key}.manifest.json`));
    expect(puts.length).toBe(2);
    expect(JSON.parse((await s3.get(BUCKET, `${m.key}.manifest.json`)).toString("utf8"))).toEqual(m);
    const list = JSON.parse((await runner(listArgs({ name: "lost-answer", ...dest(), json: true }), env())).stdout);
    expect(list.backups.map((b: { key: string }) => b.key)).toEqual([m.key]);
  });

  test("the same for a backup object small enough for one PutObject", async () => {
    s3.setFault({ kind: "lose-answer", path: /\.tar\.zst\.age(\?|$)/, times: 1 });
    const r = await backup({ name: "lost-object-answer" });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const m = JSON.parse(r.stdout).manifest;
    expect(r.stderr).toContain(`s3://${BUCKET}/${m.key}: the answer to its put was lost and the retry found it already written`);
    expect(createHash("sha256").update(await s3.get(BUCKET, m.key)).digest("hex")).toBe(m.sha256);
  });

  test("a write-only identity (S3's backup writer, no Get) cannot compare: the retried put's 412 counts as its own earlier attempt, said in a warning", async () => {
    s3.setFault({ kind: "lose-answer", path: /\.manifest\.json(\?|$)/, times: 1 });
    s3.setWriteOnly(true);
    const r = await backup({ name: "lost-write-only" });
    s3.setWriteOnly(false);
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(r.stderr).toMatch(/this identity may not read it to compare, and only this run's earlier attempt can have written this random key/);
    const m = JSON.parse(r.stdout).manifest;
    expect(JSON.parse((await s3.get(BUCKET, `${m.key}.manifest.json`)).toString("utf8"))).toEqual(m);
  });

  test("a different object at the key still fails the run (exit 1, alerted)", async () => {
    s3.setFault({ kind: "lose-answer", path: /\.manifest\.json(\?|$)/, times: 1, replaceWith: Buffer.from('{"not":"ours"}\n') });
    const seen = hook.received.length;
    const r = await backup({ name: "lost-other", alertWebhook: hook.url });
    expect(describeRun(r)).toMatch(/^exit 1/);
    expect(r.stderr).toMatch(/a different object is already at this key \(HTTP 412/);
    expect(alerts().slice(seen).join("\n")).toMatch(/backup of lost-other \(directory\).*FAILED: .*a different object is already at this key/);
  });
});

describe("a stalled endpoint ends the run within its bound, alerted", () => {
  const bounded = (spec: Partial<BackupSpec>, ms = 60_000) =>
    runBounded(backupArgs({ source: "directory", name: "stalled", path: small, recipients: [key.recipient], ...dest(), alertWebhook: hook.url, json: true, ...spec }), {}, ms);

  test("no answer at all: --timeout (idle) ends each attempt", async () => {
    s3.setFault({ kind: "stall" });
    const seen = hook.received.length;
    const r = await bounded({ timeoutSeconds: 2, maxAttempts: 2, runTimeout: "5m" });
    expect(describeRun(r)).toMatch(/^exit 1/);
    expect(r.seconds).toBeLessThan(20);
    expect(r.stderr).toMatch(/after 2 attempt\(s\): .*timed out after 2000 ms of inactivity/);
    expect(alerts().slice(seen).join("\n")).toMatch(/backup of stalled \(directory\).*FAILED/);
  });

  test("no answer at all: --request-timeout (total per attempt) ends it even when the idle bound is long", async () => {
    s3.setFault({ kind: "stall" });
    const r = await bounded({ timeoutSeconds: 600, requestTimeoutSeconds: 3, maxAttempts: 1, runTimeout: "5m" });
    expect(describeRun(r)).toMatch(/^exit 1/);
    expect(r.seconds).toBeLessThan(15);
    expect(r.stderr).toMatch(/exceeded the configured 3000 ms requestTimeout/);
  });

  test("no answer at all: --run-timeout ends the whole run when the per-request bounds are long", async () => {
    s3.setFault({ kind: "stall" });
    const seen = hook.received.length;
    const r = await bounded({ timeoutSeconds: 600, runTimeout: "4s" });
    expect(describeRun(r)).toMatch(/^exit 1/);
    expect(r.seconds).toBeLessThan(15);
    expect(r.stderr).toMatch(/the run did not finish within --run-timeout 4s/);
    expect(alerts().slice(seen).join("\n")).toMatch(/FAILED: .*--run-timeout 4s/);
  });

  test("a stall mid-upload past --run-timeout: the multipart abort gets its own short bound, so the failure and its alert come promptly", async () => {
    // Parts, the abort (DELETE ?uploadId=) and completion all stall; CreateMultipartUpload does not.
    s3.setFault({ kind: "stall", path: /uploadId=/ });
    const seen = hook.received.length;
    const r = await bounded({ path: big, partSizeMiB: 5, timeoutSeconds: 600, runTimeout: "4s" }, 90_000);
    expect(describeRun(r)).toMatch(/^exit 1/);
    expect(r.seconds).toBeLessThan(45);
    expect(r.stderr).toMatch(/--run-timeout 4s/);
    expect(r.stderr).toMatch(/could not abort multipart upload/);
    expect(alerts().slice(seen).join("\n")).toMatch(/backup of stalled \(directory\).*FAILED/);
  });

  test("headers answered, then the body stalls: --timeout ends it", async () => {
    s3.setFault({ kind: "stall-body" });
    const r = await bounded({ timeoutSeconds: 2, maxAttempts: 1, path: big, partSizeMiB: 5 });
    expect(describeRun(r)).toMatch(/^exit 1/);
    expect(r.seconds).toBeLessThan(20);
    expect(r.stderr).toMatch(/timed out after 2000 ms of inactivity/);
  });

  test("restore: the download's body stalls after its headers; the run fails within --timeout, alerted", async () => {
    const b = await backup({ name: "to-restore", path: big, partSizeMiB: 5 });
    expect(describeRun(b)).toMatch(/^exit 0/);
    s3.setFault({ kind: "stall-body", path: /\.tar\.zst\.age(\?|$)/ });
    const seen = hook.received.length;
    const r = await runBounded(restoreArgs({ name: "to-restore", identity: key.file, targetDir: join(work, "restored"), ...dest(), timeoutSeconds: 2, maxAttempts: 1, alertWebhook: hook.url }), {}, 60_000);
    expect(describeRun(r)).toMatch(/^exit 1/);
    expect(r.seconds).toBeLessThan(20);
    expect(r.stderr).toMatch(/timed out after 2000 ms of inactivity/);
    expect(alerts().slice(seen).join("\n")).toMatch(/restore of to-restore .*FAILED/);
  });

  test("restore: --run-timeout ends a stalled download", async () => {
    s3.setFault({ kind: "stall-body", path: /\.tar\.zst\.age(\?|$)/ });
    const r = await runBounded(restoreArgs({ name: "to-restore", identity: key.file, targetDir: join(work, "restored-2"), ...dest(), timeoutSeconds: 600, runTimeout: "4s" }), {}, 60_000);
    expect(describeRun(r)).toMatch(/^exit 1/);
    expect(r.seconds).toBeLessThan(15);
    expect(r.stderr).toMatch(/--run-timeout 4s/);
  });

  test("under schedule, a run given a longer bound of its own is killed at the scheduler's --run-timeout plus grace", async () => {
    s3.setFault({ kind: "stall" });
    const cmd = backupArgs({ source: "directory", name: "wedged", path: small, recipients: [key.recipient], ...dest(), timeoutSeconds: 600, runTimeout: "10m" });
    const t0 = Date.now();
    const sched = startScheduler("0 3 * * *", cmd, { runAtStart: true, runTimeout: "3s", stateFile: join(work, "sched-wedged.json") });
    try {
      // The backstop's SIGTERM stops the run cleanly (stop.ts): it exits 143, before the SIGKILL 10 s later.
      await waitFor("the scheduler to stop the run", () => /"msg":"run failed: backup: exit 143 \(stopped by SIGTERM\)"/.test(sched.log()), 30_000);
    } finally {
      await sched.stop();
    }
    const err = sched.log();
    expect(err).toMatch(/"msg":"run of backup still going 6s after it started \(--run-timeout 3s and grace\): killing it"/);
    expect((Date.now() - t0) / 1000).toBeLessThan(20);
  });

  test("under schedule, a stalled run fails and the next scheduled run happens", async () => {
    s3.setFault({ kind: "stall" });
    const seen = hook.received.length;
    const cmd = backupArgs({ source: "directory", name: "scheduled", path: small, recipients: [key.recipient], ...dest(), alertWebhook: hook.url, timeoutSeconds: 2, maxAttempts: 1 });
    // Every 5 s (a 6-field cron, seconds first): the next scheduled run comes within seconds, not at the next minute.
    const sched = startScheduler("*/5 * * * * *", cmd, { runAtStart: true, runTimeout: "20s", stateFile: join(work, "sched.json") });
    try {
      await waitFor("the stalled run to fail", () => /"msg":"run failed: backup: exit 1"/.test(sched.log()), 30_000);
      s3.setFault({ kind: "none" });
      await waitFor("the next scheduled run to finish", () => /"msg":"run finished: backup"/.test(sched.log()), 30_000);
    } finally {
      await sched.stop();
    }
    expect(alerts().slice(seen).join("\n")).toMatch(/backup of scheduled \(directory\).*FAILED/);
    expect((await s3.keys(BUCKET, "prod/scheduled/")).some((k) => k.endsWith(".manifest.json"))).toBe(true);
  });
});

/** A `schedule` process of the built runner; its stderr (JSON log lines) collected; stop() sends SIGTERM and waits. */
function startScheduler(cron: string, cmd: string[], opts: Parameters<typeof scheduleArgs>[2]): { log(): string; stop(): Promise<void> } {
  const child = spawn(process.execPath, [RUNNER_BIN, ...scheduleArgs(cron, cmd, opts)], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env() },
  });
  let err = "";
  child.stderr.on("data", (b) => (err += b));
  const closed = new Promise((r) => child.on("close", r));
  return {
    log: () => err,
    async stop() {
      child.kill("SIGTERM");
      await closed;
    },
  };
}
