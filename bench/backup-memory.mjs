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
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { headerHelp, mb, median, MiB, need, REPO } from "./lib/util.mjs";
import { buildDatabase, startPostgres } from "./lib/postgres.mjs";
import { startS3 } from "./lib/s3.mjs";
import { measure } from "./lib/measure.mjs";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
let RUNNER = join(REPO, "runner/bin/lifeboat-runner.js");

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
      process.stdout.write(headerHelp(import.meta.url));
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!o.sizes.length || o.sizes.some((s) => !(s > 0))) throw new Error("--sizes: comma-separated positive MB, e.g. 250,1000 or 20,40");
  if (!(o.runs >= 1)) throw new Error("--runs: at least 1");
  for (const m of o.modes) if (m !== "s3" && m !== "local") throw new Error(`--modes: s3 and/or local, got ${m}`);
  return o;
}

/** Runs the runner, sampling memory every `ms`; resolves with wall time, peaks and stdout. */
async function measured(args, env, ms) {
  const r = await measure(process.execPath, [RUNNER, ...args], { env, ms });
  return { wall: r.wall, stdout: r.stdout, peak: { runnerHwm: r.peak.rootHwm, runnerRss: r.peak.rootRss, tree: r.peak.tree, perTool: r.peak.perTool } };
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
