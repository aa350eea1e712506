#!/usr/bin/env node
// Lifeboat benchmarks (issues 8, 12): backup and restore side by side with the unavoidable work, stock
// tools at their best and what teams run today; local mode beside the stock local pipeline and
// restic; memory as data grows; plan cost as topologies grow.
//
//   npm run build && node bench/run.mjs [--sizes 500,1000] [--runs 3] [--cases backup,restore,plan]
//                                       [--plan-sources 1,10,50] [--plan-envs 1,5,20] [--out DIR]
//
//   --sizes         database sizes in MB (10^6 bytes of pg_database_size), e.g. 20,40 for a smoke run
//   --runs          runs per case (default 3); cases run interleaved, one round after another
//   --cases         comma-separated case names or groups (backup, restore, plan), e.g.
//                   backup/lifeboat,restore/limit; default: all (restic cases need `restic`)
//   --plan-sources  source counts for `lifeboat plan` (default 1,10,50)
//   --plan-envs     environment counts for one program with N DisasterRecovery (default 1,5,20)
//   --out DIR       where results.md and results.json go (default bench/)
//   --render FILE   only re-render DIR/results.md from an earlier results.json (e.g. after editing
//                   bench/notes.md, the hand-written analysis appended to the report)
//
// Starts its own PostgreSQL 15 (as the `postgres` OS user, loopback) and s3rver (loopback, bucket
// `bench`), builds one mixed-content database per size (bench/lib/postgres.mjs) and prepares, once
// and untimed, the objects the restore cases read. Each round runs every backup and restore case
// at every size and every plan case once; the case order rotates from round to round. Between
// restores the target database is dropped and recreated and the cluster checkpointed (untimed).
// Every restic run backs up into a fresh local repository (initialised untimed, password from
// RESTIC_PASSWORD): a full backup each time, as every Lifeboat run stores the whole dump.
// Wall time is from spawn to exit; peak RSS is the largest sum of VmRSS over the process tree
// (the shell, pg_dump, zstd, age, rclone, gzip, pg_restore, node) in one 50 ms sample
// (bench/lib/measure.mjs); PostgreSQL backends and s3rver are not counted. Spread is min–max.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { dirBytes, headerHelp, machineInfo, MiB, median, need, REPO, requireFromRepo } from "./lib/util.mjs";
import { buildDatabase, startPostgres } from "./lib/postgres.mjs";
import { BUCKET, startS3 } from "./lib/s3.mjs";
import { measure } from "./lib/measure.mjs";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const RUNNER = join(REPO, "runner/bin/lifeboat-runner.js");
const LIFEBOAT = join(REPO, "bin/lifeboat.js");
const PLAN_PROGRAM = join(REPO, "bench/lib/plan-program.cjs");
const TARGET_DB = "restore_target";

const BACKUP = [
  "backup/unavoidable", "backup/stock-streaming", "backup/today", "backup/lifeboat",
  "backup/stock-local", "backup/stock-local-sha256", "backup/stock-local-sha256-scan", "backup/restic-local", "backup/lifeboat-local",
];
const RESTORE = ["restore/limit", "restore/stock-streaming", "restore/today", "restore/lifeboat"];
const PLAN = ["plan/sources", "plan/environments"];
const ALL = [...BACKUP, ...RESTORE, ...PLAN];

// ---------- arguments ----------
function parseArgs(argv) {
  const o = { sizes: [500, 1000], runs: 3, cases: ALL, planSources: [1, 10, 50], planEnvs: [1, 5, 20], out: join(REPO, "bench"), sampleMs: 50 };
  const nums = (s, what) => {
    const xs = s.split(",").map((x) => Number(x.trim()));
    if (!xs.length || xs.some((x) => !(x > 0))) throw new Error(`${what}: comma-separated positive numbers, got ${s}`);
    return xs;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--sizes") o.sizes = nums(next(), "--sizes");
    else if (a === "--runs") o.runs = Number(next());
    else if (a === "--cases") {
      const want = next().split(",").map((s) => s.trim()).filter(Boolean);
      const picked = new Set();
      for (const w of want) {
        const hit = ALL.filter((c) => c === w || c.startsWith(`${w}/`));
        if (!hit.length) throw new Error(`--cases: unknown case ${w} (cases: ${ALL.join(", ")}; groups: backup, restore, plan)`);
        hit.forEach((c) => picked.add(c));
      }
      o.cases = ALL.filter((c) => picked.has(c));
    } else if (a === "--plan-sources") o.planSources = nums(next(), "--plan-sources").map(Math.round);
    else if (a === "--plan-envs") o.planEnvs = nums(next(), "--plan-envs").map(Math.round);
    else if (a === "--out") o.out = resolve(next());
    else if (a === "--render") o.render = resolve(next());
    else if (a === "--help" || a === "-h") {
      process.stdout.write(headerHelp(import.meta.url));
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!(Number.isInteger(o.runs) && o.runs >= 1)) throw new Error("--runs: a whole number, at least 1");
  return o;
}

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const bash = (script) => ["bash", ["-c", `set -o pipefail\n${script}`]];
const log = (s) => process.stderr.write(s + "\n");

// ---------- plan inputs ----------
const AGE_PUBLIC = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
/** One environment's `lifeboat:` config: R2 primary, S3 replica, N directory sources at 03:00 daily. */
function planConfig(sources, environment) {
  return {
    // A bench stack's name names no profile, so it states one (as any such stack must).
    profile: "development",
    storage: { provider: "r2", accountId: "0123456789abcdef0123456789abcdef" },
    replicas: [{ provider: "s3", region: "eu-central-1" }],
    sources: Array.from({ length: sources }, (_, i) => ({ name: `files-${i + 1}`, kind: "directory", path: `/srv/data/${i + 1}`, schedule: "0 3 * * *" })),
    ageRecipients: [AGE_PUBLIC],
    ...(environment ? { environment } : {}),
  };
}
function writePlanInputs(dir, o) {
  mkdirSync(dir, { recursive: true });
  const YAML = requireFromRepo("yaml");
  const files = { sources: {}, environments: {} };
  for (const n of o.planSources) {
    const cfg = Object.fromEntries(Object.entries(planConfig(n)).map(([k, v]) => [`lifeboat:${k}`, v]));
    const file = join(dir, `Pulumi.bench-${n}-sources.yaml`);
    writeFileSync(file, YAML.stringify({ config: cfg }));
    files.sources[n] = file;
  }
  for (const n of o.planEnvs) {
    const configs = Array.from({ length: n }, (_, i) => planConfig(1, `env-${i + 1}`));
    const file = join(dir, `program-${n}-environments.js`);
    writeFileSync(
      file,
      [
        `// ${n} environments in one program, each validated like index.ts validates its stack config.`,
        `const { DisasterRecovery } = require(${JSON.stringify(join(REPO, "dist/components"))});`,
        `const { validateStackConfig } = require(${JSON.stringify(join(REPO, "dist/components/config/validate"))});`,
        `const configs = ${JSON.stringify(configs)};`,
        `for (const raw of configs) {`,
        `  const config = validateStackConfig(raw, raw.environment);`,
        `  new DisasterRecovery(\`lifeboat-\${config.environment}\`, { config });`,
        `}`,
        "",
      ].join("\n"),
    );
    files.environments[n] = file;
  }
  return files;
}

/**
 * DIR/results.md as `md`, keeping the point-in-time section bench/pitr.mjs results were pasted
 * into (its own run, beside pgBackRest): this script measures backup, restore and plan only.
 */
function writeResults(dir, md) {
  const file = join(dir, "results.md");
  const old = existsSync(file) ? readFileSync(file, "utf8") : "";
  const pitr = old.indexOf("\n## Point-in-time restore");
  writeFileSync(file, pitr >= 0 ? `${md.trimEnd()}\n${old.slice(pitr)}` : md);
}

// ---------- main ----------
async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.render) {
    const doc = JSON.parse(readFileSync(o.render, "utf8"));
    const md = renderMarkdown(doc);
    mkdirSync(o.out, { recursive: true });
    writeResults(o.out, md);
    process.stdout.write(md.split("\n## Per run")[0] + "\n");
    return;
  }
  const started = Date.now();
  const dbCases = o.cases.filter((c) => !c.startsWith("plan/"));
  const planCases = o.cases.filter((c) => c.startsWith("plan/"));
  if (dbCases.length) for (const t of ["pg_dump", "pg_restore", "zstd", "age", "age-keygen", "rclone", "gzip", "gunzip", "bash"]) need(t);
  if (dbCases.includes("backup/restic-local")) need("restic");
  if (dbCases.some((c) => c.startsWith("backup/stock-local-sha256"))) for (const t of ["perl", "openssl", "wc"]) need(t);
  for (const f of [join(REPO, "runner/dist/cli.js"), join(REPO, "dist/cli/lifeboat.js"), join(REPO, "dist/components/index.js")]) {
    if (!existsSync(f)) throw new Error(`${f} missing: run \`npm run build\` first`);
  }
  const { backupArgs, restoreArgs } = requireFromRepo("lifeboat-core");
  const work = mkdtempSync(join(tmpdir(), "lifeboat-bench-"));
  const keyFile = join(work, "key.txt");
  let pg, s3;
  const cleanup = async () => {
    await s3?.stop().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  };
  process.once("SIGINT", () => cleanup().finally(() => process.exit(130)));
  try {
    const env = {
      PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      RESTIC_PASSWORD: "bench-only-restic-password", RESTIC_CACHE_DIR: join(work, "restic-cache"),
    };
    const dbs = [];
    let recipient;
    if (dbCases.length) {
      execFileSync("age-keygen", ["-o", keyFile], { stdio: "ignore" });
      recipient = readFileSync(keyFile, "utf8").match(/public key: (age1[0-9a-z]+)/)[1];
      log("starting PostgreSQL and s3rver on loopback...");
      pg = await startPostgres();
      s3 = await startS3();
      // AWS_CA_BUNDLE is deliberately absent: rclone 1.60 fails with it set.
      Object.assign(env, { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" }, s3.rcloneEnv());
      for (const size of o.sizes) {
        const t = Date.now();
        const db = `bench_${String(size).replace(/\W/g, "_")}`;
        const bytes = await buildDatabase(pg, db, size);
        dbs.push({ size, db, bytes, url: pg.url(db) });
        log(`built ${db}: ${(bytes / 1e6).toFixed(0)} MB on disk in ${((Date.now() - t) / 1000).toFixed(0)} s`);
      }
    }
    const dest = `s3://${BUCKET}/lifeboat`;
    const common = () => ({ dest, endpoint: s3.endpoint, region: "us-east-1", json: true, stateFile: join(work, "state.json"), workDir: work });
    const rcl = (key) => `bench:${BUCKET}/${key}`;
    // rclone tuned as a careful operator would: 16 MiB parts like the runner, 4 in flight (default).
    const RCAT = "rclone rcat --s3-chunk-size 16M --s3-upload-concurrency 4";
    // `aws s3 cp` does not hash the whole file before a multipart upload; rclone does unless told not to.
    const COPY = "rclone copyto --s3-chunk-size 16M --s3-upload-concurrency 4 --s3-disable-checksum";
    const stockBackup = (d, key) => `pg_dump -Fc -Z0 -d ${q(d.url)} | zstd -T0 -3 -q -c | age -r ${recipient} | ${RCAT} ${q(rcl(key))}`;
    const stockLocal = (d, file) => `pg_dump -Fc -Z0 -d ${q(d.url)} | zstd -T0 -3 -q -c | age -r ${recipient} > ${q(file)}`;
    // The least a local backup that records its stored bytes' sha256 adds to the stock pipeline: a
    // kernel tee (tee(2)/splice(2), the runner's own, runner/dist/kernelTee.js) of age's output into
    // OpenSSL's sha256 (SHA-NI where the CPU has it; coreutils sha256sum is ~3x slower here). The
    // `-scan` variant also tees the raw archive into `wc -l`: the least that reading every raw byte
    // once costs, which exact row counts need. Neither parses anything or writes a manifest.
    const teeScript = join(work, "kernel-tee.pl");
    writeFileSync(teeScript, requireFromRepo(join(REPO, "runner/dist/kernelTee.js")).TEE_SCRIPT);
    const hashStored = (file) => `perl ${q(teeScript)} 3>&1 > ${q(file)} 4>&- | openssl dgst -sha256 > ${q(`${file}.sha256`)} 4>&-`;
    const stockLocalSha256 = (d, file) => `pg_dump -Fc -Z0 -d ${q(d.url)} | zstd -T0 -3 -q -c | age -r ${recipient} | ${hashStored(file)}`;
    const stockLocalSha256Scan = (d, file) =>
      `{ pg_dump -Fc -Z0 -d ${q(d.url)} | perl ${q(teeScript)} 3>&4 4>&- | zstd -T0 -3 -q -c 4>&- | age -r ${recipient} 4>&- | ${hashStored(file)}; } 4>&1 | wc -l > ${q(`${file}.lines`)}`;
    const todayBackup = (d, file, key) => `pg_dump -Fc -d ${q(d.url)} | gzip > ${q(file)} && ${COPY} ${q(file)} ${q(rcl(key))}`;

    // ----- restore inputs, once per size, untimed -----
    const inputs = {};
    if (o.cases.some((c) => c.startsWith("restore/"))) {
      for (const d of dbs) {
        const t = Date.now();
        const plain = join(work, `plain-${d.size}.dump`);
        const stockKey = `stock-restore/${d.size}.dump.zst.age`;
        const todayKey = `today-restore/${d.size}.dump.gz`;
        const gz = join(work, `today-prep-${d.size}.dump.gz`);
        await measure(...bash(`pg_dump -Fc -Z0 -d ${q(d.url)} -f ${q(plain)}`), { env });
        await measure(...bash(stockBackup(d, stockKey)), { env });
        await measure(...bash(`${todayBackup(d, gz, todayKey)} && rm -f ${q(gz)}`), { env });
        const lb = await measure(process.execPath, [RUNNER, ...backupArgs({ source: "postgres", name: `restore-${d.size}`, url: d.url, recipients: [recipient], ...common() })], { env });
        inputs[d.size] = {
          plain, plainBytes: statSync(plain).size,
          stockKey, stockBytes: await s3.storedBytes(stockKey),
          todayKey, todayBytes: await s3.storedBytes(todayKey),
          lifeboatBytes: JSON.parse(lb.stdout).manifest.storedBytes,
        };
        log(`prepared restore inputs for ${d.size} MB in ${((Date.now() - t) / 1000).toFixed(0)} s`);
      }
    }
    const planFiles = planCases.length ? writePlanInputs(join(work, "plan"), o) : undefined;

    // ----- one timed case -----
    /** Returns { wall, rss, stored, detail } for one run of `name` at `d` (a db) or `n` (plan). */
    const runCase = async (name, d, run) => {
      const tmp = join(work, `t-${run}`);
      mkdirSync(tmp, { recursive: true });
      const m = (cmd, args) => measure(cmd, args, { env, ms: o.sampleMs, cwd: REPO });
      if (name.startsWith("restore/")) {
        await pg.recreate(TARGET_DB);
        await pg.query("postgres", "CHECKPOINT");
      } else if (d.url) await pg.query("postgres", "CHECKPOINT");
      const target = pg?.url(TARGET_DB);
      const inp = inputs[d.size];
      let r, stored;
      switch (name) {
        case "backup/unavoidable":
          r = await m(...bash(`pg_dump -Fc -Z0 -d ${q(d.url)} | zstd -T0 -3 -q -c > /dev/null`));
          stored = null;
          break;
        case "backup/stock-streaming": {
          const key = `stock/${d.size}/${run}.dump.zst.age`;
          r = await m(...bash(stockBackup(d, key)));
          stored = await s3.storedBytes(key);
          await s3.removeAll(key);
          break;
        }
        case "backup/today": {
          const key = `today/${d.size}/${run}.dump.gz`;
          const file = join(tmp, "today.dump.gz");
          r = await m(...bash(todayBackup(d, file, key)));
          stored = await s3.storedBytes(key);
          await s3.removeAll(key);
          rmSync(file, { force: true });
          break;
        }
        case "backup/lifeboat": {
          r = await m(process.execPath, [RUNNER, ...backupArgs({ source: "postgres", name: `bench-${d.size}`, url: d.url, recipients: [recipient], ...common() })]);
          stored = JSON.parse(r.stdout).manifest.storedBytes;
          await s3.removeAll(`lifeboat/bench-${d.size}/`);
          break;
        }
        case "backup/stock-local": {
          const file = join(tmp, "stock.dump.zst.age");
          r = await m(...bash(stockLocal(d, file)));
          stored = statSync(file).size;
          break;
        }
        case "backup/stock-local-sha256":
        case "backup/stock-local-sha256-scan": {
          const file = join(tmp, "stock.dump.zst.age");
          const scan = name === "backup/stock-local-sha256-scan";
          r = await m(...bash((scan ? stockLocalSha256Scan : stockLocalSha256)(d, file)));
          if (!/^SHA2?-256\(stdin\)= [0-9a-f]{64}$/m.test(readFileSync(`${file}.sha256`, "utf8"))) throw new Error(`${name}: no sha256 from openssl`);
          if (scan && !(Number(readFileSync(`${file}.lines`, "utf8")) > 0)) throw new Error(`${name}: wc -l read no raw bytes`);
          stored = statSync(file).size;
          break;
        }
        case "backup/restic-local": {
          const repo = join(tmp, "restic");
          execFileSync("restic", ["init", "--quiet", "--repo", repo], { env, stdio: "ignore" });
          r = await m(...bash(`pg_dump -Fc -Z0 -d ${q(d.url)} | restic backup --quiet --repo ${q(repo)} --stdin --stdin-filename ${q(`${d.db}.dump`)}`));
          stored = dirBytes(join(repo, "data"));
          break;
        }
        case "backup/lifeboat-local": {
          const { dest: _d, endpoint: _e, region: _r, ...local } = common();
          r = await m(process.execPath, [RUNNER, ...backupArgs({ source: "postgres", name: `bench-${d.size}`, url: d.url, recipients: [recipient], ...local, noUpload: true, localDir: join(tmp, "local") })]);
          stored = JSON.parse(r.stdout).manifest.storedBytes;
          break;
        }
        case "restore/limit":
          r = await m("pg_restore", ["-j2", "--no-owner", "-d", target, inp.plain]);
          stored = inp.plainBytes;
          break;
        case "restore/stock-streaming":
          // pg_restore cannot run parallel jobs from a pipe (it needs to seek): one job.
          r = await m(...bash(`rclone cat ${q(rcl(inp.stockKey))} | age -d -i ${q(keyFile)} | zstd -d -q -c | pg_restore --no-owner -d ${q(target)}`));
          stored = inp.stockBytes;
          break;
        case "restore/today": {
          const gz = join(tmp, "today.dump.gz");
          r = await m(...bash(`${COPY} ${q(rcl(inp.todayKey))} ${q(gz)} && gunzip -f ${q(gz)} && pg_restore --no-owner -d ${q(target)} ${q(gz.replace(/\.gz$/, ""))}`));
          rmSync(gz.replace(/\.gz$/, ""), { force: true });
          stored = inp.todayBytes;
          break;
        }
        case "restore/lifeboat":
          r = await m(process.execPath, [RUNNER, ...restoreArgs({ name: `restore-${d.size}`, identity: keyFile, targetUrl: target, jobs: 2, ...common() })]);
          stored = inp.lifeboatBytes;
          break;
        case "plan/sources":
          r = await m(process.execPath, [LIFEBOAT, "plan", "--config", planFiles.sources[d.n], "--cwd", REPO]);
          stored = null;
          break;
        case "plan/environments":
          r = await m(process.execPath, [PLAN_PROGRAM, planFiles.environments[d.n], "bench-envs"]);
          stored = null;
          break;
        default:
          throw new Error(`no case ${name}`);
      }
      rmSync(tmp, { recursive: true, force: true });
      return { wall: r.wall, rss: r.peak.tree, rootHwm: r.peak.rootHwm, perTool: r.peak.perTool, stored };
    };

    // ----- rounds -----
    const rotate = (xs, k) => (xs.length ? xs.map((_, i) => xs[(i + k) % xs.length]) : xs);
    const points = []; // {name, d}
    const results = new Map(); // key -> runs
    const keyOf = (name, d) => `${name}@${d.n ?? d.size}`;
    const load = [{ at: "start", loadavg1: loadavg()[0] }];
    for (let run = 0; run < o.runs; run++) {
      const order = [];
      for (const d of dbs) {
        for (const c of rotate(BACKUP.filter((c) => o.cases.includes(c)), run)) order.push([c, d]);
        for (const c of rotate(RESTORE.filter((c) => o.cases.includes(c)), run)) order.push([c, d]);
      }
      const planPoints = [];
      for (const c of planCases) for (const n of c === "plan/sources" ? o.planSources : o.planEnvs) planPoints.push([c, { n }]);
      order.push(...rotate(planPoints, run));
      for (const [name, d] of order) {
        const k = keyOf(name, d);
        if (!results.has(k)) {
          results.set(k, []);
          points.push({ name, d });
        }
        const r = await runCase(name, d, run);
        results.get(k).push(r);
        log(`run ${run + 1}/${o.runs} ${name} ${d.n !== undefined ? `n=${d.n}` : `${d.size} MB`}: ${r.wall.toFixed(2)} s, peak ${(r.rss / MiB).toFixed(1)} MiB` +
          `${r.stored ? `, ${(r.stored / MiB).toFixed(1)} MiB stored` : ""}`);
      }
      load.push({ at: `after round ${run + 1}`, loadavg1: loadavg()[0] });
    }

    // ----- summary -----
    const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
    const cases = points.map(({ name, d }) => {
      const rs = results.get(keyOf(name, d));
      const plan = name.startsWith("plan/");
      const stored = rs.map((r) => r.stored).filter((x) => x !== null && x !== undefined);
      return {
        name,
        group: name.split("/")[0],
        size: plan ? d.n : d.size,
        sizeUnit: plan ? (name === "plan/sources" ? "sources" : "environments") : "MB",
        ...(plan ? {} : { databaseBytes: d.bytes }),
        runs: rs.length,
        wallSeconds: { ...stats(rs.map((r) => r.wall)), spread: "min-max" },
        peakRssBytes: { ...stats(rs.map((r) => r.rss)), spread: "min-max", of: "whole process tree, sum of VmRSS per 50 ms sample" },
        rootPeakRssBytes: stats(rs.map((r) => r.rootHwm)),
        storedBytes: stored.length ? median(stored) : null,
        ...(name.startsWith("restore/") ? { storedBytesMeans: "bytes of the object or file the restore reads" } : {}),
        perRun: rs.map((r) => ({ wallSeconds: r.wall, peakRssBytes: r.rss, rootPeakRssBytes: r.rootHwm, storedBytes: r.stored, perToolPeakRssBytes: r.perTool })),
      };
    });
    const machine = machineInfo();
    const cmd = `node bench/run.mjs ${process.argv.slice(2).join(" ")}`.trim();
    const doc = { command: `npm run build && ${cmd}`, date: new Date().toISOString(), machine, runs: o.runs, totalSeconds: (Date.now() - started) / 1000, load, cases };
    const md = renderMarkdown(doc);
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, "results.json"), JSON.stringify(doc, null, 2) + "\n");
    writeResults(o.out, md);
    process.stdout.write(md.split("\n## Per run")[0] + "\n");
    log(`wrote ${join(o.out, "results.md")} and results.json in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await cleanup();
  }
}

// ---------- report ----------
const fmtS = (x) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtMiB = (b) => (b / MiB).toFixed(1);
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : "—");

/** The databases the backup/restore cases ran on, from the results themselves. */
function databasesOf(doc) {
  const seen = new Map();
  for (const c of doc.cases) if (c.sizeUnit === "MB" && !seen.has(c.size)) seen.set(c.size, { size: c.size, bytes: c.databaseBytes });
  return [...seen.values()];
}

function renderMarkdown(doc) {
  const dbs = databasesOf(doc);
  const get = (name, size) => doc.cases.find((c) => c.name === name && c.size === size);
  const wall = (c) => `${fmtS(c.wallSeconds.median)} s (${fmtS(c.wallSeconds.min)}–${fmtS(c.wallSeconds.max)})`;
  const rss = (c) => `${fmtMiB(c.peakRssBytes.median)} MiB (${fmtMiB(c.peakRssBytes.min)}–${fmtMiB(c.peakRssBytes.max)})`;
  const m = doc.machine;
  const out = [
    "# Lifeboat benchmarks",
    "",
    `Command: \`${doc.command}\``,
    "",
    `Run ${doc.date}, ${doc.runs} run(s) per case, interleaved (case order rotates each round), total ${doc.totalSeconds.toFixed(0)} s. ` +
      `Machine: ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}, ${m.postgres}, zstd ${m.tools.zstd}, age ${m.tools.age}, ${m.tools.rclone}` +
      `${m.tools.restic ? `, ${m.tools.restic}` : ""}. ` +
      "Other work on the same cores adds noise; the min–max spreads show how much, and bench/notes.md says what the run had to share.",
    ...(doc.load ? ["", `Load average (1 min) on the ${m.cores} cores: ${doc.load.map((l) => `${l.loadavg1.toFixed(1)} ${l.at}`).join(", ")}.`] : []),
    "",
    "Times are the median of the runs with min–max in parentheses; peak RSS is the largest sum of VmRSS over the whole process tree " +
      "(shell, pg_dump, zstd, age, rclone, gzip, pg_restore, node) in one 50 ms sample, median (min–max) of the runs. " +
      "PostgreSQL server processes and s3rver (the S3 stand-in on loopback) are shared by all cases and not counted. " +
      "Ratios compare medians: the case's wall time divided by the baseline's.",
    "",
  ];
  const backupRows = [], restoreRows = [];
  for (const d of dbs) {
    const label = `${(d.bytes / 1e6).toFixed(0)} MB`;
    const un = get("backup/unavoidable", d.size), st = get("backup/stock-streaming", d.size), sl = get("backup/stock-local", d.size), td = get("backup/today", d.size);
    for (const name of BACKUP) {
      const c = get(name, d.size);
      if (!c) continue;
      backupRows.push(`| ${label} | ${name.slice(7)} | ${wall(c)} | ${ratio(c.wallSeconds.median, un?.wallSeconds.median)} | ${ratio(c.wallSeconds.median, st?.wallSeconds.median)} | ` +
        `${ratio(c.wallSeconds.median, sl?.wallSeconds.median)} | ${ratio(c.wallSeconds.median, td?.wallSeconds.median)} | ${rss(c)} | ${c.storedBytes ? `${fmtMiB(c.storedBytes)} MiB` : "— (discarded)"} |`);
    }
    const li = get("restore/limit", d.size), rs = get("restore/stock-streaming", d.size), rt = get("restore/today", d.size);
    for (const name of RESTORE) {
      const c = get(name, d.size);
      if (!c) continue;
      restoreRows.push(`| ${label} | ${name.slice(8)} | ${wall(c)} | ${ratio(c.wallSeconds.median, li?.wallSeconds.median)} | ${ratio(c.wallSeconds.median, rs?.wallSeconds.median)} | ` +
        `${ratio(c.wallSeconds.median, rt?.wallSeconds.median)} | ${rss(c)} | ${fmtMiB(c.storedBytes)} MiB |`);
    }
  }
  if (backupRows.length) {
    out.push(
      "## Backup",
      "",
      "- **unavoidable**: `pg_dump -Fc -Z0 | zstd -T0 -3 > /dev/null` (no encryption, no upload).",
      "- **stock-streaming**: `pg_dump -Fc -Z0 | zstd -T0 -3 | age -r KEY | rclone rcat --s3-chunk-size 16M --s3-upload-concurrency 4 bench:bench/KEY`.",
      "- **today**: `pg_dump -Fc | gzip > FILE && rclone copyto --s3-chunk-size 16M --s3-upload-concurrency 4 --s3-disable-checksum FILE bench:bench/KEY` " +
        "(rclone stands in for `aws s3 cp`, which is not installed here; `--s3-disable-checksum` because `aws s3 cp` does not hash the file before uploading).",
      "- **lifeboat**: `lifeboat-runner backup --source postgres --url … --recipient KEY --dest s3://bench/lifeboat --endpoint … --json` " +
        "(argv from `backupArgs` in runner/dist; defaults: zstd -3 -T0, 16 MiB parts, 3 in flight, sha256, manifest, exact row counts read from the dump as it streams).",
      "- **stock-local**: `pg_dump -Fc -Z0 | zstd -T0 -3 | age -r KEY > FILE` (the stock local pipeline).",
      "- **stock-local-sha256**: the stock local pipeline plus the stored bytes' sha256: `… | age -r KEY | kernel-tee 3>&1 > FILE | openssl dgst -sha256` " +
        "(the runner's tee(2)/splice(2) tee; OpenSSL uses the CPU's SHA instructions). The least a backup that records its sha256 adds.",
      "- **stock-local-sha256-scan**: that plus one read of every raw byte: `pg_dump -Fc -Z0 | kernel-tee 3>(wc -l) | zstd … | age … | kernel-tee … | openssl dgst -sha256`. " +
        "The least exact row counts add on top (they need every raw byte read once); nothing is parsed and no manifest written. The floor for local mode.",
      "- **restic-local**: `pg_dump -Fc -Z0 | restic backup --stdin` into a fresh local repository each run (restic's own chunking, compression and encryption; " +
        "restic cannot use the S3 stand-in).",
      "- **lifeboat-local**: the same `lifeboat-runner backup` in local mode: `--no-upload --local-dir DIR` (sha256, manifest, exact row counts).",
      "",
      "| database | case | wall | × unavoidable | × stock streaming | × stock local | × today | peak RSS (tree) | stored |",
      "|---|---|---|---|---|---|---|---|---|",
      ...backupRows,
      "",
      ...pairTable(doc),
    );
  }
  if (restoreRows.length) {
    out.push(
      "## Restore into a fresh database",
      "",
      "The target database is dropped and recreated (untimed) before every run; every restore reads the same prepared object.",
      "",
      "- **limit**: `pg_restore -j2 --no-owner -d TARGET FILE` from a local, uncompressed (`-Z0`) custom-format dump.",
      "- **stock-streaming**: `rclone cat bench:bench/KEY | age -d -i KEY | zstd -d | pg_restore --no-owner -d TARGET`. " +
        "One job: pg_restore cannot run parallel jobs from a pipe (it must seek in the archive).",
      "- **today**: `rclone copyto` (download) `&& gunzip && pg_restore --no-owner -d TARGET FILE` (one job, as the scripts teams run do).",
      "- **lifeboat**: `lifeboat-runner restore --name … --identity KEY --target-url TARGET --jobs 2 --dest … --json`: " +
        "downloads and decodes (sha256 checked, age -d, zstd -d) to a work-dir file, then `pg_restore --clean --if-exists --no-owner --jobs=2`, then counts rows in every table and compares with the manifest.",
      "",
      "| database | case | wall | × limit | × stock streaming | × today | peak RSS (tree) | bytes read |",
      "|---|---|---|---|---|---|---|---|",
      ...restoreRows,
      "",
    );
  }
  // memory
  const lbs = dbs.map((d) => get("backup/lifeboat", d.size)).filter(Boolean);
  if (lbs.length) {
    out.push(
      "## Backup memory as data grows (`lifeboat-runner backup`)",
      "",
      "| database | peak RSS, whole tree (max of runs) | peak RSS, runner node process (VmHWM, max of runs) |",
      "|---|---|---|",
      ...lbs.map((c) => `| ${(c.databaseBytes / 1e6).toFixed(0)} MB | ${fmtMiB(c.peakRssBytes.max)} MiB = ${(c.peakRssBytes.max / 1e6).toFixed(0)} MB | ${fmtMiB(c.rootPeakRssBytes.max)} MiB = ${(c.rootPeakRssBytes.max / 1e6).toFixed(0)} MB |`),
      "",
    );
  }
  // plan
  const planTables = [];
  for (const name of PLAN) {
    const cs = doc.cases.filter((c) => c.name === name).sort((a, b) => a.size - b.size);
    if (!cs.length) continue;
    const rows = cs.map((c, i) => {
      const prev = cs[i - 1];
      const slope = prev ? `${((c.wallSeconds.median - prev.wallSeconds.median) / (c.size - prev.size) * 1000).toFixed(0)} ms` : "—";
      return `| ${c.size} ${c.size === 1 ? c.sizeUnit.replace(/s$/, "") : c.sizeUnit} | ${wall(c)} | ${slope} | ${rss(c)} |`;
    });
    planTables.push(`| ${name === "plan/sources" ? "`lifeboat plan --config` with" : "one program with"} | wall | added per ${name === "plan/sources" ? "source" : "environment"} (vs previous row) | peak RSS |`, "|---|---|---|---|", ...rows, "");
  }
  if (planTables.length) {
    out.push(
      "## Plan cost as topologies grow",
      "",
      "- **sources**: `node bin/lifeboat.js plan --config Pulumi.bench-N-sources.yaml`: R2 primary, S3 replica in eu-central-1, N directory sources " +
        "scheduled `0 3 * * *`, development profile (whole CLI: config validation, program under Pulumi mocks, policy pack, rendering).",
      "- **environments**: one program declaring N `DisasterRecovery` components from N validated configs (each the 1-source config above, its own " +
        "`environment`), run with `runPlan` from dist/cli/plan under the same mocks, then the policy pack (`bench/lib/plan-program.cjs`).",
      "",
      ...planTables,
    );
  }
  out.push("## Where the targets stand", "", ...targets(doc), "");
  const notesFile = join(REPO, "bench/notes.md");
  if (existsSync(notesFile)) out.push(readFileSync(notesFile, "utf8").trim(), "");
  // bench/scheduler-footprint.mjs writes its own report; it is a section of this one.
  const footprintFile = join(REPO, "bench/results-footprint.md");
  if (existsSync(footprintFile)) out.push(readFileSync(footprintFile, "utf8").trim().replace(/^# /, "## "), "");
  // bench/bucket.mjs (the bucket source) writes its own report too.
  const bucketFile = join(REPO, "bench/results-bucket.md");
  if (existsSync(bucketFile)) out.push(readFileSync(bucketFile, "utf8").trim().replace(/^# /, "## "), "");
  out.push(
    "## Per run",
    "",
    "| case | size | run | wall | peak RSS (tree) | per-process peak RSS |",
    "|---|---|---|---|---|---|",
    ...doc.cases.flatMap((c) => c.perRun.map((r, i) => `| ${c.name} | ${c.size} ${c.sizeUnit} | ${i + 1} | ${fmtS(r.wallSeconds)} s | ${fmtMiB(r.peakRssBytes)} MiB | ` +
      `${Object.entries(r.perToolPeakRssBytes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmtMiB(v)}`).join(", ")} |`)),
    "",
  );
  return out.join("\n");
}

/** Comparisons made within each round (the two runs minutes apart at most, under the same load). */
const PAIRS = [
  ["backup/lifeboat", "backup/stock-streaming", "backup to S3 / stock streaming"],
  ["backup/lifeboat-local", "backup/stock-local", "local mode / stock local"],
  ["backup/lifeboat-local", "backup/restic-local", "local mode / restic to local disk"],
  ["backup/stock-local-sha256", "backup/stock-local", "stock local + sha256 / stock local"],
  ["backup/stock-local-sha256-scan", "backup/stock-local", "stock local + sha256 + raw read / stock local (floor)"],
  ["backup/lifeboat-local", "backup/stock-local-sha256-scan", "local mode / the floor"],
];

/** Per-round ratios a/b: median and min–max, for each size both cases ran at. */
function pairRatios(doc, a, b) {
  return databasesOf(doc).flatMap((d) => {
    const ca = doc.cases.find((c) => c.name === a && c.size === d.size), cb = doc.cases.find((c) => c.name === b && c.size === d.size);
    if (!ca || !cb) return [];
    const rs = ca.perRun.map((r, i) => r.wallSeconds / cb.perRun[i].wallSeconds).filter((x) => Number.isFinite(x));
    return [{ d, median: median(rs), min: Math.min(...rs), max: Math.max(...rs), n: rs.length }];
  });
}

function pairTable(doc) {
  const rows = PAIRS.flatMap(([a, b, label]) => pairRatios(doc, a, b).map((p) =>
    `| ${(p.d.bytes / 1e6).toFixed(0)} MB | ${label} | ${p.median.toFixed(2)}× (${p.min.toFixed(2)}–${p.max.toFixed(2)}) | ${p.n} |`));
  if (!rows.length) return [];
  return [
    "Interleaved pairs: the ratio of the two cases' wall times within each round (they ran minutes apart at most, under the same load), " +
      "median and min–max over the rounds. On a shared machine these are the figures to quote.",
    "",
    "| database | pair | ratio per round | rounds |",
    "|---|---|---|---|",
    ...rows,
    "",
  ];
}

function targets(doc) {
  const dbs = databasesOf(doc);
  const get = (name, size) => doc.cases.find((c) => c.name === name && c.size === size);
  const med = (c) => c?.wallSeconds.median;
  const mark = (ok) => (ok ? "**met**" : "**missed**");
  const lines = [];
  const per = (fn) => dbs.map((d) => fn(d, `${(d.bytes / 1e6).toFixed(0)} MB`)).filter(Boolean);
  const check = (label, cases, limitText, f) => {
    const parts = per((d, l) => {
      const cs = cases.map((n) => get(n, d.size));
      if (cs.some((c) => !c)) return undefined;
      const [ok, text] = f(...cs.map(med));
      return { ok, text: `${l}: ${text}` };
    });
    if (parts.length) lines.push(`- ${label} (${limitText}): ${mark(parts.every((p) => p.ok))}. ${parts.map((p) => p.text).join("; ")}.`);
  };
  const pairCheck = (label, a, b, limit, limitText) => {
    const ps = pairRatios(doc, a, b);
    if (ps.length) {
      lines.push(`- ${label} (${limitText}, interleaved pairs): ${mark(ps.every((p) => p.median <= limit))}. ` +
        ps.map((p) => `${(p.d.bytes / 1e6).toFixed(0)} MB: ${p.median.toFixed(2)}× (${p.min.toFixed(2)}–${p.max.toFixed(2)})`).join("; ") + ".");
    }
  };
  pairCheck("Backup vs stock streaming", "backup/lifeboat", "backup/stock-streaming", 1.05, "≤ 1.05×");
  pairCheck("Local mode vs the stock local pipeline", "backup/lifeboat-local", "backup/stock-local", 1.05, "≤ 1.05×");
  pairCheck("Local mode vs restic to local disk", "backup/lifeboat-local", "backup/restic-local", 1.0, "at least as fast, ≤ 1.0×");
  check("Backup vs unavoidable work", ["backup/lifeboat", "backup/unavoidable"], "≤ 1.3×", (a, b) => [a / b <= 1.3, `${(a / b).toFixed(2)}×`]);
  check("Backup vs today's pipeline", ["backup/lifeboat", "backup/today"], "≥ 2× faster", (a, b) => [b / a >= 2, `${(b / a).toFixed(2)}× faster`]);
  check("Restore vs the limit", ["restore/lifeboat", "restore/limit"], "≤ 1.3×", (a, b) => [a / b <= 1.3, `${(a / b).toFixed(2)}×`]);
  check("Restore vs stock streaming", ["restore/lifeboat", "restore/stock-streaming"], "no slower, ≤ 1.0×", (a, b) => [a / b <= 1.0, `${(a / b).toFixed(2)}×`]);
  const lbs = dbs.map((d) => get("backup/lifeboat", d.size)).filter(Boolean);
  if (lbs.length) {
    const under = lbs.every((c) => c.peakRssBytes.max < 200e6);
    lines.push(`- Backup peak memory (< 200 MB at every size, whole tree, max of runs): ${mark(under)}. ` +
      lbs.map((c) => `${(c.databaseBytes / 1e6).toFixed(0)} MB: ${(c.peakRssBytes.max / 1e6).toFixed(0)} MB (runner alone ${(c.rootPeakRssBytes.max / 1e6).toFixed(0)} MB)`).join("; ") + ".");
    if (lbs.length >= 2) {
      const a = lbs[0], b = lbs[lbs.length - 1];
      const g = b.peakRssBytes.max / a.peakRssBytes.max, gr = b.rootPeakRssBytes.max / a.rootPeakRssBytes.max;
      lines.push(`- Backup memory growth (largest / smallest size ≤ 1.10): ${mark(g <= 1.1 && gr <= 1.1)}. Tree ${g.toFixed(3)}, runner ${gr.toFixed(3)}.`);
    }
  }
  const ps = doc.cases.filter((c) => c.name === "plan/sources").sort((a, b) => a.size - b.size);
  if (ps.length) {
    const at50 = ps.find((c) => c.size === 50);
    if (at50) lines.push(`- Plan with 50 sources (< 3 s): ${mark(at50.wallSeconds.median < 3)}. ${fmtS(at50.wallSeconds.median)} s median (max ${fmtS(at50.wallSeconds.max)} s).`);
    lines.push(...linearity("Plan cost in sources", ps, "source"));
  }
  const pe = doc.cases.filter((c) => c.name === "plan/environments").sort((a, b) => a.size - b.size);
  if (pe.length) lines.push(...linearity("Plan cost in environments (one program)", pe, "environment"));
  return lines;
}

/**
 * Linear when the cost added per unit between the last two points is at most twice the cost added
 * per unit between the first two (a quadratic term would grow it by ~(n3+n2)/(n2+n1), 4–6× here),
 * with a least-squares line's R² for reference.
 */
function linearity(label, cs, unit) {
  if (cs.length < 3) return [];
  const xs = cs.map((c) => c.size), ys = cs.map((c) => c.wallSeconds.median);
  const n = xs.length, mx = xs.reduce((a, b) => a + b) / n, my = ys.reduce((a, b) => a + b) / n;
  const b = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  const a0 = my - b * mx;
  const ssr = ys.reduce((a, y, i) => a + (y - (a0 + b * xs[i])) ** 2, 0), sst = ys.reduce((a, y) => a + (y - my) ** 2, 0);
  const r2 = sst ? 1 - ssr / sst : 1;
  const s1 = (ys[1] - ys[0]) / (xs[1] - xs[0]), s2 = (ys[n - 1] - ys[n - 2]) / (xs[n - 1] - xs[n - 2]);
  const ok = s2 <= 2 * Math.max(s1, 0.005);
  return [`- ${label} grows linearly: **${ok ? "yes" : "no"}**. Fit ${a0.toFixed(2)} s + ${(b * 1000).toFixed(0)} ms per ${unit} (R² ${r2.toFixed(3)}); ` +
    `added per ${unit}: ${(s1 * 1000).toFixed(0)} ms (${xs[0]}→${xs[1]}), ${(s2 * 1000).toFixed(0)} ms (${xs[n - 2]}→${xs[n - 1]}).`];
}

main().catch((e) => {
  process.stderr.write(`bench/run: ${e.stack || e}\n`);
  process.exit(1);
});
