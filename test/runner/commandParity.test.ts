/**
 * The runner's command lines, three ways:
 * - every option of every command is declared once, in lifeboat-core's RUNNER_OPTIONS: the
 *   runner's CLI has no option of its own, and for arbitrary specs the argv builders' command
 *   lines (and each option's environment variable) parse, with the runner's real `buildProgram`,
 *   to exactly the spec's values;
 * - the command lines the scheduled-job components deploy are the command lines the runner's own
 *   end-to-end tests run. The components move secrets into the environment, wrap the run in
 *   `schedule … --` and start the runner through the image's entrypoint, so this takes what a
 *   component actually declared (the container inputs and task definitions recorded by the Pulumi
 *   mocks), feeds it with the component's environment through the runner's real command-line
 *   parser (only the command implementations stubbed), and requires the options each command
 *   receives to equal the options the e2e tests' builder calls give it;
 * - the entrypoint and state file match runner/Dockerfile.
 */
jest.mock("../../runner/src/commands/backup", () => ({ ...jest.requireActual("../../runner/src/commands/backup"), backupCommand: jest.fn(async () => 0) }));
jest.mock("../../runner/src/commands/verify", () => ({ ...jest.requireActual("../../runner/src/commands/verify"), verifyCommand: jest.fn(async () => 0) }));
jest.mock("../../runner/src/commands/status", () => ({ ...jest.requireActual("../../runner/src/commands/status"), statusCommand: jest.fn(async () => 0) }));
jest.mock("../../runner/src/commands/report", () => ({ ...jest.requireActual("../../runner/src/commands/report"), reportCommand: jest.fn(async () => 0) }));
jest.mock("../../runner/src/commands/schedule", () => ({ ...jest.requireActual("../../runner/src/commands/schedule"), scheduleCommand: jest.fn(async () => 0) }));
jest.mock("../../runner/src/commands/replicate", () => ({ ...jest.requireActual("../../runner/src/commands/replicate"), replicateCommand: jest.fn(async () => 0) }));

import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Command, Option } from "commander";
import fc from "fast-check";
import { argvFor, backupArgs, ENV, replicateArgs, RUNNER_OPTIONS, RunnerCommand, RunnerOption, RunnerSpecs, ScheduledJob, statusArgs, verifyArgs } from "lifeboat-core";
import { buildProgram } from "../../runner/src/cli";
import * as backupMod from "../../runner/src/commands/backup";
import * as verifyMod from "../../runner/src/commands/verify";
import * as statusMod from "../../runner/src/commands/status";
import * as reportMod from "../../runner/src/commands/report";
import * as scheduleMod from "../../runner/src/commands/schedule";
import * as replicateMod from "../../runner/src/commands/replicate";
import { DisasterRecovery, ScheduledBackup, ScheduledReplication, ScheduledVerification, validateStackConfig } from "../../components";
import { CONTAINER_PATHS, RUNNER_EXEC } from "../../components/schedule/commands";
import { Declared, declare, installMocks, isSecretValue, jobTableOf, one, scheduledJob, uploadsOf } from "../components/mockHarness";

installMocks();

const REPO = join(__dirname, "../..");
const RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const SOURCE_URL = "postgres://app:pg-Pa55@db.internal:5432/app";
const SCRATCH_URL = "postgres://drill:scratch-Pa55@scratch.internal:5432/postgres";
const WEBHOOK = "https://hooks.slack.com/services/T0/B0/x";
const KEYS = { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret-example" };
const ENDPOINT = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com";
const BUCKET = "prod-backups";
const PREFIX = "prod";
/** The e2e tests' `dest()` fields, with this deployment's values. */
const DEST = { dest: `s3://${BUCKET}/${PREFIX}`, endpoint: ENDPOINT, region: "auto" };

type Parsed = { command: string; opts: Record<string, unknown>; inner?: string[] };
const ALL_ENV = new Set<string>([...Object.values(ENV), "LIFEBOAT_AGE_IDENTITY"]);

/** The commands the components deploy, with their (stubbed) implementations. */
const STUBS: [string, jest.Mock][] = [
  ["backup", backupMod.backupCommand as jest.Mock],
  ["verify", verifyMod.verifyCommand as jest.Mock],
  ["status", statusMod.statusCommand as jest.Mock],
  ["report", reportMod.reportCommand as jest.Mock],
  ["replicate", replicateMod.replicateCommand as jest.Mock],
  ["schedule", scheduleMod.scheduleCommand as jest.Mock],
];

/** Parses `argv` (after the executable) with `program` under exactly `env`. */
function parseUnder(program: Command, argv: string[], env: Record<string, string>): void {
  const saved = { ...process.env };
  for (const k of ALL_ENV) delete process.env[k];
  Object.assign(process.env, env);
  try {
    program.parse(["node", "lifeboat-runner", ...argv]);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** What the command received when `argv` is parsed with the runner's real CLI under exactly `env`. */
function parse(argv: string[], env: Record<string, string> = {}): Parsed {
  for (const [, m] of STUBS) m.mockClear();
  parseUnder(buildProgram(() => undefined), argv, env);
  const hit = STUBS.filter(([, m]) => m.mock.calls.length > 0);
  expect(hit.map(([n]) => n)).toHaveLength(1);
  const [command, mock] = hit[0]!;
  const args = mock.mock.calls[0]!;
  return command === "schedule" ? { command, inner: args[0], opts: { ...args[1] } } : { command, opts: { ...args[0] } };
}

function envOf(container: Declared): Record<string, string> {
  expect(isSecretValue(container.inputs.envs)).toBe(true);
  const lines: string[] = container.inputs.envs.value;
  return Object.fromEntries(lines.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

/**
 * A scheduler container as the runner sees it: its command parsed (`schedule --jobs FILE`), the
 * table at FILE through the runner's own job-table parser, and job `name`'s argv parsed under
 * the environment the scheduler gives that job's run (the runner's childEnv over the container's).
 */
function scheduled(container: Declared, name: string): { outer: Parsed; job: ScheduledJob; run: Parsed } {
  const outer = parse(afterExec([...container.inputs.entrypoints, ...container.inputs.command]), envOf(container));
  expect(outer.command).toBe("schedule");
  expect(outer.inner).toEqual([]);
  expect(outer.opts).toMatchObject({ jobs: CONTAINER_PATHS.jobs, stateFile: CONTAINER_PATHS.stateFile, maxConcurrent: "1" });
  const { job, env } = scheduledJob(container, name);
  return { outer, job, run: parse(job.argv, env) };
}

/** Strips the image's entrypoint from a full exec-form command. */
function afterExec(cmd: string[]): string[] {
  expect(cmd.slice(0, RUNNER_EXEC.length)).toEqual(RUNNER_EXEC);
  return cmd.slice(RUNNER_EXEC.length);
}

const COMMANDS = Object.keys(RUNNER_OPTIONS) as RunnerCommand[];

/** A value for an option that is not itself an option: commander takes `--name -x` as two flags. */
const word = fc.string({ minLength: 1, maxLength: 12 }).filter((w) => !w.startsWith("-"));

/** Any value the option's spec field may hold. */
function valueOf(o: RunnerOption): fc.Arbitrary<unknown> {
  if (o.choices) return fc.constantFrom(...o.choices);
  switch (o.kind) {
    case "number":
      return fc.oneof(fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }));
    case "boolean":
    case "negated":
      return fc.boolean();
    case "repeatable":
      return fc.array(word, { maxLength: 3 });
    case "assertions":
      return fc.array(fc.record({ name: word.filter((w) => !w.includes("=")), sql: fc.string() }), { maxLength: 3 });
    case "string":
      return word;
  }
}

/** Arbitrary specs of `command`: any subset of its fields (wal-fetch cannot run without --dir). */
function specOf<C extends RunnerCommand>(command: C): fc.Arbitrary<RunnerSpecs[C]> {
  const rows = RUNNER_OPTIONS[command];
  const fields = Object.fromEntries(rows.map((o) => [o.field, valueOf(o)]));
  return fc.record(fields, { requiredKeys: rows.filter((o) => o.required).map((o) => o.field) }) as unknown as fc.Arbitrary<RunnerSpecs[C]>;
}

/**
 * The options commander should hand `command` for `spec`, by the table alone: each set field's
 * value under the option's commander name (strings, as the command parses them), else its default.
 */
function optionsFor(command: RunnerCommand, spec: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of RUNNER_OPTIONS[command]) {
    const name = new Option(o.flag).attributeName();
    const v = (spec as Record<string, unknown>)[o.field];
    const unset = v === undefined || v === false || v === "" || (Array.isArray(v) && v.length === 0);
    const fallback = o.kind === "negated" ? true : o.default;
    if (unset) {
      if (fallback !== undefined) out[name] = fallback;
    } else if (o.kind === "boolean" || o.kind === "negated") out[name] = o.kind === "boolean";
    else if (o.kind === "repeatable") out[name] = (v as unknown[]).map(String);
    else if (o.kind === "assertions") out[name] = (v as { name: string; sql: string }[]).map((a) => `${a.name}=${a.sql}`);
    else out[name] = String(v);
  }
  return out;
}

/** The options commander parsed for the command `argv` names, with the runner's real CLI under exactly `env`. */
function parsedOptions(argv: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const program = buildProgram(() => undefined);
  // Only the parse is under test: no command runs.
  for (const c of program.commands) c.action(() => undefined);
  parseUnder(program, argv, env);
  return { ...program.commands.find((c) => c.name() === argv[0])!.opts() };
}

describe("every runner option is declared once, in lifeboat-core's RUNNER_OPTIONS", () => {
  it("the CLI's commands are the table's, and each command's options are its rows in order: none declared in cli.ts", () => {
    const program = buildProgram(() => undefined);
    expect(program.commands.map((c) => c.name()).sort()).toEqual([...COMMANDS].sort());
    for (const c of program.commands) {
      const declared = c.options.map((o) => ({
        flags: o.flags, help: o.description, env: o.envVar, default: o.defaultValue, choices: o.argChoices, required: o.mandatory,
      }));
      const table = RUNNER_OPTIONS[c.name() as RunnerCommand].map((o) => ({
        flags: o.value === undefined ? o.flag : `${o.flag} <${o.value}>`, help: o.help, env: o.env, default: o.default, choices: o.choices, required: !!o.required,
      }));
      expect({ command: c.name(), options: declared }).toEqual({ command: c.name(), options: table });
    }
  });

  it("within a command, no two rows share a flag or a spec field; only booleans take no value", () => {
    for (const command of COMMANDS) {
      const rows = RUNNER_OPTIONS[command];
      expect(new Set(rows.map((o) => o.flag)).size).toBe(rows.length);
      expect(new Set(rows.map((o) => o.field)).size).toBe(rows.length);
      for (const o of rows) expect({ flag: o.flag, takesValue: o.value !== undefined }).toEqual({ flag: o.flag, takesValue: o.kind !== "boolean" && o.kind !== "negated" });
      for (const o of rows.filter((r) => r.kind === "negated")) expect(o.flag).toMatch(/^--no-/);
    }
  });

  it.each(COMMANDS)("%s: the argv builder's command line for any spec parses to exactly that spec", (command) => {
    fc.assert(
      fc.property(specOf(command), (spec) => {
        expect(parsedOptions(argvFor(command, spec))).toEqual(optionsFor(command, spec));
      }),
      { numRuns: 60 },
    );
  });

  it.each(COMMANDS)("%s: each option with an environment variable takes the same value from it as from its flag", (command) => {
    const rows = RUNNER_OPTIONS[command];
    const required = Object.fromEntries(rows.filter((o) => o.required).map((o) => [o.field, "x"]));
    for (const o of rows.filter((r) => r.env !== undefined)) {
      // A repeatable's variable is one value (comma-separated lists are split by the command, not commander).
      const value = o.kind === "repeatable" ? valueOf(o).filter((v) => (v as unknown[]).length === 1) : valueOf(o);
      fc.assert(
        fc.property(value, (v) => {
          const text = String(v);
          const viaEnv = parsedOptions(argvFor(command, required as unknown as RunnerSpecs[typeof command]), { [o.env!]: text });
          const viaFlag = parsedOptions(argvFor(command, { ...required, [o.field]: v } as unknown as RunnerSpecs[typeof command]));
          expect(viaEnv).toEqual(viaFlag);
        }),
        { numRuns: 15 },
      );
    }
  });
});

describe("the image the components start", () => {
  it("the containers start the runner the way runner/Dockerfile does, with the image's state file", () => {
    const dockerfile = readFileSync(join(REPO, "runner/Dockerfile"), "utf8");
    expect(JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!)).toEqual(RUNNER_EXEC);
    expect(/LIFEBOAT_STATE_FILE=(\S+)/.exec(dockerfile)![1]).toBe(CONTAINER_PATHS.stateFile);
  });
});

describe("ScheduledBackup on Docker runs the e2e backup command line", () => {
  let resources: Declared[];
  beforeAll(async () => {
    resources = await declare(
      () =>
        new ScheduledBackup("app", {
          sourceName: "app", sourceKind: "postgres", sourceUrl: pulumi.secret(SOURCE_URL),
          bucketName: BUCKET, prefix: PREFIX, endpoint: ENDPOINT, region: "auto",
          accessKeyId: pulumi.secret(KEYS.AWS_ACCESS_KEY_ID), secretAccessKey: pulumi.secret(KEYS.AWS_SECRET_ACCESS_KEY),
          ageRecipients: [RECIPIENT], schedule: "0 3 * * *", alertWebhookUrl: pulumi.secret(WEBHOOK),
        }),
    );
  });

  it("the container's scheduler parses, its job table runs a backup on the source's cron exactly as the e2e `backup()` helper does", () => {
    const c = one(resources, "docker:index/container:Container");
    const { job, run: deployed } = scheduled(c, "backup-app");
    expect(job.cron).toBe("0 3 * * *");
    expect(deployed.command).toBe("backup");

    // postgres.e2e.test.ts: backupArgs({ source: "postgres", url, recipients: [key.recipient], ...dest(), json: true, ...spec }) under s3.env.
    const e2e = parse(
      backupArgs({ source: "postgres", url: SOURCE_URL, recipients: [RECIPIENT], ...DEST, stateFile: CONTAINER_PATHS.stateFile, json: true, name: "app", alertWebhook: WEBHOOK }),
      { ...KEYS },
    );
    expect(deployed.opts).toEqual(e2e.opts);
    // The S3 keys the e2e tests pass in the environment reach the run by the same names.
    expect(scheduledJob(c, "backup-app").env).toMatchObject(KEYS);
  });

  it("the healthcheck parses as `status --local` on the scheduler's state file", () => {
    const c = one(resources, "docker:index/container:Container");
    const [cmd, ...rest] = c.inputs.healthcheck.tests;
    expect(cmd).toBe("CMD");
    const hc = parse(afterExec(rest));
    expect(hc.command).toBe("status");
    expect(hc.opts).toMatchObject({ local: true, stateFile: CONTAINER_PATHS.stateFile });
    expect(hc.opts.name).toBeUndefined();
    // scheduler.e2e.test.ts: statusArgs({ local: true, stateFile }) with an empty env; each job's max age is in the table.
    expect(hc.opts).toEqual(parse(statusArgs({ local: true, stateFile: CONTAINER_PATHS.stateFile })).opts);
    expect(jobTableOf(c).jobs[0]!.maxAge).toBe("25h");
  });
});

describe("ScheduledBackup on ECS runs the e2e backup command line, once per task", () => {
  it("the task's command with its Secrets Manager env parses to the e2e backup options", async () => {
    const resources = await declare(
      () =>
        new ScheduledBackup("app", {
          sourceName: "app", sourceKind: "postgres", sourceUrl: pulumi.secret(SOURCE_URL),
          bucketName: BUCKET, prefix: PREFIX, endpoint: ENDPOINT, region: "auto",
          accessKeyId: pulumi.secret(KEYS.AWS_ACCESS_KEY_ID), secretAccessKey: pulumi.secret(KEYS.AWS_SECRET_ACCESS_KEY),
          ageRecipients: [RECIPIENT], runtime: "ecs", clusterArn: "arn:aws:ecs:eu-west-1:123456789012:cluster/c", subnetIds: ["subnet-0a"], ecsRegion: "eu-west-1",
        }),
    );
    const def = JSON.parse(one(resources, "aws:ecs/taskDefinition:TaskDefinition").inputs.containerDefinitions)[0];
    const stored = JSON.parse(one(resources, "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString.value);
    // What ECS injects: each `secrets` entry's env name, with the JSON key its valueFrom names.
    const env = Object.fromEntries(def.secrets.map((s: any) => [s.name, stored[/:([A-Z_]+)::$/.exec(s.valueFrom)![1]!]]));
    const deployed = parse(afterExec([...def.entryPoint, ...def.command]), env);
    expect(deployed.command).toBe("backup");
    const e2e = parse(backupArgs({ source: "postgres", url: SOURCE_URL, recipients: [RECIPIENT], ...DEST, json: true, name: "app" }), { ...KEYS });
    expect(deployed.opts).toEqual(e2e.opts);
    expect(env).toMatchObject(KEYS);
  });
});

describe("ScheduledVerification runs the e2e verify and status command lines", () => {
  let resources: Declared[];
  beforeAll(async () => {
    resources = await declare(
      () =>
        new ScheduledVerification("app", {
          sourceName: "app", sourceKind: "postgres", bucketName: BUCKET, prefix: PREFIX, endpoint: ENDPOINT, region: "auto",
          accessKeyId: pulumi.secret(KEYS.AWS_ACCESS_KEY_ID), secretAccessKey: pulumi.secret(KEYS.AWS_SECRET_ACCESS_KEY),
          ageIdentity: pulumi.secret("AGE-SECRET-KEY-1EXAMPLE"), scratchUrl: pulumi.secret(SCRATCH_URL),
          schedule: "0 5 * * 0", maxAge: "1h",
        }),
    );
  });
  const container = () => one(resources, "docker:index/container:Container");

  it("verify: e2e `verifyArgs({ name, identity: key.file, scratchUrl, ...dest() })`, with the uploaded identity file", () => {
    const { job, run: deployed } = scheduled(container(), "verify-app");
    expect(job.cron).toBe("0 5 * * 0");
    expect(deployed.command).toBe("verify");
    const identityFile = uploadsOf(container()).find((u) => u.file !== CONTAINER_PATHS.jobs)!.file;
    const e2e = parse(verifyArgs({ name: "app", identity: identityFile, scratchUrl: SCRATCH_URL, ...DEST, json: true }), { ...KEYS });
    expect(deployed.opts).toEqual(e2e.opts);
  });

  it("status: e2e `statusArgs({ name, maxAge, ...dest(), json: true })`, hourly, in the same scheduler", () => {
    const { job, run: deployed } = scheduled(container(), "status-app");
    expect(job.cron).toBe("0 * * * *");
    expect(deployed.command).toBe("status");
    expect(deployed.opts).toEqual(parse(statusArgs({ name: "app", maxAge: "1h", ...DEST, json: true }), { ...KEYS }).opts);
  });
});

describe("ScheduledReplication runs the e2e replicate command line", () => {
  const REPLICA = { bucket: "prod-replica-1", prefix: "dr/prod", endpoint: "https://s3.us-east-2.amazonaws.com", region: "us-east-2" };
  const REPLICA_KEYS = { LIFEBOAT_REPLICA_ACCESS_KEY_ID: "AKIAREPLICAEXAMPLE", LIFEBOAT_REPLICA_SECRET_ACCESS_KEY: "replica-secret-example" };
  const PING = "https://hc-ping.com/replicate-x";
  const args = {
    bucketName: BUCKET, prefix: PREFIX, endpoint: ENDPOINT, region: "auto",
    replicaBucketName: REPLICA.bucket, replicaPrefix: REPLICA.prefix, replicaEndpoint: REPLICA.endpoint, replicaRegion: REPLICA.region,
    accessKeyId: pulumi.secret(KEYS.AWS_ACCESS_KEY_ID), secretAccessKey: pulumi.secret(KEYS.AWS_SECRET_ACCESS_KEY),
    replicaAccessKeyId: pulumi.secret(REPLICA_KEYS.LIFEBOAT_REPLICA_ACCESS_KEY_ID), replicaSecretAccessKey: pulumi.secret(REPLICA_KEYS.LIFEBOAT_REPLICA_SECRET_ACCESS_KEY),
    rpo: "1h", alertWebhookUrl: pulumi.secret(WEBHOOK), healthcheckUrl: pulumi.secret(PING),
  };
  // replicate.e2e.test.ts: replicateArgs({ all: true, to, toEndpoint, toRegion, ...src(), json: true, alertWebhook, pingUrl, ...spec })
  // under AWS_* (source) and LIFEBOAT_REPLICA_* (replica); its test-only part size, work dir and state file left out.
  const e2e = () =>
    parse(
      replicateArgs({
        all: true, to: `s3://${REPLICA.bucket}/${REPLICA.prefix}`, toEndpoint: REPLICA.endpoint, toRegion: REPLICA.region,
        ...DEST, json: true, alertWebhook: WEBHOOK, pingUrl: PING, maxLag: "1h",
      }),
      { ...KEYS, ...REPLICA_KEYS },
    );

  it("Docker: the scheduler parses, its job runs replicate on the replication cron exactly as the e2e `replicate()` helper does", async () => {
    const resources = await declare(() => new ScheduledReplication("app", { ...args, schedule: "*/20 * * * *" }));
    const c = one(resources, "docker:index/container:Container");
    const { job, run: deployed } = scheduled(c, "replicate-app");
    expect(job.cron).toBe("*/20 * * * *");
    expect(deployed.command).toBe("replicate");
    expect(deployed.opts).toEqual(e2e().opts);
    expect(deployed.opts).toMatchObject({ all: true, maxLag: "1h", copy: true });
    // Both identities the e2e test passes in the environment reach the run by the same names.
    expect(scheduledJob(c, "replicate-app").env).toMatchObject({ ...KEYS, ...REPLICA_KEYS });
  });

  it("ECS: the task's command with its Secrets Manager env parses to the e2e replicate options", async () => {
    const resources = await declare(
      () => new ScheduledReplication("app", { ...args, runtime: "ecs", clusterArn: "arn:aws:ecs:us-east-2:123456789012:cluster/c", subnetIds: ["subnet-0a"], ecsRegion: "us-east-2" }),
    );
    const def = JSON.parse(one(resources, "aws:ecs/taskDefinition:TaskDefinition").inputs.containerDefinitions)[0];
    const stored = JSON.parse(one(resources, "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString.value);
    const env = Object.fromEntries(def.secrets.map((s: any) => [s.name, stored[/:([A-Z_]+)::$/.exec(s.valueFrom)![1]!]]));
    const deployed = parse(afterExec([...def.entryPoint, ...def.command]), env);
    expect(deployed.command).toBe("replicate");
    expect(deployed.opts).toEqual(e2e().opts);
    expect(env).toMatchObject({ ...KEYS, ...REPLICA_KEYS });
  });
});

describe("DisasterRecovery's host schedulers: every job of both tables parses with the runner's CLI under its own environment", () => {
  it("the prod layout's 5 backups, 15 drill, health and status-page jobs and the replicate job each reach their command with their source and secrets", async () => {
    const config = validateStackConfig({
      storage: { provider: "r2", accountId: "0123456789abcdef0123456789abcdef", location: "weur" },
      replicas: [{ provider: "s3", region: "eu-central-1" }],
      sources: [
        { name: "app-db", kind: "postgres", url: SOURCE_URL, schedule: "0 * * * *", rpo: "1h" },
        { name: "n8n-data", kind: "volume", volume: "n8n_data" },
        { name: "wa-sessions", kind: "volume", volume: "whatsapp_sessions" },
        { name: "uploads", kind: "directory", path: "/srv/uploads" },
        { name: "cache", kind: "redis", url: "redis://redis:6379/0" },
      ],
      ageRecipients: [RECIPIENT],
      ageIdentity: "AGE-SECRET-KEY-12LV56Y8MSYUZXR2MJG4H6XSUA3MPV8A4UXTCFT2JFCK88XUVGJCSDX7CJJ",
      verification: { scratchUrl: SCRATCH_URL },
      alerts: { webhookUrl: WEBHOOK },
      runtime: { kind: "docker", host: "ssh://backup@prod-db.internal" },
    }, "prod");
    const resources = await declare(() => new DisasterRecovery("lifeboat-prod", { config }));
    const seen: string[] = [];
    for (const side of ["backup", "verify"]) {
      const c = resources.find((r) => r.type === "docker:index/container:Container" && r.name === `lifeboat-prod-${side}`)!;
      for (const job of jobTableOf(c).jobs) {
        const { run } = scheduled(c, job.name);
        const kind = job.name.split("-")[0]!;
        expect(run.command).toBe(kind);
        if (kind !== "replicate") expect(run.opts.name).toBe(job.name.slice(kind.length + 1));
        // Each run's secrets arrive by the runner's own variables: keys always, the webhook for all but the status page (status alerts), the source URL for backups of networked sources.
        expect(run.opts).toMatchObject({ ...(kind === "report" ? {} : { alertWebhook: WEBHOOK }), json: true });
        if (kind === "report") {
          expect(run.opts).toMatchObject({ html: `${CONTAINER_PATHS.stateDir}/status/${run.opts.name}.html`, upload: true });
          expect(run.opts).not.toHaveProperty("alertWebhook");
        }
        if (job.name === "backup-app-db") expect(run.opts.url).toBe(SOURCE_URL);
        if (kind === "verify") expect(run.opts.identity).toBe(CONTAINER_PATHS.identity);
        seen.push(`${side}:${kind}`);
      }
    }
    expect(seen.sort()).toEqual([...Array(5).fill("backup:backup"), "verify:replicate", ...Array(5).fill("verify:report"), ...Array(5).fill("verify:status"), ...Array(5).fill("verify:verify")]);
  });
});
