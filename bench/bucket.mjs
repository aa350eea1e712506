#!/usr/bin/env node
// The bucket source (issue #18): an incremental snapshot of an app bucket after 1% of its objects
// changed, side by side with `rclone copy` of the same change, and peak memory against the
// number of objects.
//
//   npm run build && node bench/bucket.mjs [--objects 20000] [--runs 3] [--memory 10000,100000] [--full 0]
//                                          [--out FILE | --no-out]
//
// Starts s3rver (loopback; `node --openssl-legacy-provider`) with an app bucket `app` and the
// backup bucket `bench`, puts --objects small objects (1-4 KiB, incompressible) under `media/`
// and makes an rclone mirror (`bench:mirror`) of them. The runner's first snapshot is SEEDED: a
// manifest written in the runner's own format (runner/dist/bucket/snapshot.js) from the bucket's
// listing (keys, sizes, ETags), pointing at stored copies that are not there. An incremental run
// reads only the manifest for the objects it reuses, so every incremental run below is the real
// thing; the seed only skips copying all objects once (through s3rver on 2 shared cores that is
// ~40 ms an object: 20k would take longer than the rest of the bench). --full N also times a real
// first snapshot of N objects.
// Then, --runs times: overwrite 1% of the objects (a new set each round) and run, in alternating
// order, `lifeboat-runner backup --source bucket` (list, join with the previous snapshot, copy the
// changed objects through age, write the manifest) and `rclone copy --checksum bench:app/media
// bench:mirror` (list both sides, compare ETags, copy the changed objects; --checksum compares the
// listings' MD5 ETags, the same evidence the runner uses, instead of a HEAD per object for rclone's
// mtime metadata). rclone copies without encryption; the runner encrypts every copy with age.
// Memory: for each --memory count, a fresh source with that many objects gets a full snapshot and
// then an incremental one after 1% changed; peak RSS is the runner's tree (node and its age
// processes), sampled from /proc every 50 ms (bench/lib/measure.mjs).
//
// Writes bench/results-bucket.md (a section of bench/results.md: `node bench/run.mjs --render
// bench/results.json` puts it there) and prints it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { headerHelp, machineInfo, median, MiB, need, REPO, requireFromRepo } from "./lib/util.mjs";
import { startS3 } from "./lib/s3.mjs";
import { measure } from "./lib/measure.mjs";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const RUNNER = join(REPO, "runner/bin/lifeboat-runner.js");

function parseArgs(argv) {
  const o = { objects: 20000, runs: 3, memory: [10000, 100000], full: 0, out: join(REPO, "bench/results-bucket.md") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === "--objects") o.objects = Number(next());
    else if (a === "--runs") o.runs = Number(next());
    else if (a === "--memory") o.memory = next().split(",").filter(Boolean).map(Number);
    else if (a === "--full") o.full = Number(next());
    else if (a === "--out") o.out = resolve(next());
    else if (a === "--no-out") o.out = undefined;
    else if (a === "--help" || a === "-h") {
      process.stdout.write(headerHelp(import.meta.url));
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return o;
}

const log = (m) => process.stderr.write(`[bench/bucket] ${m}\n`);
const fmt = (s) => s.toFixed(2);
const fmtMiB = (b) => (b / MiB).toFixed(1);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  need("age");
  need("rclone");
  const s3sdk = requireFromRepo("@aws-sdk/client-s3");
  const { backupArgs } = requireFromRepo("lifeboat-core");
  const snap = requireFromRepo("./runner/dist/bucket/snapshot.js");
  const s3 = await startS3();
  const c = new s3sdk.S3Client({
    endpoint: s3.endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
  });
  const work = mkdtempSync(join(tmpdir(), "lifeboat-bench-bucket-"));
  const keyFile = join(work, "key.txt");
  spawnSync("age-keygen", ["-o", keyFile]);
  const recipient = spawnSync("age-keygen", ["-y", keyFile], { encoding: "utf8" }).stdout.trim();
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1", LIFEBOAT_BUCKET_ACCESS_KEY_ID: "S3RVER", LIFEBOAT_BUCKET_SECRET_ACCESS_KEY: "S3RVER", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" };
  // rclone 1.60 fails with AWS_CA_BUNDLE set: its environment does not carry it.
  const renv = { PATH: process.env.PATH, HOME: process.env.HOME, ...s3.rcloneEnv() };

  const put = async (bucket, prefix, from, to, round) => {
    let next = from;
    await Promise.all(Array.from({ length: 48 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= to) return;
        const body = randomBytes(1024 + ((i * 7919 + round) % 3072));
        await c.send(new s3sdk.PutObjectCommand({ Bucket: bucket, Key: `${prefix}${String(i).padStart(7, "0")}.jpg`, Body: body, ContentType: "image/jpeg" }));
      }
    }));
  };
  const changeOnePercent = async (bucket, prefix, n, round) => {
    const step = 100;
    const sel = [];
    for (let i = round % step; i < n; i += step) sel.push(i);
    let k = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (;;) {
        const j = k++;
        if (j >= sel.length) return;
        const i = sel[j];
        await c.send(new s3sdk.PutObjectCommand({ Bucket: bucket, Key: `${prefix}${String(i).padStart(7, "0")}.jpg`, Body: randomBytes(2048), ContentType: "image/jpeg" }));
      }
    }));
    return sel.length;
  };
  const snapshot = (name, bucket) => measure(process.execPath, [RUNNER, ...backupArgs({ source: "bucket", name, bucketUrl: `s3://${bucket}/media`, bucketEndpoint: s3.endpoint, recipients: [recipient], dest: "s3://bench/lifeboat", endpoint: s3.endpoint, region: "us-east-1", stateFile: join(work, "state.json"), json: true })], { env });
  const rcloneCopy = (bucket) => measure("rclone", ["copy", "--checksum", `bench:${bucket}/media`, "bench:mirror"], { env: renv });

  /** The seeded first snapshot of `name` (see the header): every listed object, as the runner would have recorded it. */
  const seed = async (name, bucket) => {
    const at = new Date(Date.now() - 60_000);
    const lines = [snap.headerLine({ format: "lifeboat-bucket-snapshot", version: 1, source: name, kind: "bucket", bucketUrl: `s3://${bucket}/media`, startedAt: at.toISOString(), windowSeconds: 30 * 86400, encryption: { tool: "age", recipientFingerprints: ["seeded0000000000"] }, compression: "none", tools: { seed: "bench/bucket.mjs" } })];
    let token;
    let n = 0;
    let bytes = 0;
    do {
      const r = await c.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: "media/", ContinuationToken: token }));
      for (const x of r.Contents ?? []) {
        lines.push(snap.entryLine({ key: x.Key.slice(6), size: x.Size, etag: x.ETag.replace(/"/g, ""), lastModified: x.LastModified.toISOString(), sha256: "0".repeat(64), stored: { key: `lifeboat/${name}/objects/seeded-${n}.age`, at: at.toISOString(), bytes: x.Size + 200, sha256: "0".repeat(64) } }, n === 0));
        n++;
        bytes += x.Size;
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    lines.push(snap.summaryLine({ finishedAt: at.toISOString(), objects: n, bytes, copied: n, copiedBytes: bytes, new: n, changed: 0, stale: 0, reused: 0, deleted: 0, vanished: [] }));
    const key = snap.timedKey("lifeboat", name, "snapshots", at, "5eed00", ".snapshot.json");
    await c.send(new s3sdk.PutObjectCommand({ Bucket: "bench", Key: key, Body: lines.join("") }));
  };

  const started = new Date();
  const machine = machineInfo();
  const rows = [];
  const memRows = [];
  let fullRow;
  try {
    // ---------- incremental vs rclone ----------
    const N = o.objects;
    await c.send(new s3sdk.CreateBucketCommand({ Bucket: "app" }));
    await c.send(new s3sdk.CreateBucketCommand({ Bucket: "mirror" }));
    log(`putting ${N} objects`);
    await put("app", "media/", 0, N, 0);
    log("seeded first snapshot and the rclone mirror");
    await seed("media", "app");
    await rcloneCopy("app");
    for (let r = 1; r <= o.runs; r++) {
      const changed = await changeOnePercent("app", "media/", N, r);
      const order = r % 2 ? ["lb", "rc"] : ["rc", "lb"];
      const res = {};
      for (const which of order) res[which] = which === "lb" ? await snapshot("media", "app") : await rcloneCopy("app");
      const sum = JSON.parse(res.lb.stdout).summary;
      if (sum.copied !== changed) throw new Error(`round ${r}: the snapshot copied ${sum.copied}, ${changed} changed`);
      rows.push({ round: r, changed, lb: res.lb, rc: res.rc, copied: sum.copied });
      log(`round ${r}: lifeboat ${fmt(res.lb.wall)} s, rclone ${fmt(res.rc.wall)} s, copied ${sum.copied}`);
    }
    // ---------- memory vs objects ----------
    for (const n of o.memory) {
      const bucket = `mem-${n}`;
      await c.send(new s3sdk.CreateBucketCommand({ Bucket: bucket }));
      log(`memory: putting ${n} objects`);
      await put(bucket, "media/", 0, n, 0);
      await seed(bucket, bucket);
      await changeOnePercent(bucket, "media/", n, 1);
      const inc = await snapshot(bucket, bucket);
      memRows.push({ n, inc, incSum: JSON.parse(inc.stdout).summary });
      log(`memory ${n}: incremental ${fmt(inc.wall)} s ${fmtMiB(inc.peak.tree)} MiB`);
    }
    if (o.full) {
      await c.send(new s3sdk.CreateBucketCommand({ Bucket: "full" }));
      await put("full", "media/", 0, o.full, 0);
      const f = await snapshot("full", "full");
      fullRow = { n: o.full, f, sum: JSON.parse(f.stdout).summary };
      log(`full ${o.full}: ${fmt(f.wall)} s ${fmtMiB(f.peak.tree)} MiB`);
    }
  } finally {
    await s3.stop();
  }
  const inc = rows.filter((r) => r.round > 0);
  const ratio = inc.map((r) => r.lb.wall / r.rc.wall);
  const md = [
    "# Bucket source: incremental snapshots",
    "",
    `Command: \`node bench/bucket.mjs --objects ${o.objects} --runs ${o.runs} --memory ${o.memory.join(",")}${o.full ? ` --full ${o.full}` : ""}\`. Run ${started.toISOString()}; ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, age ${machine.tools.age}, ${machine.tools.rclone}; s3rver on loopback holds both buckets. Other engineers' work shared the 2 cores.`,
    "",
    `- **lifeboat**: \`lifeboat-runner backup --source bucket\` (listing joined with the previous snapshot's manifest, changed objects copied 8 at a time through age, manifest written last).`,
    "- **rclone**: `rclone copy --checksum bench:app/media bench:mirror` (lists both sides, compares MD5 ETags, copies the changed objects unencrypted; rclone defaults otherwise).",
    "",
    `### ${o.objects} objects, 1% changed before each round`,
    "",
    "| round | objects changed | lifeboat wall | rclone wall | lifeboat / rclone | lifeboat peak RSS (tree) | rclone peak RSS |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.round} | ${r.changed} (copied ${r.copied}) | ${fmt(r.lb.wall)} s | ${fmt(r.rc.wall)} s | ${(r.lb.wall / r.rc.wall).toFixed(2)}× | ${fmtMiB(r.lb.peak.tree)} MiB | ${fmtMiB(r.rc.peak.tree)} MiB |`),
    "",
    `Incremental rounds: lifeboat / rclone median ${median(ratio).toFixed(2)}× (min ${Math.min(...ratio).toFixed(2)}, max ${Math.max(...ratio).toFixed(2)}); target ≤ 1.2×.`,
    "",
    "### Peak memory against the number of objects",
    "",
    "Incremental snapshot after 1% changed, against a seeded previous snapshot of all objects (the join streams both the listing and that manifest).",
    "",
    "| objects | incremental (1%) wall | peak RSS (tree: node + age) | node VmHWM |",
    "|---|---|---|---|",
    ...memRows.map((m) => `| ${m.n} | ${fmt(m.inc.wall)} s (copied ${m.incSum.copied}) | ${fmtMiB(m.inc.peak.tree)} MiB | ${fmtMiB(m.inc.peak.rootHwm)} MiB |`),
    "",
    ...(fullRow ? [`A real first snapshot of ${fullRow.n} objects (every object copied through age): ${fmt(fullRow.f.wall)} s, peak RSS ${fmtMiB(fullRow.f.peak.tree)} MiB (tree), node VmHWM ${fmtMiB(fullRow.f.peak.rootHwm)} MiB.`, ""] : []),
  ].join("\n");
  process.stdout.write(md);
  if (o.out) writeFileSync(o.out, md);
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
