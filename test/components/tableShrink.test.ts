/**
 * A postgres source's own `maxTableShrink`, from stack config to the `--max-table-shrink` of its
 * scheduled health check and status page and of the runbook's `status` command; the other sources
 * keep `lifeboat:alerts.maxTableShrink` (else the profile's). Accepted exactly where the runner's
 * own check accepts the value it is handed.
 */
import fc from "fast-check";
import { ConfigError, ConfigIssue, DisasterRecovery, validateStackConfig } from "../../components";
import { healthLimits, HealthFlags } from "../../runner/src/healthRemote";
import { statusJobArgv } from "../../components/schedule/commands";
import { Declared, declare, flagValue, installMocks, jobTableOf, ofType, valueOf } from "./mockHarness";

installMocks();

const AGE = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
const IDENTITY = "AGE-SECRET-KEY-12LV56Y8MSYUZXR2MJG4H6XSUA3MPV8A4UXTCFT2JFCK88XUVGJCSDX7CJJ";
const pg = (name: string, extra: Record<string, unknown> = {}) => ({ name, kind: "postgres", url: `postgres://app@db/${name}`, ...extra });
const base = {
  storage: { provider: "s3", region: "eu-west-1" },
  replicas: [{ provider: "s3", region: "eu-central-1" }],
  ageRecipients: [AGE],
  ageIdentity: IDENTITY,
  verification: { scratchUrl: "postgres://drill@scratch/postgres" },
};
const issuesOf = (raw: Record<string, unknown>): ConfigIssue[] => {
  try {
    validateStackConfig(raw, "prod");
  } catch (e) {
    if (ConfigError.is(e)) return e.issues;
    throw e;
  }
  return [];
};

describe("stack config: a postgres source's maxTableShrink", () => {
  it("is the source's own, else lifeboat:alerts.maxTableShrink, else the profile's", () => {
    const c = validateStackConfig({ ...base, sources: [pg("queue-db", { maxTableShrink: 0.95 }), pg("app-db"), { name: "files", kind: "directory", path: "/srv" }], alerts: { maxTableShrink: 0.4 } }, "prod");
    expect(c.sources.map((s) => [s.name, s.maxTableShrink])).toEqual([["queue-db", 0.95], ["app-db", 0.4], ["files", 0.4]]);
    expect(c.alerts.maxTableShrink).toBe(0.4);
    expect(validateStackConfig({ ...base, sources: [pg("app-db")] }, "prod").sources[0]!.maxTableShrink).toBe(0.5);
    expect(validateStackConfig({ ...base, sources: [pg("app-db")] }, "staging").sources[0]!.maxTableShrink).toBe(0.9);
  });

  it.each([[0], [1], [1.5], [-0.2], ["0.9"]])("refuses %j, naming the source's key", (v) => {
    expect(issuesOf({ ...base, sources: [pg("app-db"), pg("queue-db", { maxTableShrink: v })] })).toEqual([
      { key: "lifeboat:sources[1].maxTableShrink", message: expect.stringMatching(/^must be (a number )?between 0 and 1/) },
    ]);
  });

  it("is refused on a source without tables", () => {
    expect(issuesOf({ ...base, sources: [pg("app-db"), { name: "files", kind: "directory", path: "/srv", maxTableShrink: 0.9 }] })).toEqual([
      { key: "lifeboat:sources[1].maxTableShrink", message: expect.stringMatching(/is not a Lifeboat setting/) },
    ]);
  });

  it("property: config accepts a value exactly when the runner accepts the --max-table-shrink the job gets, and that is the same number", () => {
    fc.assert(
      fc.property(fc.oneof(fc.double({ noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1, Number.MIN_VALUE, 1 - Number.EPSILON)), (x) => {
        const accepted = issuesOf({ ...base, sources: [pg("app-db", { maxTableShrink: x })] }).length === 0;
        const argv = statusJobArgv({ bucket: "b", prefix: "backups", name: "app-db", maxAge: "26h", maxTableShrink: x });
        let runner: number | undefined;
        try {
          runner = healthLimits({ maxAge: "26h", maxShrink: "0.5", maxTableShrink: flagValue(argv, "--max-table-shrink")! } as HealthFlags).maxTableShrink;
        } catch {
          runner = undefined;
        }
        expect({ x, accepted }).toEqual({ x, accepted: runner !== undefined });
        if (accepted) expect(runner).toBe(x);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("DisasterRecovery: each postgres source's health check gets its own limit", () => {
  let rs: Declared[];
  let runbook: string;
  beforeAll(async () => {
    const config = validateStackConfig({ ...base, sources: [pg("queue-db", { maxTableShrink: 0.95 }), pg("app-db")], alerts: { maxTableShrink: 0.4 } }, "prod");
    let dr!: DisasterRecovery;
    rs = await declare(() => {
      dr = new DisasterRecovery("lifeboat-prod", { config });
    });
    runbook = await valueOf(dr.runbook);
  });
  const verifyJobs = () => jobTableOf(ofType(rs, "docker:index/container:Container").find((c) => c.name === "lifeboat-prod-verify")!).jobs;

  it("passes --max-table-shrink to the status and report jobs: the source's own, else lifeboat:alerts'", () => {
    const limits = verifyJobs().filter((j) => /^(status|report)-/.test(j.name)).map((j) => [j.name, flagValue(j.argv, "--max-table-shrink")]);
    expect(limits).toEqual([["status-queue-db", "0.95"], ["report-queue-db", "0.95"], ["status-app-db", "0.4"], ["report-app-db", "0.4"]]);
  });

  it("prints the same limit in the runbook's status commands of each source", () => {
    const limits = (name: string) => runbook.split("\n").filter((l) => l.includes(` status --name ${name} `)).map((l) => flagValue(l.split(" "), "--max-table-shrink"));
    expect(limits("queue-db")).toEqual(["0.95"]);
    expect(limits("app-db")).toEqual(["0.4"]);
  });
});
