/**
 * End to end for the bucket source (issue #18): an app bucket and a backup bucket on the S3
 * stand-in behind the strict layer (Content-MD5 on a locked bucket, If-None-Match: *). Objects are
 * created, overwritten and deleted between snapshots; a restore as of each snapshot equals the app
 * bucket then (keys, bytes, content-type, metadata); one key, one prefix, --dry-run and --force.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackupSpec, backupArgs, listArgs, restoreArgs, statusArgs, verifyArgs } from "lifeboat-core";
import { startS3, S3Server } from "../support/s3";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";
import { BucketState, bucketState, putMany, putObject, wireMetadata } from "../support/bucket";

jest.setTimeout(300_000);

const APP = "app-media";
const BACKUPS = "lifeboat-backups";
const NAME = "media";

let s3: S3Server;
let key: AgeKey;
let work: string;

const appCreds = { LIFEBOAT_BUCKET_ACCESS_KEY_ID: "S3RVER", LIFEBOAT_BUCKET_SECRET_ACCESS_KEY: "S3RVER" };
const env = () => ({ ...s3.env, ...appCreds });
const dest = () => ({ dest: `s3://${BACKUPS}/prod`, endpoint: s3.endpoint, region: "us-east-1", stateFile: join(work, "state.json") });

async function snapshot(extra: Partial<BackupSpec> = {}) {
  const r = await runner(
    [...backupArgs({ source: "bucket", name: NAME, bucketUrl: `s3://${APP}/media`, bucketEndpoint: s3.endpoint, recipients: [key.recipient], window: "30d", json: true, ...dest(), ...extra })],
    env(),
  );
  if (r.code !== 0) throw new Error(describeRun(r));
  return JSON.parse(r.stdout) as { key: string; summary: Record<string, number> };
}

function restore(args: { at?: string; to: string; key?: string; prefix?: string; dryRun?: boolean; force?: boolean }) {
  const a = [...restoreArgs({ name: NAME, at: args.at, key: args.key, identity: key.file, force: args.force, jobs: 8, ...dest() }), "--source", "bucket", "--to", args.to, "--to-endpoint", s3.endpoint];
  if (args.prefix !== undefined) a.push("--prefix", args.prefix);
  if (args.dryRun) a.push("--dry-run");
  return runner(a, env());
}

const only = (st: BucketState, pred: (k: string) => boolean) => Object.fromEntries(Object.entries(st).filter(([k]) => pred(k)));

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-bucket-"));
  key = ageKey(work);
  s3 = await startS3();
  await s3.createBucket(APP, { objectLock: false });
  await s3.createBucket(BACKUPS);
  for (const b of ["restore-a", "restore-b", "restore-c", "restore-one"]) await s3.createBucket(b, { objectLock: false });
});

afterAll(async () => {
  await s3?.stop();
});

describe("bucket source", () => {
  const states: Array<{ at: string; state: BucketState }> = [];

  test("snapshots: new, changed and deleted objects between runs; 1% changed copies only those", async () => {
    const c = s3.client;
    await putMany(c, APP, 200, "media/o/");
    await putObject(c, APP, "media/img/logo.png", Buffer.alloc(4000, 1), "image/png", { owner: "web", "x-origin": "upload" });
    await putObject(c, APP, "media/contracts/2026/deal one.pdf", Buffer.alloc(7 * 1024 * 1024, 3), "application/pdf", { customer: "acme" });
    await putObject(c, APP, "media/ünïcødé ✓.txt", "names survive\n", "text/plain; charset=utf-8");
    await putObject(c, APP, "outside/not-ours.txt", "outside the source prefix\n", "text/plain");

    const first = await snapshot({ partSizeMiB: 5 });
    expect(first.summary).toMatchObject({ objects: 203, copied: 203, new: 203, reused: 0, deleted: 0 });
    states.push({ at: new Date().toISOString(), state: await bucketState(c, APP, "media/") });
    // Every stored copy is encrypted: no plaintext of the app object in the backup bucket.
    const stored = (await s3.keys(BACKUPS, "prod/media/objects/"));
    expect(stored).toHaveLength(203);
    expect((await s3.get(BACKUPS, stored[0]!)).subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    await new Promise((r) => setTimeout(r, 20));

    // 1% of the 200 small objects change, one is deleted, one is new, one changes only its content-type... and bytes.
    await putObject(c, APP, "media/o/000007.bin", "changed seven");
    await putObject(c, APP, "media/o/000150.bin", "changed one-fifty");
    await s3.remove(APP, "media/o/000099.bin");
    await putObject(c, APP, "media/img/new.webp", Buffer.alloc(1000, 9), "image/webp", { alt: "a new image" });
    const second = await snapshot();
    expect(second.summary).toMatchObject({ objects: 203, copied: 3, new: 1, changed: 2, reused: 200, deleted: 1 });
    expect(await s3.keys(BACKUPS, "prod/media/objects/")).toHaveLength(206);
    states.push({ at: new Date().toISOString(), state: await bucketState(c, APP, "media/") });
    await new Promise((r) => setTimeout(r, 20));

    // The dashboard's "Empty bucket" on a prefix, and an overwrite of the contract.
    for (const k of await s3.keys(APP, "media/img/")) await s3.remove(APP, k);
    await putObject(c, APP, "media/contracts/2026/deal one.pdf", "signed v2", "application/pdf", { customer: "acme", version: "2" });
    const third = await snapshot();
    expect(third.summary).toMatchObject({ objects: 201, copied: 1, changed: 1, deleted: 2 });
    states.push({ at: new Date().toISOString(), state: await bucketState(c, APP, "media/") });

    // Nothing slipped past the strict layer (Content-MD5 on the locked backup bucket, create-only puts).
    expect(s3.violations).toEqual([]);
  });

  test("restore as of each snapshot time equals the app bucket then (keys, bytes, content-type, metadata)", async () => {
    const targets = ["restore-a", "restore-b", "restore-c"];
    for (let i = 0; i < states.length; i++) {
      const r = await restore({ at: states[i]!.at, to: `s3://${targets[i]}/back` });
      expect(r.code).toBe(0);
      expect(await bucketState(s3.client, targets[i]!, "back/")).toEqual(states[i]!.state);
    }
    expect(Object.keys(states[0]!.state)).toContain("img/logo.png");
    expect(states[0]!.state["img/logo.png"]).toMatchObject({ contentType: "image/png", metadata: { owner: "web", "x-origin": "upload" } });
  });

  test("one key and one prefix", async () => {
    const one = await restore({ at: states[0]!.at, to: `s3://restore-one/k`, key: "contracts/2026/deal one.pdf" });
    expect(one.code).toBe(0);
    expect(await bucketState(s3.client, "restore-one", "k/")).toEqual(only(states[0]!.state, (k) => k === "contracts/2026/deal one.pdf"));
    const pre = await restore({ at: states[1]!.at, to: `s3://restore-one/p`, prefix: "img/" });
    expect(pre.code).toBe(0);
    expect(await bucketState(s3.client, "restore-one", "p/")).toEqual(only(states[1]!.state, (k) => k.startsWith("img/")));
  });

  test("--dry-run prints creates, overwrites and deletes; without --force nothing is overwritten or deleted; with it the bucket is as it was", async () => {
    // Into the app bucket itself, as of the second snapshot: img/ comes back, the contract is overwritten, nothing else differs.
    await putObject(s3.client, APP, "media/stray.tmp", "written after the snapshot");
    const dry = await restore({ at: states[1]!.at, to: `s3://${APP}/media`, dryRun: true });
    expect(dry.code).toBe(0);
    const lines = dry.stdout.trim().split("\n");
    expect(lines).toEqual([
      `overwrite s3://${APP}/media/contracts/2026/deal one.pdf`,
      `create s3://${APP}/media/img/logo.png`,
      `create s3://${APP}/media/img/new.webp`,
      `delete (needs --force) s3://${APP}/media/stray.tmp`,
      expect.stringMatching(/^dry run: the whole bucket of media as of .* 2 to create, 1 to overwrite, 1 to delete, 200 unchanged .*nothing written$/),
    ]);
    const before = await bucketState(s3.client, APP, "media/");
    const refused = await restore({ at: states[1]!.at, to: `s3://${APP}/media` });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/would overwrite 1 and delete 1 object\(s\) in the target: add --force/);
    expect(await bucketState(s3.client, APP, "media/")).toEqual(before);
    const forced = await restore({ at: states[1]!.at, to: `s3://${APP}/media`, force: true });
    expect(forced.code).toBe(0);
    expect(await bucketState(s3.client, APP, "media/")).toEqual(states[1]!.state);
    // Outside the source's prefix nothing was touched.
    expect(await s3.keys(APP, "outside/")).toEqual(["outside/not-ours.txt"]);
  });

  test("an object that cannot be read fails the run naming it, and no snapshot is written", async () => {
    const before = await s3.keys(BACKUPS, "prod/media/snapshots/");
    await putObject(s3.client, APP, "media/broken.bin", "changed so it is copied");
    s3.setFault({ kind: "stall-body", path: /app-media\/media\/broken\.bin/ });
    try {
      const r = await runner(
        [...backupArgs({ source: "bucket", name: NAME, bucketUrl: `s3://${APP}/media`, bucketEndpoint: s3.endpoint, recipients: [key.recipient], ...dest(), timeoutSeconds: 2, maxAttempts: 1 })],
        env(),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/media\/broken\.bin/);
    } finally {
      s3.setFault({ kind: "none" });
    }
    expect(await s3.keys(BACKUPS, "prod/media/snapshots/")).toEqual(before);
  });

  test("bad input is refused naming the flag, before anything is read or written", async () => {
    const requests = s3.requests.length;
    const base = { source: "bucket" as const, name: NAME, recipients: [key.recipient], ...dest() };
    const cases: Array<[Partial<BackupSpec>, NodeJS.ProcessEnv, RegExp]> = [
      [{}, env(), /--bucket-url s3:\/\/APPBUCKET\[\/PREFIX\] \(or LIFEBOAT_BUCKET_URL\) is required/],
      [{ bucketUrl: "https://x" }, env(), /--bucket-url: must look like s3:\/\/BUCKET\/PREFIX/],
      [{ bucketUrl: `s3://${APP}`, window: "12h" }, env(), /--window \(LIFEBOAT_BUCKET_WINDOW\): must be whole days/],
      [{ bucketUrl: `s3://${APP}`, path: "/tmp" }, env(), /--path is not for --source bucket/],
      [{ bucketUrl: `s3://${APP}` }, s3.env, /LIFEBOAT_BUCKET_ACCESS_KEY_ID and LIFEBOAT_BUCKET_SECRET_ACCESS_KEY are required/],
      [{ bucketUrl: `s3://${APP}`, bucketEndpoint: "ftp://x" }, env(), /--bucket-endpoint: must be an http\(s\) URL/],
    ];
    for (const [spec, e, msg] of cases) {
      const r = await runner(backupArgs({ ...base, ...spec }), e);
      expect({ code: r.code, err: r.stderr }).toEqual({ code: 2, err: expect.stringMatching(msg) });
      expect(r.stderr).not.toContain("S3RVER");
    }
    expect(s3.requests.length).toBe(requests);
  });

  test("list, status and verify understand the bucket source; a rotten copy and an emptied bucket are caught", async () => {
    const list = await runner(listArgs({ name: NAME, ...dest(), json: true }), env());
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout).backups;
    expect(rows.map((r: { tier: string; bucket: { objects: number; deleted: number; copied: number } }) => [r.tier, r.bucket.objects, r.bucket.deleted, r.bucket.copied])).toEqual([
      ["snapshot", 203, 0, 203],
      ["snapshot", 203, 1, 3],
      ["snapshot", 201, 2, 1],
    ]);
    const text = await runner(listArgs({ name: NAME, ...dest() }), env());
    expect(text.stdout).toMatch(/media +snapshot .* 201 objects, .*\+0 new, 1 changed, -2 deleted, 1 copied/);

    const healthy = await runner(statusArgs({ name: NAME, maxAge: "1h", ...dest() }), env());
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toMatch(/^OK   media newest .* bucket: 201 objects/);
    await new Promise((r) => setTimeout(r, 1100));
    const overdue = await runner(statusArgs({ name: NAME, maxAge: "1s", ...dest() }), env());
    expect(overdue.code).toBe(1);
    expect(overdue.stdout).toMatch(/overdue: newest snapshot .* ago, more than --max-age 1s/);

    const ok = await runner([...verifyArgs({ name: NAME, identity: key.file, ...dest() }), "--sample", "all"], env());
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/201 of 201 stored objects downloaded, decrypted and checked/);

    // Bit rot in one stored copy the newest snapshot references.
    const snaps = await s3.keys(BACKUPS, "prod/media/snapshots/");
    const manifest = (await s3.get(BACKUPS, snaps[snaps.length - 1]!)).toString().split("\n");
    const victim = JSON.parse(manifest[1]!);
    const bytes = await s3.get(BACKUPS, victim.stored.key);
    bytes[bytes.length - 5] ^= 0xff;
    s3.rot(BACKUPS, victim.stored.key, bytes);
    const bad = await runner([...verifyArgs({ name: NAME, identity: key.file, ...dest() }), "--sample", "all"], env());
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`PROBLEM: ${victim.key}: stored copy ${victim.stored.key} has sha256`);
    const after = await runner(statusArgs({ name: NAME, maxAge: "1h", ...dest() }), env());
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/verification of .* failed/);

    // The dashboard's "Empty bucket": the next snapshot has nothing, and status says so.
    for (const k of await s3.keys(APP, "media/")) await s3.remove(APP, k);
    const empty = await snapshot();
    expect(empty.summary).toMatchObject({ objects: 0, copied: 0 });
    const emptied = await runner(statusArgs({ name: NAME, maxAge: "1h", ...dest() }), env());
    expect(emptied.code).toBe(1);
    expect(emptied.stdout).toMatch(/20[0-9] of 20[0-9] objects gone since the previous snapshot \(100%.*was the bucket emptied\?/);
  });

  test("--lock-mode on S3 locks each stored copy for 2 x window and the snapshot manifest for window", async () => {
    await putObject(s3.client, APP, "locked/one.bin", "locked bytes");
    const before = Date.now();
    const r = await runner(
      [...backupArgs({ source: "bucket", name: "locked", bucketUrl: `s3://${APP}/locked`, bucketEndpoint: s3.endpoint, recipients: [key.recipient], window: "7d", lockMode: "compliance", ...dest() })],
      env(),
    );
    expect(r.code).toBe(0);
    const objects = await s3.keys(BACKUPS, "prod/locked/objects/");
    const snaps = await s3.keys(BACKUPS, "prod/locked/snapshots/");
    expect(objects).toHaveLength(1);
    expect(snaps).toHaveLength(1);
    const lock = (k: string) => s3.locks.get(`${BACKUPS}/${k}`)!;
    const days = (l: { retainUntil: string }) => (Date.parse(l.retainUntil) - before) / 86_400_000;
    expect(lock(objects[0]!).mode).toBe("COMPLIANCE");
    expect(days(lock(objects[0]!))).toBeGreaterThanOrEqual(14);
    expect(days(lock(objects[0]!))).toBeLessThan(14.01);
    expect(days(lock(snaps[0]!))).toBeGreaterThanOrEqual(7);
    expect(days(lock(snaps[0]!))).toBeLessThan(7.01);
    const retention = await runner([...backupArgs({ source: "bucket", name: "locked", bucketUrl: `s3://${APP}/locked`, recipients: [key.recipient], retention: "daily=30d,weekly=12w,monthly=12m,yearly=7y", lockMode: "governance", ...dest() })], env());
    expect(retention.code).toBe(2);
    expect(retention.stderr).toMatch(/--retention \(the bucket source locks by --window/);
  });

  test("user metadata named __proto__, constructor and tostring comes back from a snapshot exactly", async () => {
    // Legal S3 metadata names; JSON.parse makes `__proto__` an own key (an object literal would set the prototype).
    const metadata = JSON.parse('{"__proto__":"proto value","constructor":"ctor value","tostring":"str value","plain":"kept"}') as Record<string, string>;
    await putObject(s3.client, APP, "meta/odd-names.bin", "bytes with odd metadata names", "application/octet-stream", metadata);
    const sent = await wireMetadata(s3.client, APP, "meta/odd-names.bin");
    expect(sent.map(([k]) => k)).toEqual(["__proto__", "constructor", "plain", "tostring"]);
    const r = await runner([...backupArgs({ source: "bucket", name: "meta", bucketUrl: `s3://${APP}/meta`, bucketEndpoint: s3.endpoint, recipients: [key.recipient], ...dest(), json: true })], env());
    expect(describeRun(r)).toMatch(/^exit 0/);
    // The snapshot manifest itself holds every name.
    const snap = (await s3.get(BACKUPS, JSON.parse(r.stdout).key)).toString().split("\n");
    expect(Object.keys(JSON.parse(snap[1]!).metadata).sort()).toEqual(["__proto__", "constructor", "plain", "tostring"]);
    await s3.createBucket("restore-meta", { objectLock: false });
    const back = await runner(
      [...restoreArgs({ name: "meta", identity: key.file, ...dest() }), "--source", "bucket", "--to", "s3://restore-meta/m", "--to-endpoint", s3.endpoint],
      env(),
    );
    expect(describeRun(back)).toMatch(/^exit 0/);
    expect(await wireMetadata(s3.client, "restore-meta", "m/odd-names.bin")).toEqual(sent);
  });
});
