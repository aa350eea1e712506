import fc from "fast-check";
import { JOB_ENV_PREFIX, parseJobTable } from "lifeboat-core";
import { childEnv, tickDecision } from "../../runner/src/jobTable";

const table = (jobs: unknown[]) => parseJobTable({ version: 1, jobs }, "test");

describe("childEnv: what one job's run sees", () => {
  it("has its own secrets under the runner's names, no job's container variables, and the rest of the environment", () => {
    const { jobs } = table([
      { name: "a", cron: "0 3 * * *", argv: ["status"], env: { LIFEBOAT_SOURCE_URL: "LIFEBOAT_JOB_A_URL", AWS_ACCESS_KEY_ID: "LIFEBOAT_JOB_A_KEY" } },
      { name: "b", cron: "0 3 * * *", argv: ["status"], env: { LIFEBOAT_SOURCE_URL: "LIFEBOAT_JOB_B_URL" } },
    ]);
    const env = { PATH: "/bin", LIFEBOAT_JOB_A_URL: "postgres://a", LIFEBOAT_JOB_A_KEY: "AKIA-A", LIFEBOAT_JOB_B_URL: "postgres://b", LIFEBOAT_STATE_FILE: "/s.json" };
    expect(childEnv(jobs[0]!, env)).toEqual({ PATH: "/bin", LIFEBOAT_STATE_FILE: "/s.json", LIFEBOAT_SOURCE_URL: "postgres://a", AWS_ACCESS_KEY_ID: "AKIA-A" });
    expect(childEnv(jobs[1]!, env)).toEqual({ PATH: "/bin", LIFEBOAT_STATE_FILE: "/s.json", LIFEBOAT_SOURCE_URL: "postgres://b" });
  });

  it("never passes a per-job container variable through, whatever the environment", () => {
    const { jobs } = table([{ name: "a", cron: "0 3 * * *", argv: ["status"], env: { X: "LIFEBOAT_JOB_X" } }]);
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("PATH", "HOME", "LIFEBOAT_JOB_X", "LIFEBOAT_JOB_Y", "LIFEBOAT_JOB_", "AWS_REGION"), fc.string()), (env) => {
        const out = childEnv(jobs[0]!, env);
        expect(Object.keys(out).filter((k) => k.startsWith(JOB_ENV_PREFIX))).toEqual([]);
        if (env.LIFEBOAT_JOB_X !== undefined) expect(out.X).toBe(env.LIFEBOAT_JOB_X);
      }),
    );
  });
});

describe("tickDecision", () => {
  it("skips a job that runs or waits, starts one below the limit, queues it at the limit", () => {
    fc.assert(
      fc.property(fc.constantFrom("idle", "queued", "running" as const), fc.nat(5), fc.integer({ min: 1, max: 5 }), (phase, running, limit) => {
        const d = tickDecision(phase as "idle" | "queued" | "running", running, limit);
        if (phase !== "idle") expect(d).toBe("skip");
        else expect(d).toBe(running < limit ? "start" : "queue");
      }),
    );
  });
});

describe("parseJobTable", () => {
  it("names the field and the problem", () => {
    expect(() => table([{ name: "A b", cron: "0 3 * * *", argv: ["status"] }])).toThrow(/jobs\[0\]\.name: must be lowercase/);
    expect(() => table([{ name: "a", cron: "0 3 * * *", argv: ["status"], env: { LIFEBOAT_SOURCE_URL: "DATABASE_URL" } }])).toThrow(
      /jobs\[0\]\.env\.LIFEBOAT_SOURCE_URL: must name a container variable starting with LIFEBOAT_JOB_/,
    );
    expect(() => table([{ name: "a", cron: "0 3 * * *", argv: [] }])).toThrow(/jobs\[0\]\.argv: must name a lifeboat-runner command/);
    expect(() => table([{ name: "a", cron: "0 3 * * *", argv: ["status"], maxAge: "soon" }])).toThrow(/jobs\[0\]\.maxAge: must be a duration/);
    expect(() => parseJobTable({ version: 1, jobs: [] }, "t")).toThrow(/jobs: needs at least one job/);
  });

  it("takes 5-field and 6-field (seconds) crons and fills the defaults", () => {
    const t = table([{ name: "a", cron: "*/5 * * * * *", argv: ["status"] }, { name: "b", cron: "0 3 * * *", argv: ["status"] }]);
    expect(t.jobs.map((j) => [j.env, j.runAtStart])).toEqual([[{}, false], [{}, false]]);
  });
});

describe("job names", () => {
  it("fit a kind before the longest source name (63 characters)", () => {
    const source = "a".repeat(63);
    expect(table([{ name: `status-${source}`, cron: "0 * * * *", argv: ["status"] }]).jobs[0]!.name).toBe(`status-${source}`);
  });
});
