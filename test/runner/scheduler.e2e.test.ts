/**
 * `lifeboat-runner schedule --jobs FILE`: the job-table scheduler that runs every job of one
 * container. Real processes throughout: the built runner as the scheduler, its jobs real runner
 * commands (a local-mode backup, a `status` against an S3 endpoint), each a child process.
 */
import { spawn, ChildProcess } from "node:child_process";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobTableInput, backupArgs, scheduleJobsArgs, statusArgs } from "lifeboat-core";
import { waitFor } from "../support/ports";
import { AgeKey, RUNNER_BIN, ageKey, describeRun, requireBuiltRunner, runner } from "../support/runner";

let work: string;
let key: AgeKey;

beforeAll(() => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-scheduler-"));
  key = ageKey(work);
});

interface Scheduler {
  child: ChildProcess;
  log: () => string;
  stop: () => Promise<number | null>;
}

/** Starts `schedule` on `table` (plus `env`), as a container would: a clean environment, JSON logs on stderr. */
function startScheduler(name: string, table: JobTableInput, opts: { maxConcurrent?: number; env?: NodeJS.ProcessEnv } = {}): Scheduler & { stateFile: string } {
  const jobsFile = join(work, `${name}-jobs.json`);
  const stateFile = join(work, `${name}-state.json`);
  writeFileSync(jobsFile, JSON.stringify(table));
  const child = spawn(process.execPath, [RUNNER_BIN, ...scheduleJobsArgs({ jobsFile, stateFile, ...(opts.maxConcurrent ? { maxConcurrent: opts.maxConcurrent } : {}) })], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env },
  });
  let err = "";
  child.stderr!.on("data", (b) => (err += b));
  child.stdout!.on("data", () => undefined);
  const closed = new Promise<number | null>((r) => child.on("close", (c) => r(c)));
  return {
    child,
    stateFile,
    log: () => err,
    stop: () => {
      child.kill("SIGTERM");
      return closed;
    },
  };
}

/** The scheduler's JSON log lines with `msg` matching. */
function events(log: string, msg: RegExp): { job: string; time: number }[] {
  return log
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l))
    .filter((e) => msg.test(e.msg))
    .map((e) => ({ job: e.job, time: Date.parse(e.time) }));
}

function sourceDir(name: string): string {
  const dir = join(work, `src-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "data.txt"), `data of ${name}\n`);
  return dir;
}

describe("schedule --jobs", () => {
  test("two jobs on second-level crons: the failing one never stops the other; each gets only its own secrets; the healthcheck names each job", async () => {
    const local = join(work, "two-backups");
    const other = join(work, "nothing-here.json");
    // The source path reaches the backup through the job's env mapping, as a source URL would.
    const table: JobTableInput = {
      version: 1,
      jobs: [
        {
          name: "good",
          cron: "*/1 * * * * *",
          argv: backupArgs({ source: "directory", name: "good", recipients: [key.recipient], noUpload: true, localDir: local, json: true }),
          env: { LIFEBOAT_SOURCE_PATH: "LIFEBOAT_JOB_GOOD_PATH" },
          maxAge: "1h",
        },
        // Fails every run: no run of "ghost" is recorded in that state file.
        { name: "failing", cron: "*/1 * * * * *", argv: statusArgs({ name: "ghost", local: true, maxAge: "1s", stateFile: other }), maxAge: "1h" },
      ],
    };
    const s = startScheduler("two", table, { maxConcurrent: 2, env: { LIFEBOAT_JOB_GOOD_PATH: sourceDir("good") } });
    const state = () => (existsSync(s.stateFile) ? JSON.parse(readFileSync(s.stateFile, "utf8")) : { jobs: {} });
    try {
      await waitFor("three good runs and three failed runs", () => {
        const log = s.log();
        const j = state().jobs;
        return events(log, /^run finished: good$/).length >= 3 && events(log, /^run failed: failing/).length >= 3 && j.good?.lastResult === "exit 0" && j.failing?.lastResult === "exit 1";
      }, 30_000);
      expect(state().jobs.good).toMatchObject({ lastOk: true, lastResult: "exit 0" });
      expect(state().jobs.failing).toMatchObject({ lastOk: false, lastResult: "exit 1" });

      // The healthcheck (`status --local` on the scheduler's state file), while the scheduler runs, reports every job by name.
      const hc = await runner(statusArgs({ local: true, stateFile: s.stateFile }));
      expect(hc.code).toBe(1);
      // On a loaded machine a run can outlast its one-second period: then ticks are skipped and counted.
      const skipped = "(, \\d+ tick\\(s\\) skipped \\(last \\S+\\))?";
      expect(hc.stdout).toMatch(new RegExp(`^OK {3}job good (idle|running), cron "\\*/1 \\* \\* \\* \\* \\*", last run \\S+: (exit 0|running)${skipped}$`, "m"));
      expect(hc.stdout).toMatch(new RegExp(`^FAIL job failing (idle|running), cron "\\*/1 \\* \\* \\* \\* \\*", last run \\S+: (exit 1|running)${skipped}\\n {5}last run, ended \\S+, failed: exit 1$`, "m"));
      const json = JSON.parse((await runner(statusArgs({ local: true, stateFile: s.stateFile, json: true }))).stdout);
      expect(json.sources.map((x: any) => [x.source, x.healthy])).toEqual([["job failing", false], ["job good", true]]);
    } finally {
      expect(await s.stop()).toBe(0);
    }
    const list = JSON.parse((await runner(["list", "--name", "good", "--local-dir", local, "--json"])).stdout);
    expect(list.backups.length).toBeGreaterThanOrEqual(3);
  });

  describe("against a slow S3 endpoint (every list request held 1.5 s)", () => {
    let server: Server;
    let endpoint: string;
    /** Per bucket (one per job), when each request arrived and was answered. */
    const held: { bucket: string; from: number; to: number }[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        const from = Date.now();
        const bucket = (req.url ?? "/").split(/[/?]/)[1]!;
        setTimeout(() => {
          held.push({ bucket, from, to: Date.now() });
          res.writeHead(200, { "content-type": "application/xml" });
          res.end(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${bucket}</Name><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>`);
        }, 1500);
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    test("at most --max-concurrent runs at once, one run per job: a tick while it runs or waits is skipped and recorded", async () => {
      const job = (name: string) => ({
        name,
        cron: "* * * * * *",
        argv: statusArgs({ name: "db", dest: `s3://${name}/p`, endpoint, region: "us-east-1", maxAttempts: 1, json: true }),
        env: { AWS_ACCESS_KEY_ID: "LIFEBOAT_JOB_KEY_ID", AWS_SECRET_ACCESS_KEY: "LIFEBOAT_JOB_SECRET" },
      });
      const s = startScheduler("slow", { version: 1, jobs: [job("slow-a"), job("slow-b"), job("slow-c")] }, {
        maxConcurrent: 2,
        env: { LIFEBOAT_JOB_KEY_ID: "AKIAEXAMPLE", LIFEBOAT_JOB_SECRET: "secret-example" },
      });
      try {
        await waitFor("every job to have run twice", () => ["slow-a", "slow-b", "slow-c"].every((b) => new Set(held.filter((h) => h.bucket === b).map((h) => h.from)).size >= 2), 40_000);
      } finally {
        expect(await s.stop()).toBe(0);
      }
      // Measured at the endpoint, not from the scheduler's own account: how many jobs had a
      // request open at each moment a request arrived.
      const open = (t: number) => new Set(held.filter((h) => h.from <= t && t < h.to).map((h) => h.bucket)).size;
      const peak = Math.max(...held.map((h) => open(h.from)));
      expect(peak).toBe(2);

      const log = s.log();
      expect(events(log, /skipping this tick$/).length).toBeGreaterThan(0);
      const state = JSON.parse(readFileSync(s.stateFile, "utf8"));
      const skipped = ["slow-a", "slow-b", "slow-c"].map((n) => state.jobs[n].skipped as number);
      expect(skipped.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      // The scheduler's own record agrees: started runs never overlap more than the limit.
      const starts = events(log, /^run started: /);
      const ends = events(log, /^run (finished|failed): /);
      const running = (t: number) => starts.filter((x) => x.time <= t).length - ends.filter((x) => x.time <= t).length;
      expect(Math.max(...starts.map((x) => running(x.time)))).toBeLessThanOrEqual(2);
    });
  });

  test("a bad job table is refused before anything runs, naming the field; so is a missing secret variable", async () => {
    const bad = join(work, "bad-jobs.json");
    writeFileSync(bad, JSON.stringify({ version: 1, jobs: [{ name: "a", cron: "every day", argv: ["status"] }, { name: "a", cron: "0 3 * * *", argv: ["schedule"] }] }));
    const r = await runner(scheduleJobsArgs({ jobsFile: bad, stateFile: join(work, "bad-state.json") }));
    expect(describeRun(r)).toMatch(/^exit 2/);
    expect(r.stderr).toMatch(/jobs\[0\]\.cron: must be a 5-field cron/);
    expect(r.stderr).toMatch(/jobs\[1\]\.argv: cannot be `schedule`/);
    expect(r.stderr).toMatch(/jobs\[1\]\.name: "a" is used by two jobs/);
    expect(existsSync(join(work, "bad-state.json"))).toBe(false);

    const table = join(work, "env-jobs.json");
    writeFileSync(table, JSON.stringify({ version: 1, jobs: [{ name: "a", cron: "0 3 * * *", argv: ["status"], env: { LIFEBOAT_SOURCE_URL: "LIFEBOAT_JOB_A_SOURCE_URL" } }] }));
    const m = await runner(scheduleJobsArgs({ jobsFile: table }));
    expect(describeRun(m)).toMatch(/^exit 2/);
    expect(m.stderr).toMatch(/environment variables not set: a: LIFEBOAT_JOB_A_SOURCE_URL/);

    const flag = await runner(scheduleJobsArgs({ jobsFile: table, maxConcurrent: 0 }), { LIFEBOAT_JOB_A_SOURCE_URL: "postgres://x" });
    expect(describeRun(flag)).toMatch(/^exit 2/);
    expect(flag.stderr).toMatch(/--max-concurrent: must be a whole number of at least 1/);
  });
});
