// Idle memory of the Lifeboat containers of the prod stack, today's layout beside the new one.
//
//   npm run build && node bench/scheduler-footprint.mjs [--old-runner DIR] [--settle 5] [--samples 5] [--out FILE]
//
// Writes bench/results-footprint.md (a section of bench/results.md: `node bench/run.mjs --render
// bench/results.json` puts it there) and prints it.
//
// - new: the two schedulers the prod plan declares (`schedule --jobs` with the backup side's and
//   the verify side's job tables, taken from the plan's own resources by lib/prod-job-tables.cjs);
// - today: one `schedule --cron … -- <argv>` process per job of those same tables (the layout
//   before: a container per backup, verify, status and replicate job), run with this build's
//   runner, and with `--old-runner DIR` also with the runner as it was before (a runner/ built
//   from an earlier commit, whose CLI loaded every command's modules at start), e.g.:
//     git archive e566952 runner core package.json tsconfig.base.json | tar -x -C /tmp/old
//     ln -s "$PWD/node_modules" /tmp/old/node_modules && (cd /tmp/old/runner && npx tsc -p tsconfig.json)
//     node bench/scheduler-footprint.mjs --old-runner /tmp/old/runner
//
// Every cron is set to once a year (`0 0 1 1 *`) so no run starts while memory is measured: each
// process is an idle scheduler by construction. The secret variables get placeholder values.
// Measured: VmRSS of each process (what the target counts; it counts the node binary's shared
// pages once per process, as separate containers show it) and Pss (shared pages split between
// the processes sharing them), summed per layout, median of --samples samples a second apart.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { REPO, waitFor } from "./lib/util.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const SETTLE_S = Number(arg("--settle", "5"));
const SAMPLES = Number(arg("--samples", "5"));
const OLD_RUNNER = arg("--old-runner");
const YEARLY = "0 0 1 1 *";
const KiB = 1024;

const plan = spawnSync(process.execPath, [join(REPO, "bench/lib/prod-job-tables.cjs"), "prod"], { encoding: "utf8" });
if (plan.status !== 0) throw new Error(`prod-job-tables failed (run npm run build first): ${plan.stderr}`);
const prod = JSON.parse(plan.stdout);
const work = mkdtempSync(join(tmpdir(), "lifeboat-footprint-"));

function status(pid, field) {
  const text = readFileSync(`/proc/${pid}/${field === "Pss" ? "smaps_rollup" : "status"}`, "utf8");
  const m = new RegExp(`^${field === "Pss" ? "Pss" : "VmRSS"}:\\s+(\\d+) kB`, "m").exec(text);
  return Number(m[1]) * KiB;
}

/** Starts `argvs` (runner argv lists), waits until each logs that it is scheduled, samples, stops. */
async function measure(label, bin, procs) {
  const children = procs.map(({ argv, env }) => {
    const child = spawn(process.execPath, [bin, ...argv], { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    child.log = "";
    child.stderr.on("data", (b) => (child.log += b));
    child.exitCode_ = null;
    child.on("exit", (c) => (child.exitCode_ = c));
    return child;
  });
  try {
    await waitFor(`${label}: every scheduler started`, () => {
      const dead = children.find((c) => c.exitCode_ !== null);
      if (dead) throw new Error(`a process exited ${dead.exitCode_}: ${dead.log}`);
      return children.every((c) => /"msg":"scheduled /.test(c.log));
    }, 60_000);
    await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
    const rss = [];
    const pss = [];
    let perProcess = [];
    for (let i = 0; i < SAMPLES; i++) {
      perProcess = children.map((c) => status(c.pid, "VmRSS"));
      rss.push(perProcess.reduce((a, b) => a + b, 0));
      pss.push(children.reduce((a, c) => a + status(c.pid, "Pss"), 0));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const per = { min: Math.min(...perProcess), max: Math.max(...perProcess) };
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    if (children.some((c) => /"msg":"run started/.test(c.log))) throw new Error(`${label}: a run started during the measurement`);
    return { label, processes: children.length, rss: median(rss), pss: median(pss), per };
  } finally {
    await Promise.all(children.map((c) => (c.exitCode_ !== null ? undefined : new Promise((r) => { c.on("exit", r); c.kill("SIGTERM"); }))));
  }
}

const placeholderEnv = (names) => Object.fromEntries(names.map((n) => [n, "placeholder"]));

// The new layout: the plan's schedulers, as the containers run them.
const newLayout = prod.schedulers.map((s, i) => {
  const table = { ...s.table, jobs: s.table.jobs.map((j) => ({ ...j, cron: YEARLY })) };
  const file = join(work, `${s.container}.jobs.json`);
  writeFileSync(file, JSON.stringify(table));
  return { argv: ["schedule", "--jobs", file, "--max-concurrent", "1", "--state-file", join(work, `new-${i}.json`)], env: placeholderEnv(s.env) };
});

// Today's layout: a scheduler per job (its secrets under the runner's own names, as before).
const jobs = prod.schedulers.flatMap((s) => s.table.jobs.map((j) => ({ ...j, envNames: Object.keys(j.env) })));
const todayLayout = jobs.map((j, i) => ({
  argv: ["schedule", "--cron", YEARLY, "--state-file", join(work, `today-${i}.json`), "--", ...j.argv],
  env: placeholderEnv(j.envNames),
}));

const results = [];
if (OLD_RUNNER) results.push(await measure("today, runner before this change", join(OLD_RUNNER, "bin/lifeboat-runner.js"), todayLayout));
results.push(await measure("today, this runner", join(REPO, "runner/bin/lifeboat-runner.js"), todayLayout));
results.push(await measure("new: two schedulers", join(REPO, "runner/bin/lifeboat-runner.js"), newLayout));

const mb = (b) => `${(b / 1e6).toFixed(1)} MB`;
const lines = [
  "# Idle footprint of the prod stack's containers (`lifeboat-runner schedule`)",
  "",
  `Command: \`npm run build && node bench/scheduler-footprint.mjs${OLD_RUNNER ? " --old-runner DIR" : ""}\` (see the script's header for building the earlier runner into DIR).`,
  "",
  `Run ${new Date().toISOString()} on ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; prod plan: ${prod.containers.length} containers (${prod.containers.join(", ")}), ${jobs.length} jobs (${prod.schedulers.map((s) => `${s.container}: ${s.table.jobs.length}`).join(", ")}); median of ${SAMPLES} samples after ${SETTLE_S} s idle.`,
  "",
  "| layout | processes | total RSS | total PSS | RSS per process (min–max) |",
  "|---|---|---|---|---|",
  ...results.map((r) => `| ${r.label} | ${r.processes} | ${mb(r.rss)} | ${mb(r.pss)} | ${mb(r.per.min)}–${mb(r.per.max)} |`),
];
const target = 150e6;
const now = results[results.length - 1];
const before = results[0];
lines.push(
  "",
  `Target: every Lifeboat container of the prod stack together ≤ 150 MB RSS idle: ${mb(now.rss)}, ${now.rss <= target ? "met" : "missed"} ` +
    `(${(before.rss / now.rss).toFixed(1)}× less than ${before.label}). The prod stack has no point-in-time-recovery source; a WAL sidecar ` +
    "(`wal-stream`, continuous, its own container) would add one process per such source.",
);
const text = lines.join("\n") + "\n";
writeFileSync(arg("--out", join(REPO, "bench/results-footprint.md")), text);
process.stdout.write(text);
