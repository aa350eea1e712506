#!/usr/bin/env node
// Peak memory of `lifeboat-runner backup` as the database grows (issue 3: constant memory;
// issue 8: under 200 MB at ~250 MB and ~1 GB, at most 10 % higher at the larger size).
//
//   npm run build && node bench/backup-memory.mjs [--sizes 250,1000] [--runs 3] [--modes s3,local]
//                                                 [--out FILE | --no-out] [--runner-arg ARG]... [--hold]
//                                                 [--runner PATH/TO/lifeboat-runner.js]  (A/B against another build)
//
// Starts its own PostgreSQL 15 (initdb as the `postgres` OS user, loopback port) and s3rver
// (`node --openssl-legacy-provider`, loopback), builds one database per size with mixed content
// (customers with text/numbers and a unique index, events with jsonb and two indexes, attachments
// with incompressible random bytes), then runs `lifeboat-runner backup` `--runs` times per size
// and mode, interleaved (size A, size B, size A, ...). Sizes are MB (10^6 bytes) of
// pg_database_size. `--hold` builds everything, prints the endpoint and URLs, and waits for
// Ctrl-C (for profiling by hand).
//
// Memory: a sampler reads /proc/<pid>/status every 50 ms for the runner and every descendant
// (found through the ppid field of /proc/*/stat: pg_dump, zstd, age). "runner" is the node
// process's VmHWM (the kernel's own peak-RSS counter, exact, read at the last sample before
// exit); "tree" is the largest sum of VmRSS over the runner and its descendants seen in one
// sample (a lower bound on the true simultaneous peak, sampled). The PostgreSQL server backend
// serving pg_dump and the s3rver process are not part of the runner's tree and not counted.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(REPO, "package.json"));
let RUNNER = join(REPO, "runner/bin/lifeboat-runner.js");
const MiB = 1024 * 1024;

// ---------- arguments ----------
function parseArgs(argv) {
  const o = { sizes: [250, 1000], runs: 3, modes: ["s3"], out: join(REPO, "bench/results-memory.md"), sampleMs: 50, runnerArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--sizes") o.sizes = next().split(",").map((s) => Number(s.trim()));
    else if (a === "--runs") o.runs = Number(next());
    else if (a === "--modes") o.modes = next().split(",").map((s) => s.trim());
    else if (a === "--out") o.out = resolve(next());
    else if (a === "--no-out") o.out = undefined;
    else if (a === "--runner-arg") o.runnerArgs.push(next());
    else if (a === "--hold") o.hold = true;
    else if (a === "--runner") o.runner = resolve(next());
    else if (a === "--help" || a === "-h") {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1).filter((l, i, a) => a.slice(0, i + 1).every((x) => x.startsWith("//"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!o.sizes.length || o.sizes.some((s) => !(s > 0))) throw new Error("--sizes: comma-separated positive MB, e.g. 250,1000 or 20,40");
  if (!(o.runs >= 1)) throw new Error("--runs: at least 1");
  for (const m of o.modes) if (m !== "s3" && m !== "local") throw new Error(`--modes: s3 and/or local, got ${m}`);
  return o;
}

// ---------- helpers ----------
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}
async function waitFor(what, check, ms = 30000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}
function need(cmd) {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) throw new Error(`'${cmd}' is not installed`);
}
function pgBin(name) {
  const root = "/usr/lib/postgresql";
  const vs = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a) : [];
  for (const v of vs) if (existsSync(join(root, v, "bin", name))) return join(root, v, "bin", name);
  throw new Error(`PostgreSQL server binary ${name} not found under ${root}/*/bin`);
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mb = (b) => (b / MiB).toFixed(1);

// ---------- PostgreSQL ----------
async function startPostgres() {
  const ids = {};
  if (process.getuid() === 0) {
    ids.uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    ids.gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  }
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-bench-pg-"));
  chmodSync(dir, 0o700);
  if (ids.uid !== undefined) chownSync(dir, ids.uid, ids.gid);
  const data = join(dir, "data");
  const init = spawnSync(pgBin("initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"], { ...ids, encoding: "utf8" });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const child = spawn(
    pgBin("postgres"),
    ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
      "-c", "full_page_writes=off", "-c", "max_wal_size=4GB", "-c", "checkpoint_timeout=30min", "-c", "maintenance_work_mem=256MB"],
    { ...ids, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr.on("data", (b) => (log = (log + b).slice(-4000)));
  const url = (db) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const { Client } = require("pg");
  const query = async (db, sql) => {
    const c = new Client({ connectionString: url(db) });
    await c.connect();
    try {
      const r = await c.query(sql);
      return (Array.isArray(r) ? r[r.length - 1] : r).rows;
    } finally {
      await c.end();
    }
  };
  await waitFor(`postgres on ${port} (${log})`, async () => (await query("postgres", "SELECT 1"), true));
  return {
    url,
    query,
    async stop() {
      if (child.exitCode === null) {
        const closed = new Promise((r) => child.once("close", r));
        child.kill("SIGINT");
        await closed;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One database of about `targetMB` on disk (pg_database_size, indexes and TOAST included):
 * batches of 16k customers, 64k events and 2.5k attachments (3 KiB random bytes each) until
 * the size is reached. About a third of the bytes are incompressible.
 */
async function buildDatabase(pg, db, targetMB) {
  await pg.query("postgres", `CREATE DATABASE ${db}`);
  await pg.query(db, `
    CREATE EXTENSION pgcrypto;
    CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL, city text, created_at timestamptz NOT NULL,
      balance numeric(14,2) NOT NULL, score double precision, notes text);
    CREATE UNIQUE INDEX customers_email ON customers (email);
    CREATE TABLE events (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, kind text NOT NULL, at timestamptz NOT NULL, amount integer, payload jsonb);
    CREATE INDEX events_customer ON events (customer_id, at);
    CREATE INDEX events_kind ON events (kind);
    CREATE TABLE attachments (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, filename text NOT NULL, content bytea NOT NULL);
    CREATE INDEX attachments_customer ON attachments (customer_id);
    ALTER TABLE attachments ALTER COLUMN content SET STORAGE EXTERNAL;`);
  const batch = async (b) => {
    await pg.query(db, `
      INSERT INTO customers (name, email, city, created_at, balance, score, notes)
      SELECT 'Customer ' || g, 'user' || g || '.' || substr(md5(g::text), 1, 8) || '@example.com',
             (ARRAY['Lisbon','Berlin','Lagos','Lima','Osaka','Austin','Pune','Cork'])[(1 + g % 8)::int],
             now() - (g % 100000) * interval '1 minute', (g % 100000) / 7.0, random() * 100,
             repeat('Customer prefers WhatsApp contact in the afternoon; follow up on the renewal. ', (1 + g % 4)::int)
      FROM generate_series(${b * 16384 + 1}::bigint, ${(b + 1) * 16384}) g;
      INSERT INTO events (customer_id, kind, at, amount, payload)
      SELECT 1 + (g * 7919) % ${(b + 1) * 16384}, (ARRAY['message_in','message_out','lead_created','deal_won','note'])[(1 + g % 5)::int],
             now() - (g % 500000) * interval '1 second', (g * 31) % 10000,
             jsonb_build_object('channel', 'whatsapp', 'text', 'Hello, order ' || g || ' is ready for pickup', 'tags', jsonb_build_array('a' || g % 13, 'b' || g % 17), 'n', g)
      FROM generate_series(${b * 65536 + 1}::bigint, ${(b + 1) * 65536}) g;
      INSERT INTO attachments (customer_id, filename, content)
      SELECT 1 + g % ${(b + 1) * 16384}, 'upload-' || g || '.bin', gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024)
      FROM generate_series(${b * 2560 + 1}::bigint, ${(b + 1) * 2560}) g;`);
  };
  const size = async () => Number((await pg.query(db, "SELECT pg_database_size(current_database()) AS s"))[0].s);
  const empty = await size();
  let b = 0;
  await batch(b++);
  let now = await size();
  // grow until the next batch would overshoot the target by more than it undershoots now
  while (now + (now - empty) / b / 2 < targetMB * 1e6) {
    await batch(b++);
    now = await size();
  }
  await pg.query(db, "VACUUM ANALYZE");
  return size();
}

// ---------- s3rver ----------
async function startS3() {
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-bench-s3-"));
  const port = await freePort();
  const bin = join(REPO, "node_modules/s3rver/bin/s3rver.js");
  const child = spawn(process.execPath, ["--openssl-legacy-provider", bin, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "-s"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (b) => (log = (log + b).slice(-2000)));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(`s3rver on ${port} (${log})`, async () => (await fetch(endpoint + "/")).status < 500);
  const s3 = require("@aws-sdk/client-s3");
  const client = new s3.S3Client({
    endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
  });
  await client.send(new s3.CreateBucketCommand({ Bucket: "bench" }));
  return {
    endpoint,
    async removeAll() {
      const r = await client.send(new s3.ListObjectsV2Command({ Bucket: "bench" }));
      for (const o of r.Contents ?? []) await client.send(new s3.DeleteObjectCommand({ Bucket: "bench", Key: o.Key }));
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null) {
        const closed = new Promise((r) => child.once("close", r));
        child.kill("SIGTERM");
        await closed;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------- process-tree memory sampler ----------
function statusKb(pid, field) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
function descendants(root) {
  const kids = new Map();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(e));
    } catch {
      /* exited */
    }
  }
  const out = [];
  const stack = [...(kids.get(root) ?? [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}
function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

/** Runs the runner, sampling memory every `ms`; resolves with wall time, peaks and stdout. */
function measured(args, env, ms) {
  return new Promise((resolveRun, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [RUNNER, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr = (stderr + b).slice(-8000)));
    const peak = { runnerHwm: 0, runnerRss: 0, tree: 0, perTool: {} };
    const sample = () => {
      const hwm = statusKb(child.pid, "VmHWM");
      const rss = statusKb(child.pid, "VmRSS");
      if (hwm > peak.runnerHwm) peak.runnerHwm = hwm;
      if (rss > peak.runnerRss) peak.runnerRss = rss;
      let tree = rss;
      for (const d of descendants(child.pid)) {
        const r = statusKb(d, "VmRSS");
        tree += r;
        const c = comm(d);
        if (r > (peak.perTool[c] ?? 0)) peak.perTool[c] = r;
      }
      if (tree > peak.tree) peak.tree = tree;
    };
    const timer = setInterval(sample, ms);
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(timer);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`runner exited ${code}: ${stderr}`));
      resolveRun({ wall, peak, stdout });
    });
  });
}

// ---------- main ----------
async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.runner) RUNNER = o.runner;
  for (const t of ["pg_dump", "zstd", "age", "age-keygen"]) need(t);
  if (!existsSync(join(dirname(RUNNER), "../dist/cli.js"))) throw new Error(`${join(dirname(RUNNER), "../dist/cli.js")} missing: run \`npm run build\` first`);
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), "lifeboat-bench-mem-"));
  const keyFile = join(work, "key.txt");
  execFileSync("age-keygen", ["-o", keyFile], { stdio: "ignore" });
  const recipient = readFileSync(keyFile, "utf8").match(/public key: (age1[0-9a-z]+)/)[1];
  process.stderr.write("starting PostgreSQL and s3rver on loopback...\n");
  const pg = await startPostgres();
  const s3 = await startS3();
  const cleanup = async () => {
    await s3.stop().catch(() => undefined);
    await pg.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const dbs = [];
    for (const size of o.sizes) {
      const t = Date.now();
      const db = `bench_${size}`;
      const bytes = await buildDatabase(pg, db, size);
      dbs.push({ size, db, bytes });
      process.stderr.write(`built ${db}: ${(bytes / 1e6).toFixed(0)} MB on disk in ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
    }
    if (o.hold) {
      process.stdout.write(JSON.stringify({ endpoint: s3.endpoint, urls: dbs.map((d) => pg.url(d.db)), recipient, work }) + "\n");
      await new Promise((r) => process.once("SIGINT", r));
      return;
    }
    const env = {
      PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8",
      AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
    const results = [];
    for (let run = 0; run < o.runs; run++) {
      for (const mode of o.modes) {
        for (const d of dbs) {
          const local = join(work, "local");
          const args = ["backup", "--source", "postgres", "--name", `bench-${d.size}`, "--url", pg.url(d.db), "--recipient", recipient, "--json",
            "--state-file", join(work, "state.json"), ...o.runnerArgs];
          if (mode === "s3") args.push("--dest", "s3://bench/memory", "--endpoint", s3.endpoint);
          else args.push("--no-upload", "--local-dir", local, "--keep-local", "1");
          const r = await measured(args, env, o.sampleMs);
          const manifest = JSON.parse(r.stdout).manifest;
          results.push({ mode, size: d.size, dbBytes: d.bytes, run, wall: r.wall, runner: r.peak.runnerHwm, tree: r.peak.tree, perTool: r.peak.perTool, stored: manifest.storedBytes, raw: manifest.rawBytes });
          process.stderr.write(`run ${run + 1}/${o.runs} ${mode} ${d.size} MB: ${r.wall.toFixed(1)} s, runner ${mb(r.peak.runnerHwm)} MiB, tree ${mb(r.peak.tree)} MiB ` +
            `(${Object.entries(r.peak.perTool).map(([k, v]) => `${k} ${mb(v)}`).join(", ")}), stored ${mb(manifest.storedBytes)} MiB\n`);
          if (mode === "s3") await s3.removeAll();
          else rmSync(local, { recursive: true, force: true });
        }
      }
    }
    // ---------- report ----------
    const rows = [];
    const summary = {};
    for (const mode of o.modes) {
      for (const d of dbs) {
        const rs = results.filter((r) => r.mode === mode && r.size === d.size);
        const walls = rs.map((r) => r.wall);
        const s = {
          mode, size: d.size, dbMiB: d.bytes / MiB,
          wall: median(walls), spread: Math.max(...walls) - Math.min(...walls),
          runner: Math.max(...rs.map((r) => r.runner)), runnerMed: median(rs.map((r) => r.runner)),
          tree: Math.max(...rs.map((r) => r.tree)), stored: median(rs.map((r) => r.stored)), raw: median(rs.map((r) => r.raw)),
        };
        (summary[mode] ??= []).push(s);
        rows.push(`| ${mode} | ${(d.bytes / 1e6).toFixed(0)} MB | ${mb(s.raw)} MiB | ${s.wall.toFixed(2)} s | ±${(s.spread / 2).toFixed(2)} s | ${mb(s.runner)} MiB (median ${mb(s.runnerMed)}) | ${mb(s.tree)} MiB | ${mb(s.stored)} MiB |`);
      }
    }
    const ratios = [];
    for (const mode of o.modes) {
      const ss = summary[mode];
      if (ss.length < 2) continue;
      const small = ss[0], big = ss[ss.length - 1];
      ratios.push(`- ${mode}: peak RSS runner ${big.size} MB / ${small.size} MB = **${(big.runner / small.runner).toFixed(3)}** ` +
        `(tree ${(big.tree / small.tree).toFixed(3)}); wall ${(big.wall / small.wall).toFixed(2)} for ${(big.raw / small.raw).toFixed(2)}× the dump bytes`);
    }
    const table = [
      "| mode | database on disk | pg_dump bytes | median wall | spread | peak RSS runner (max of runs) | peak RSS tree | stored bytes |",
      "|---|---|---|---|---|---|---|---|",
      ...rows,
    ].join("\n");
    const cmd = `node bench/backup-memory.mjs ${process.argv.slice(2).join(" ")}`.trim();
    const md = [
      "# Backup memory as data grows",
      "",
      `Command: \`npm run build && ${cmd}\``,
      "",
      `Run ${new Date().toISOString()} on ${spawnSync("nproc", { encoding: "utf8" }).stdout.trim()} cores, Node ${process.version}; ` +
        `${o.runs} runs per size and mode, interleaved; runner ${RUNNER.startsWith(REPO) ? RUNNER.slice(REPO.length + 1) : RUNNER}; total ${((Date.now() - started) / 1000).toFixed(0)} s.`,
      "PostgreSQL 15 and s3rver on loopback, started by the script. `lifeboat-runner backup` with default flags " +
        `(zstd level 3, 16 MiB parts, 3 parts in flight)${o.runnerArgs.length ? `, plus \`${o.runnerArgs.join(" ")}\`` : ""}.`,
      "",
      table,
      "",
      ...ratios,
      "",
      "How it is measured: \"peak RSS runner\" is the node process's VmHWM from /proc/<pid>/status (the kernel's peak RSS, " +
        "read every 50 ms until exit); \"peak RSS tree\" is the largest sum of VmRSS of the runner and all its descendants " +
        "(pg_dump, zstd, age) in one 50 ms sample. The PostgreSQL backend and s3rver are separate processes and not counted. " +
        "Spread is half the range (max − min) of wall times.",
      "",
      "Per run:",
      "",
      "| run | mode | size | wall | runner | tree | per tool peak |",
      "|---|---|---|---|---|---|---|",
      ...results.map((r) => `| ${r.run + 1} | ${r.mode} | ${r.size} MB | ${r.wall.toFixed(2)} s | ${mb(r.runner)} MiB | ${mb(r.tree)} MiB | ${Object.entries(r.perTool).map(([k, v]) => `${k} ${mb(v)}`).join(", ")} |`),
      "",
    ].join("\n");
    process.stdout.write(`\n${table}\n\n${ratios.join("\n")}\n`);
    if (o.out) {
      writeFileSync(o.out, md);
      process.stderr.write(`wrote ${o.out}\n`);
    }
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  process.stderr.write(`bench/backup-memory: ${e.stack || e}\n`);
  process.exit(1);
});
