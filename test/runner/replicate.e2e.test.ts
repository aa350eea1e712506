/**
 * End to end for `lifeboat-runner replicate` between two buckets on one loopback s3rver: the
 * source bucket through the support proxy, the replica through a proxy in this file (in front
 * of the support proxy) that records every request with its headers, to prove what the replicator does on the replica
 * (list and create-only puts with checksums; never a GET of an object, a HEAD or a DELETE of an
 * object).
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, request, IncomingHttpHeaders, Server } from "node:http";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { CopyObjectCommand } from "@aws-sdk/client-s3";
import { backupArgs, listArgs, replicateArgs, restoreArgs, verifyArgs, ReplicateSpec } from "lifeboat-core";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { freePort } from "../support/ports";
import { uploadWal } from "../../runner/src/pitr/walUpload";
import { makeS3Client, S3Store } from "../../runner/src/store";
import { parseDest } from "../../runner/src/dest";

jest.setTimeout(120_000);

const PRIMARY = "lifeboat-primary";
const REPLICA = "lifeboat-replica";
// Different prefixes on purpose: the replica's manifests must name the replica's keys.
const SRC_PREFIX = "prod";
const DST_PREFIX = "dr/prod";

let s3: S3Server;
let hook: Hook;
let key: AgeKey;
let work: string;
let replicaProxy: Server;
let replicaEndpoint: string;
const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];

const src = () => ({ dest: `s3://${PRIMARY}/${SRC_PREFIX}`, endpoint: s3.endpoint, region: "auto", workDir: work, stateFile: join(work, "state.json") });
const onReplica = () => ({ dest: `s3://${REPLICA}/${DST_PREFIX}`, endpoint: replicaEndpoint, region: "auto", workDir: work, stateFile: join(work, "state.json") });
/** Source identity in AWS_*, the replica's own in LIFEBOAT_REPLICA_* (s3rver knows one account, so both are S3RVER here). */
const env = (replica: Record<string, string> = {}) => ({
  ...s3.env,
  LIFEBOAT_REPLICA_ACCESS_KEY_ID: "S3RVER",
  LIFEBOAT_REPLICA_SECRET_ACCESS_KEY: "S3RVER",
  ...replica,
});
const replicate = (spec: Partial<ReplicateSpec> = {}, replicaEnv: Record<string, string> = {}) =>
  runner(
    replicateArgs({
      all: true,
      to: `s3://${REPLICA}/${DST_PREFIX}`,
      toEndpoint: replicaEndpoint,
      toRegion: "auto",
      partSizeMiB: 5,
      ...src(),
      json: true,
      alertWebhook: hook.url + "/alert",
      pingUrl: hook.url + "/ping",
      ...spec,
    }),
    env(replicaEnv),
  );

const toReplicaKey = (k: string) => k.replace(new RegExp(`^${SRC_PREFIX}/`), `${DST_PREFIX}/`);

function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else out[relative(root, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(root);
  return out;
}

async function backup(name: string, path: string): Promise<any> {
  const r = await runner(backupArgs({ source: "directory", name, path, recipients: [key.recipient], ...src(), json: true }), env());
  expect(describeRun(r)).toMatch(/^exit 0/);
  return JSON.parse(r.stdout).manifest;
}

/** Requests the replica proxy saw since `from`. */
const since = (from: number) => seen.slice(from);

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-replicate-e2e-"));
  [s3, hook] = await Promise.all([startS3(), startWebhook()]);
  await s3.createBucket(PRIMARY);
  await s3.createBucket(REPLICA);
  key = ageKey(work);
  // In front of the strict layer, not s3rver itself: the replica is held to S3's rules too (and
  // answers delimiter listings as S3 does, which `list` on the replica finds its sources by).
  const target = new URL(s3.endpoint);
  replicaProxy = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const up = request({ host: target.hostname, port: Number(target.port), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((r) => replicaProxy.listen(port, "127.0.0.1", r));
  replicaEndpoint = `http://127.0.0.1:${port}`;

  mkdirSync(join(work, "app-files/uploads"), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(work, `app-files/uploads/f${i}.txt`), `file ${i}\n`.repeat(100));
  // Incompressible and larger than one 5 MiB part: copied with a multipart upload.
  mkdirSync(join(work, "media"));
  writeFileSync(join(work, "media/video.bin"), randomBytes(6 * 1024 * 1024 + 12345));
  writeFileSync(join(work, "media/index.json"), "{}\n");
});

afterAll(async () => {
  await new Promise((r) => replicaProxy?.close(r));
  await Promise.all([s3?.stop(), hook?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

const manifests: Record<string, any> = {};

test("copies the backups of two sources with their manifests and verification records; list and restore work from the replica; the replica is only listed and put to", async () => {
  manifests.app1 = await backup("app-files", join(work, "app-files"));
  manifests.app2 = await backup("app-files", join(work, "app-files"));
  manifests.media1 = await backup("media", join(work, "media"));
  expect(manifests.media1.storedBytes).toBeGreaterThan(5 * 1024 * 1024);
  const v = await runner(verifyArgs({ name: "app-files", key: manifests.app2.key, identity: key.file, ...src() }), env());
  expect(describeRun(v)).toMatch(/^exit 0/);

  const from = seen.length;
  const r = await replicate();
  // Only the replicator's requests (the list and restore below read the replica as the restorer).
  const reqs = since(from);
  expect(describeRun(r)).toMatch(/^exit 0/);
  const out = JSON.parse(r.stdout);
  expect(out.ok).toBe(true);
  expect(out.copied).toBe(3);
  const bySource = Object.fromEntries(out.sources.map((s: any) => [s.source, s]));
  expect(bySource["app-files"].copied.sort()).toEqual([manifests.app1.key, manifests.app2.key].sort());
  expect(bySource["app-files"].verificationsCopied).toBe(1);
  expect(bySource.media.copied).toEqual([manifests.media1.key]);
  expect(out.lagging).toEqual([]);

  // The same backups, with manifests, on the replica; the record says the one verified is verified.
  const keys = await s3.keys(REPLICA);
  for (const m of [manifests.app1, manifests.app2, manifests.media1]) {
    expect(keys).toContain(toReplicaKey(m.key));
    expect(keys).toContain(toReplicaKey(m.key) + ".manifest.json");
    const rm = JSON.parse((await s3.get(REPLICA, toReplicaKey(m.key) + ".manifest.json")).toString());
    expect(rm).toEqual({ ...m, key: toReplicaKey(m.key) });
    const obj = await s3.get(REPLICA, toReplicaKey(m.key));
    expect(createHash("sha256").update(obj).digest("hex")).toBe(m.sha256);
  }
  const list = JSON.parse((await runner(listArgs({ ...onReplica(), json: true }), env())).stdout);
  const srcList = JSON.parse((await runner(listArgs({ ...src(), json: true }), env())).stdout);
  // storedAt is each store's own time (the replica received its copies later): everything else matches.
  const sameBut = (b: any, key: string) => ({ ...b, key, storedAt: expect.any(String) });
  expect(list.backups.map((b: any) => sameBut(b, b.key))).toEqual(srcList.backups.map((b: any) => sameBut(b, toReplicaKey(b.key))));
  for (const [r, p] of list.backups.map((b: any, i: number) => [b, srcList.backups[i]])) expect(Date.parse(r.storedAt)).toBeGreaterThanOrEqual(Date.parse(p.storedAt));
  expect(list.backups.find((b: any) => b.key === toReplicaKey(manifests.app2.key)).verified).toBe("ok");

  // What the replicator did on the replica: listings and create-only puts, nothing else.
  const bucketPath = (u: string) => new URL(u, "http://x").pathname.replace(/\/$/, "");
  for (const q of reqs) {
    expect(q.method).not.toBe("HEAD");
    if (q.method === "GET") expect(bucketPath(q.url)).toBe(`/${REPLICA}`); // ListObjectsV2 only
    if (q.method === "DELETE") expect(q.url).toMatch(/[?&]uploadId=/); // never an object delete
  }
  const puts = reqs.filter((q) => q.method === "PUT" && !/[?&]partNumber=/.test(q.url));
  for (const p of puts) expect(p.headers["if-none-match"]).toBe("*");
  // The small objects went up in one PutObject carrying the manifest's sha256 for the server to check.
  for (const m of [manifests.app1, manifests.app2]) {
    const put = puts.find((p) => bucketPath(p.url) === `/${REPLICA}/${toReplicaKey(m.key)}`)!;
    expect(put).toBeDefined();
    expect(put.headers["x-amz-checksum-sha256"]).toBe(Buffer.from(m.sha256, "hex").toString("base64"));
  }
  // The large one as a multipart upload, completed create-only.
  const mediaPath = `/${REPLICA}/${toReplicaKey(manifests.media1.key)}`;
  expect(reqs.filter((q) => q.method === "PUT" && bucketPath(q.url) === mediaPath && /partNumber=/.test(q.url)).length).toBe(2);
  const complete = reqs.find((q) => q.method === "POST" && bucketPath(q.url) === mediaPath && /uploadId=/.test(q.url))!;
  expect(complete.headers["if-none-match"]).toBe("*");
  // Data before manifest, for every backup.
  for (const m of [manifests.app1, manifests.app2, manifests.media1]) {
    const p = `/${REPLICA}/${toReplicaKey(m.key)}`;
    const dataAt = reqs.findIndex((q) => bucketPath(q.url) === p && (q.method === "PUT" || (q.method === "POST" && /uploadId=/.test(q.url))) && !/partNumber/.test(q.url));
    const manifestAt = reqs.findIndex((q) => q.method === "PUT" && bucketPath(q.url) === p + ".manifest.json");
    expect(dataAt).toBeGreaterThanOrEqual(0);
    expect(manifestAt).toBeGreaterThan(dataAt);
  }

  // Restore from the replica (the restorer reads the replica; the replicator never does).
  for (const [name, dir] of [["app-files", "app-files"], ["media", "media"]] as const) {
    const target = join(work, `restored-${name}`);
    const rr = await runner(restoreArgs({ name, identity: key.file, targetDir: target, ...onReplica() }), env());
    expect(describeRun(rr)).toMatch(/^exit 0/);
    expect(tree(target)).toEqual(tree(join(work, dir)));
  }
});

test("a second run copies nothing, puts nothing and exits 0", async () => {
  const from = seen.length;
  const r = await replicate();
  expect(describeRun(r)).toMatch(/^exit 0/);
  const out = JSON.parse(r.stdout);
  expect(out.copied).toBe(0);
  for (const s of out.sources) {
    expect(s.copied).toEqual([]);
    expect(s.alreadyOnReplica).toBe(s.backups);
    expect(s.verificationsCopied).toBe(0);
  }
  expect(since(from).filter((q) => q.method !== "GET")).toEqual([]);
});

test("a corrupted source object is detected in transit: exit 1 naming the key, the multipart upload aborted, nothing (and no manifest) on the replica", async () => {
  const small = await backup("app-files", join(work, "app-files"));
  const large = await backup("media", join(work, "media"));
  // Flip one byte in each stored object, keeping the size (s3rver overwrites in place).
  for (const m of [small, large]) {
    const b = await s3.get(PRIMARY, m.key);
    b[Math.floor(b.length / 2)]! ^= 0x01;
    await s3.put(PRIMARY, m.key, b);
  }
  hook.received.length = 0;
  const from = seen.length;
  const r = await replicate();
  expect(describeRun(r)).toMatch(/^exit 1/);
  const out = JSON.parse(r.stdout);
  expect(out.ok).toBe(false);
  for (const m of [small, large]) {
    expect(out.problems.join("\n")).toContain(`${m.key}: sha256`);
    expect(r.stderr).toContain(m.key);
  }
  const keys = await s3.keys(REPLICA);
  for (const m of [small, large]) {
    expect(keys).not.toContain(toReplicaKey(m.key));
    expect(keys).not.toContain(toReplicaKey(m.key) + ".manifest.json");
  }
  const reqs = since(from);
  const path = (m: any) => `/${REPLICA}/${toReplicaKey(m.key)}`;
  const at = (m: any) => reqs.filter((q) => new URL(q.url, "http://x").pathname.startsWith(path(m)));
  // Small: checked before sending, so never sent at all.
  expect(at(small)).toEqual([]);
  // Large: the first part went up, then the upload was aborted and never completed.
  const lr = at(large);
  expect(lr.some((q) => q.method === "DELETE" && /uploadId=/.test(q.url))).toBe(true);
  expect(lr.some((q) => q.method === "POST" && /uploadId=/.test(q.url))).toBe(false);
  expect(lr.some((q) => q.url.includes(".manifest.json"))).toBe(false);
  const alert = hook.received.find((x) => x.path === "/alert");
  expect(JSON.parse(alert!.body).text).toMatch(/replication .* FAILED/);
  expect(JSON.parse(alert!.body).text).toContain(small.key);
  expect(hook.received.some((x) => x.path === "/ping/fail")).toBe(true);

  // Take the damaged backups out of the source (as the operator would after the alert).
  for (const m of [small, large]) {
    await s3.remove(PRIMARY, m.key + ".manifest.json");
    await s3.remove(PRIMARY, m.key);
  }
});

test("lag: --no-copy and an unreachable replica alert and exit 1 when the newest backup is older than --max-lag; the next run catches up", async () => {
  const m = await backup("app-files", join(work, "app-files"));
  await new Promise((r) => setTimeout(r, 1500));

  hook.received.length = 0;
  const from = seen.length;
  const dry = await replicate({ all: undefined, name: "app-files", noCopy: true, maxLag: "1s" });
  expect(describeRun(dry)).toMatch(/^exit 1/);
  const out = JSON.parse(dry.stdout);
  expect(out.lagging).toEqual(["app-files"]);
  expect(out.problems).toEqual([]);
  expect(out.sources[0].missing).toEqual([m.key]);
  expect(out.sources[0].newest).toMatchObject({ key: m.key, onReplica: false });
  expect(since(from).filter((q) => q.method !== "GET")).toEqual([]);
  expect((await s3.keys(REPLICA)).some((k) => k.startsWith(toReplicaKey(m.key)))).toBe(false);
  const lag = hook.received.find((x) => x.path === "/alert");
  expect(JSON.parse(lag!.body).text).toMatch(/LAGS/);
  expect(JSON.parse(lag!.body).text).toContain(m.key);
  expect(hook.received.some((x) => x.path === "/ping/fail")).toBe(true);

  // The same lag, without --max-lag: within the default, only "missing" and exit 0.
  const relaxed = await replicate({ all: undefined, name: "app-files", noCopy: true });
  expect(describeRun(relaxed)).toMatch(/^exit 0/);

  // An unreachable replica: nothing can be copied, and the lag alert fires.
  hook.received.length = 0;
  const down = `http://127.0.0.1:${await freePort()}`;
  const unreachable = await replicate({ toEndpoint: down, maxLag: "1s", maxAttempts: 1, timeoutSeconds: 2 });
  expect(describeRun(unreachable)).toMatch(/^exit 1/);
  const u = JSON.parse(unreachable.stdout);
  expect(u.problems.join("\n")).toMatch(/cannot list the replica/);
  expect(u.lagging).toContain("app-files");
  const texts = hook.received.filter((x) => x.path === "/alert").map((x) => JSON.parse(x.body).text);
  expect(texts.some((t) => /LAGS/.test(t) && t.includes(m.key))).toBe(true);

  // The replica side uses its own identity: a wrong replica key fails there, not on the source.
  const wrongKey = await replicate({ maxLag: "1h" }, { LIFEBOAT_REPLICA_ACCESS_KEY_ID: "NOT-THE-REPLICA-KEY" });
  expect(describeRun(wrongKey)).toMatch(/^exit 1/);
  expect(JSON.parse(wrongKey.stdout).problems.join("\n")).toMatch(/cannot list the replica.*(InvalidAccessKeyId|HTTP 403)/);

  // The next normal run copies it and the lag is gone.
  const caught = await replicate({ maxLag: "1s" });
  expect(describeRun(caught)).toMatch(/^exit 0/);
  const c = JSON.parse(caught.stdout);
  expect(c.copied).toBe(1);
  expect(c.lagging).toEqual([]);
  expect(await s3.keys(REPLICA)).toContain(toReplicaKey(m.key) + ".manifest.json");
});

test("an object already on the replica without its manifest (a run that died in between) gets its manifest, without a re-upload", async () => {
  const m = await backup("app-files", join(work, "app-files"));
  await s3.client.send(new CopyObjectCommand({ Bucket: REPLICA, Key: toReplicaKey(m.key), CopySource: `${PRIMARY}/${m.key}` }));
  const from = seen.length;
  const r = await replicate({ all: undefined, name: "app-files" });
  expect(describeRun(r)).toMatch(/^exit 0/);
  const out = JSON.parse(r.stdout);
  expect(out.sources[0].manifestsCompleted).toEqual([m.key]);
  expect(out.sources[0].copied).toEqual([]);
  const puts = since(from).filter((q) => q.method === "PUT");
  expect(puts.map((q) => new URL(q.url, "http://x").pathname)).toEqual([`/${REPLICA}/${toReplicaKey(m.key)}.manifest.json`]);
});

test.each([
  ["no --to", { all: true, dest: `s3://${PRIMARY}/x` }, /--to s3:\/\/BUCKET\/PREFIX/],
  ["the replica inside the source", { all: true, dest: `s3://${PRIMARY}/x`, to: `s3://${PRIMARY}/x/dr` }, /must not overlap/],
  ["a bad --max-lag", { all: true, dest: `s3://${PRIMARY}/x`, to: `s3://${REPLICA}/x`, maxLag: "soon" }, /--max-lag/],
  ["--to-region auto without --to-endpoint", { name: "app", dest: `s3://${PRIMARY}/x`, to: `s3://${REPLICA}/x`, toRegion: "auto" }, /--to-region auto .*--to-endpoint/],
  ["a local directory", { name: "app", localDir: "/tmp", to: `s3://${REPLICA}/x` }, /--local-dir is not supported/],
] as Array<[string, ReplicateSpec, RegExp]>)("usage error: %s (exit 2, nothing touched)", async (_what, spec, msg) => {
  const from = seen.length;
  const r = await runner(replicateArgs(spec), env());
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(msg);
  expect(since(from)).toEqual([]);
});

test("WAL under <source>/wal/ is copied too (completed segments and the newest partial, manifests naming replica keys), once", async () => {
  Object.assign(process.env, s3.env); // the SDK's credential chain, for the test's own uploads
  const o = { endpoint: s3.endpoint, region: "auto", maxAttempts: 3, partSizeBytes: 5 * 1024 * 1024, queueSize: 2, timeoutMs: 60_000, requestTimeoutMs: 60_000 };
  const store = new S3Store(makeS3Client(o), parseDest(`s3://${PRIMARY}/${SRC_PREFIX}`), o);
  const put = (file: string, at: string) => uploadWal({ store, source: "app-files", file, data: randomBytes(4096), capturedAt: new Date(at), recipients: [key.recipient], zstdLevel: 1 });
  const seg = await put("000000010000000000000001", "2026-12-01T10:00:00.000Z");
  const oldPartial = await put("000000010000000000000002.partial", "2026-12-01T10:00:01.000Z");
  const newPartial = await put("000000010000000000000002.partial", "2026-12-01T10:00:03.000Z");
  const from = seen.length;
  const r = await replicate({ all: false, name: "app-files" });
  expect(describeRun(r)).toMatch(/^exit 0/);
  expect(JSON.parse(r.stdout).sources[0].walCopied).toBe(2);
  const onRep = (await s3.keys(REPLICA, `${DST_PREFIX}/app-files/wal/`)).sort();
  expect(onRep).toEqual([seg.key, seg.key + ".manifest.json", newPartial.key, newPartial.key + ".manifest.json"].map(toReplicaKey).sort());
  expect(onRep.some((k) => k.startsWith(toReplicaKey(oldPartial.key)))).toBe(false);
  const m = JSON.parse((await s3.get(REPLICA, toReplicaKey(seg.key) + ".manifest.json")).toString("utf8"));
  expect(m).toMatchObject({ kind: "wal", key: toReplicaKey(seg.key), sha256: seg.sha256 });
  // Still only lists and create-only puts on the replica.
  expect(since(from).filter((q) => q.method === "PUT").every((q) => q.headers["if-none-match"] === "*" || /uploadId=/.test(q.url))).toBe(true);
  expect(since(from).filter((q) => q.method === "DELETE" || q.method === "HEAD")).toEqual([]);
  const again = await replicate({ all: false, name: "app-files" });
  expect(JSON.parse(again.stdout).sources[0].walCopied).toBe(0);
});

test("replicateArgs wants exactly one of name and all", () => {
  expect(() => replicateArgs({ to: "s3://b/p" })).toThrow(/exactly one/);
  expect(() => replicateArgs({ name: "a", all: true, to: "s3://b/p" })).toThrow(/exactly one/);
  expect(replicateArgs({ name: "app", to: "s3://r/p", toEndpoint: "https://acct.r2.cloudflarestorage.com", toRegion: "auto", maxLag: "1h", noCopy: true, dest: "s3://b/p", json: true })).toEqual([
    "replicate", "--name", "app", "--to", "s3://r/p", "--to-endpoint", "https://acct.r2.cloudflarestorage.com", "--to-region", "auto", "--max-lag", "1h", "--no-copy", "--dest", "s3://b/p", "--json",
  ]);
});

test("every request above passed the strict S3 layer (lock-enabled bucket: checksums present and right; part sizes)", () => {
  expect(s3.violations).toEqual([]);
});
