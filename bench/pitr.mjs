#!/usr/bin/env node
// Point-in-time restore side by side: Lifeboat (wal-stream sidecar + basebackup to s3rver, restore
// with WAL fetched on demand by `lifeboat-runner wal-fetch`) and pgBackRest 2.x (archive_command
// archive-push with archive_timeout = the same flush interval, a local posix repository, restore
// with archive-get as restore_command), on one PostgreSQL 15 cluster under one write load.
//
//   npm run build && node bench/pitr.mjs [--minutes 3,20] [--rounds 2] [--flush 2] [--rate 50]
//
// 1. Both take a base backup, then a writer commits --rate transactions of ~20 KB a second for the
//    longest --minutes plus 30 s; a target time is noted each --minutes after the base backups.
// 2. Host loss: the server (every process of it) and the sidecar get SIGKILL at the same moment.
// 3. Rounds of restores, interleaved (the tool order alternates each round): each tool restores
//    to each target into a new directory and `pg_ctl start`s it; the wall time runs from the
//    restore command to the promoted server. Each restored server must hold exactly the rows
//    committed by its target (commit timestamps), or the run fails.
// 4. RPO on host loss: each tool restores to the end of its WAL; the loss is the time between the
//    writer's last acknowledged commit and the last one the restore holds.
// Prints markdown for bench/results.md. The machine is shared: the load average is printed.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startS3, BUCKET } from "./lib/s3.mjs";
import { descendants } from "./lib/measure.mjs";
import { freePort, headerHelp, machineInfo, median, need, pgBin, REPO, requireFromRepo, waitFor } from "./lib/util.mjs";

const argv = process.argv.slice(2);
if (argv.includes("--help")) {
  process.stdout.write(headerHelp(import.meta.url));
  process.exit(0);
}
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const MINUTES = opt("--minutes", "3,20").split(",").map(Number);
const ROUNDS = Number(opt("--rounds", "2"));
const FLUSH = Number(opt("--flush", "2"));
const RATE = Number(opt("--rate", "50")); // write transactions per second (~20 KB each): ~1 MB/s of WAL
for (const t of ["pgbackrest", "age", "age-keygen", "zstd", "tar"]) need(t);
const { Client } = requireFromRepo("pg");
const { restoreArgs, basebackupArgs, walStreamArgs } = requireFromRepo("lifeboat-core");
const RUNNER = join(REPO, "runner/bin/lifeboat-runner.js");

const ids = {
  uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim()),
  gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim()),
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const load = () => loadavg()[0].toFixed(1);
const log = (s) => process.stderr.write(`[${new Date().toISOString()}] ${s}\n`);

const root = mkdtempSync(join(tmpdir(), "lifeboat-bench-pitr-"));
chmodSync(root, 0o755);
const mine = (p, mode = 0o700) => {
  mkdirSync(p, { recursive: true, mode });
  chownSync(p, ids.uid, ids.gid);
  return p;
};
const pgdir = mine(join(root, "pg"));
const data = join(pgdir, "data");
const repo = mine(join(root, "pgbackrest-repo"));
const brDirs = { lock: mine(join(root, "br-lock")), log: mine(join(root, "br-log")), spool: mine(join(root, "br-spool")) };
const conf = join(root, "pgbackrest.conf");
const PASSWORD = "bench:p@ss/w%rd";
const REPL = { user: "lifeboat_repl", password: "repl-b3nch-pw" };
const asPg = (cmd, args, env = {}) => spawnSync(cmd, args, { ...ids, encoding: "utf8", env: { PATH: process.env.PATH, PGPASSWORD: PASSWORD, ...env }, cwd: root });

// --- the cluster
const pw = join(root, "pwfile");
writeFileSync(pw, PASSWORD + "\n", { mode: 0o600 });
chownSync(pw, ids.uid, ids.gid);
const init = asPg(pgBin("initdb"), ["-D", data, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pw}`, "--no-sync", "-E", "UTF8", "--locale=C"]);
rmSync(pw);
if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
writeFileSync(join(data, "pg_hba.conf"), `host replication ${REPL.user} 127.0.0.1/32 scram-sha-256\n` + readFileSync(join(data, "pg_hba.conf"), "utf8"));
const port = await freePort();
writeFileSync(
  conf,
  `[global]\nrepo1-path=${repo}\nrepo1-retention-full=2\nlock-path=${brDirs.lock}\nlog-path=${brDirs.log}\nspool-path=${brDirs.spool}\nlog-level-console=warn\nlog-level-file=off\nstart-fast=y\n\n[bench]\npg1-path=${data}\npg1-port=${port}\npg1-socket-path=${pgdir}\n`,
);
chmodSync(conf, 0o644);
const server = spawn(
  pgBin("postgres"),
  ["-D", data, "-p", String(port), "-k", pgdir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "track_commit_timestamp=on", "-c", "wal_level=replica",
    "-c", "archive_mode=on", "-c", `archive_command=pgbackrest --config=${conf} --stanza=bench archive-push %p`, "-c", `archive_timeout=${FLUSH}s`, "-c", "max_wal_size=2GB"],
  { ...ids, stdio: ["ignore", "ignore", "pipe"] },
);
let serverLog = "";
server.stderr.on("data", (b) => (serverLog = (serverLog + b).slice(-4000)));
const url = (db, user = "postgres", password = PASSWORD, p = port) => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${p}/${db}`;
const query = async (sql, u = url("app")) => {
  const c = new Client({ connectionString: u });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
};
await waitFor(`postgres (${serverLog})`, async () => (await query("SELECT 1", url("postgres")), true));
await query(`CREATE ROLE ${REPL.user} LOGIN REPLICATION PASSWORD '${REPL.password}'`, url("postgres"));
await query("CREATE DATABASE app", url("postgres"));
await query("CREATE TABLE ticks (id bigserial PRIMARY KEY); CREATE TABLE filler (x text)");

// --- Lifeboat: bucket, key, sidecar
const s3 = await startS3();
const keyDir = mkdtempSync(join(tmpdir(), "lifeboat-bench-key-"));
const keyFile = join(keyDir, "key.txt");
execFileSync("age-keygen", ["-o", keyFile], { stdio: "ignore" });
const recipient = execFileSync("age-keygen", ["-y", keyFile], { encoding: "utf8" }).trim();
const dest = { dest: `s3://${BUCKET}/lifeboat`, endpoint: s3.endpoint, region: "us-east-1", workDir: root };
const s3env = { PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };
const sidecar = spawn(process.execPath, [RUNNER, ...walStreamArgs({ name: "bench", recipients: [recipient], flushInterval: `${FLUSH}s`, spoolDir: join(root, "spool"), ...dest })], {
  env: { ...s3env, LIFEBOAT_SOURCE_URL: url("app", REPL.user, REPL.password) },
  detached: true,
  stdio: "ignore",
});
const run = (cmd, args, o = {}) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 26, ...o });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};
const br = (args) => {
  const r = asPg("pgbackrest", [`--config=${conf}`, "--stanza=bench", ...args]);
  if (r.status !== 0) throw new Error(`pgbackrest ${args.join(" ")}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

// --- base backups
br(["stanza-create"]);
await sleep(3000);
log(`base backups (load ${load()})`);
br(["backup", "--type=full"]);
run(process.execPath, [RUNNER, ...basebackupArgs({ name: "bench", recipients: [recipient], fastCheckpoint: true, ...dest })], { env: { ...s3env, LIFEBOAT_SOURCE_URL: url("app", REPL.user, REPL.password) } });
const baseDone = Date.now();
const lsnBytes = async () => Number((await query("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS b"))[0].b);
const baseLsn = await lsnBytes();
const loadAt = { start: load() };

// --- the write load, targets along the way
const acked = []; // [id, ack ms]
let writing = true;
const writer = (async () => {
  const c = new Client({ connectionString: url("app") });
  c.on("error", () => undefined);
  await c.connect();
  try {
    const t0 = Date.now();
    while (writing) {
      const ahead = acked.length / RATE - (Date.now() - t0) / 1000;
      if (ahead > 0) await sleep(ahead * 1000);
      const r = await c.query("WITH f AS (INSERT INTO filler SELECT repeat(md5(random()::text), 32) FROM generate_series(1, 20)) INSERT INTO ticks DEFAULT VALUES RETURNING id");
      acked.push([Number(r.rows[0].id), Date.now()]);
    }
  } catch {
    /* the host died */
  }
})();
const targets = [];
for (const m of MINUTES) {
  await sleep(Math.max(0, baseDone + m * 60_000 - Date.now()));
  targets.push({ minutes: m, at: new Date().toISOString() });
  log(`target ${m} min: ${targets[targets.length - 1].at} (load ${load()})`);
}
await sleep(30_000);
loadAt.writeEnd = load();
for (const t of targets) t.want = Number((await query(`SELECT coalesce(max(id), 0) AS id FROM ticks WHERE pg_xact_commit_timestamp(xmin) <= '${t.at}'`))[0].id);
// WAL positions from the base backups to the host loss: with archive_timeout each switch skips to
// the next 16 MiB segment, so most of it is zero padding (both tools ship the same segments).
const walBytes = (await lsnBytes()) - baseLsn;

// --- host loss: every process of the server and the sidecar at once
const victims = [server.pid, ...descendants(server.pid), sidecar.pid, ...descendants(sidecar.pid)];
for (const pid of victims) {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* gone */
  }
}
writing = false;
await writer;
const [lastId, lastAck] = acked[acked.length - 1];
log(`host loss after ${acked.length} commits (last id ${lastId}), ${(walBytes / 2 ** 20).toFixed(0)} MiB of WAL positions since the base backups`);

// --- restores
async function startAndCount(dir) {
  spawnSync("chown", ["-R", `${ids.uid}:${ids.gid}`, dir]);
  const p = await freePort();
  const logFile = join(root, `restore-${p}.log`);
  writeFileSync(logFile, "");
  chownSync(logFile, ids.uid, ids.gid);
  const r = asPg(pgBin("pg_ctl"), ["-D", dir, "-l", logFile, "-w", "-t", "1800", "-o", `-p ${p} -k ${dir} -c listen_addresses=127.0.0.1 -c archive_mode=off -c fsync=off`, "start"]);
  if (r.status !== 0) throw new Error(`pg_ctl start ${dir}: ${r.stdout}${r.stderr}\n${readFileSync(logFile, "utf8").slice(-3000)}`);
  // Until promoted; a server that stopped during recovery (a failed restore_command) fails the run at once.
  for (const end = Date.now() + 1_800_000; ; await sleep(100)) {
    if (!existsSync(join(dir, "postmaster.pid"))) throw new Error(`${dir}: the server stopped during recovery:\n${readFileSync(logFile, "utf8").slice(-3000)}`);
    if (Date.now() > end) throw new Error(`${dir}: not promoted within 30 minutes`);
    const inRecovery = await query("SELECT pg_is_in_recovery() AS r", url("app", "postgres", PASSWORD, p)).then((r) => r[0].r, () => true);
    if (!inRecovery) break;
  }
  const max = Number((await query("SELECT coalesce(max(id), 0) AS id FROM ticks", url("app", "postgres", PASSWORD, p)))[0].id);
  return { max, stop: () => asPg(pgBin("pg_ctl"), ["-D", dir, "-m", "immediate", "-w", "stop"]) };
}
const tools = {
  lifeboat: (dir, at) => {
    run(process.execPath, [RUNNER, ...restoreArgs({ name: "bench", at: at ?? "latest", targetDir: dir, identity: keyFile, ...dest })], { env: s3env });
  },
  pgbackrest: (dir, at) => {
    mine(dir);
    br([`--pg1-path=${dir}`, ...(at ? ["--type=time", `--target=${at.replace("T", " ").replace("Z", "+00")}`, "--target-action=promote"] : []), "restore"]);
  },
};
async function timedRestore(tool, at) {
  const dir = join(root, `r-${tool}-${Date.now()}`);
  const t0 = process.hrtime.bigint();
  tools[tool](dir, at);
  const s = await startAndCount(dir);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  s.stop();
  rmSync(dir, { recursive: true, force: true });
  return { secs, max: s.max };
}
const times = {}; // `${minutes}|${tool}` -> secs[]
const ratios = {}; // minutes -> lifeboat/pgbackrest per round
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? ["pgbackrest", "lifeboat"] : ["lifeboat", "pgbackrest"];
  for (const t of targets) {
    const got = {};
    for (const tool of order) {
      const r = await timedRestore(tool, t.at);
      if (r.max !== t.want) throw new Error(`${tool} restore to ${t.at}: last row ${r.max}, expected ${t.want}`);
      got[tool] = r.secs;
      (times[`${t.minutes}|${tool}`] ??= []).push(r.secs);
      log(`round ${round + 1}: ${tool} to +${t.minutes} min in ${r.secs.toFixed(2)} s (load ${load()})`);
    }
    (ratios[t.minutes] ??= []).push(got.lifeboat / got.pgbackrest);
  }
  loadAt[`round${round + 1}`] = load();
}
const ackOf = new Map(acked);
const rpo = {};
for (const tool of ["lifeboat", "pgbackrest"]) {
  const r = await timedRestore(tool, undefined);
  rpo[tool] = { lost: lastId - r.max, seconds: (lastAck - (ackOf.get(r.max) ?? baseDone)) / 1000 };
  log(`${tool} end of WAL: last row ${r.max} of ${lastId}`);
}

// --- report
const f = (xs) => `${median(xs).toFixed(2)} s (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
const out = [];
out.push(`Command: \`npm run build && node bench/pitr.mjs --minutes ${MINUTES.join(",")} --rounds ${ROUNDS} --flush ${FLUSH} --rate ${RATE}\``, "");
const mi = machineInfo();
out.push(`Run ${new Date().toISOString()}. Machine: ${mi.cores} cores (${mi.cpu}), ${mi.memGiB} GiB RAM, Node ${mi.node}, ${mi.postgres}. pgBackRest: ${run("pgbackrest", ["version"]).trim()}, local posix repository, archive-push/archive-get synchronous (its defaults), archive_timeout ${FLUSH} s. Lifeboat: wal-stream --flush-interval ${FLUSH}s to s3rver on loopback, WAL fetched on demand (prefetch 8). 16 MiB WAL segments, ${(walBytes / 2 ** 20).toFixed(0)} MiB of WAL positions from the base backups to the host loss (archive_timeout switches segments every ${FLUSH} s, so mostly zero padding), ${acked.length} write transactions of ~20 KB.`, "");
out.push(`Load average (1 min) on the 2 cores: ${Object.entries(loadAt).map(([k, v]) => `${v} ${k}`).join(", ")}.`, "");
out.push("| target after the base backup | Lifeboat | pgBackRest | Lifeboat ÷ pgBackRest per round (median, min–max) |", "|---|---|---|---|");
for (const t of targets) {
  const rs = ratios[t.minutes];
  out.push(`| ${t.minutes} min | ${f(times[`${t.minutes}|lifeboat`])} | ${f(times[`${t.minutes}|pgbackrest`])} | ${median(rs).toFixed(2)}× (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}) |`);
}
out.push("", "| RPO on host loss (server and sidecar SIGKILLed together) | commits lost | seconds of commits lost |", "|---|---|---|");
for (const tool of ["lifeboat", "pgbackrest"]) out.push(`| ${tool} | ${rpo[tool].lost} of ${lastId} | ${rpo[tool].seconds.toFixed(2)} s |`);
process.stdout.write(out.join("\n") + "\n");
try {
  process.kill(-sidecar.pid, "SIGKILL");
} catch {
  /* gone */
}
await s3.stop?.();
rmSync(root, { recursive: true, force: true });
rmSync(keyDir, { recursive: true, force: true });
process.exit(0);
