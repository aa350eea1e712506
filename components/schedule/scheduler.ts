/**
 * The Docker side of the scheduled jobs: one `lifeboat-runner schedule --jobs` container per
 * host and privilege side, running a job table, instead of one container per job.
 *
 * - the backup side runs every backup of a host: it holds the writers' keys, the sources' URLs
 *   and read-only mounts, the age public keys, never the age identity or read credentials;
 * - the verify side runs the drills, health checks and replication: it holds the identity and
 *   the read credentials (restorer, replicator), never a source's password.
 *
 * A job component (ScheduledBackup, ScheduledVerification, ScheduledReplication) describes its
 * jobs as {@link HostJob}s; standalone it runs them in its own scheduler container
 * ({@link dockerScheduler}), inside a `DisasterRecovery` the environment runs every component's
 * jobs in the host's two ({@link DockerSchedulerMode} `host`).
 */
import * as pulumi from "@pulumi/pulumi";
import { JOB_ENV_PREFIX, JobTableInput, parseJobTable, scheduleJobsArgs, statusArgs } from "lifeboat-core";
import { CONTAINER_PATHS, RUNNER_EXEC, SourceMount } from "./commands";
import { DockerRunner, DockerRuntimeArgs, dockerJobContainer, dockerRunner } from "./docker";

/**
 * `component` (default): the component declares its own scheduler container (and the docker
 * provider and image, unless `imageId` is given). `host`: it declares no scheduler; the
 * environment's host schedulers run its `jobs`.
 */
export type DockerSchedulerMode = "component" | "host";

/** Runs at once in one scheduler: one dump at a time keeps a small database host responsive. */
const DEFAULT_MAX_CONCURRENT = 1;

/** One scheduled job of a host, as a job component describes it. */
export interface HostJob {
  /** Unique on the host: `<kind>-<source>` (e.g. `backup-app-db`), the job's key in the state file. */
  name: string;
  /** 5-field cron, UTC. */
  cron: string;
  /** The runner argv of one run. */
  argv: pulumi.Input<string[]>;
  /** The run's secrets: runner env var name → value. */
  secrets: Record<string, pulumi.Input<string>>;
  /** The healthcheck calls the job overdue past this, e.g. `25h`. */
  maxAge: string;
  runAtStart?: boolean;
  /** Read-only source mounts the job reads. */
  mounts?: SourceMount[];
  /** The age identity the job needs at CONTAINER_PATHS.identity (verify side only). */
  identity?: pulumi.Input<string>;
}

/** A resolved job: what {@link jobTable} turns into the table and its environment. */
interface ResolvedJob {
  name: string;
  cron: string;
  argv: string[];
  secrets: Record<string, string>;
  maxAge: string;
  runAtStart?: boolean;
}

/**
 * The job table of a scheduler and the container environment behind it. Job `i`'s secret `VAR`
 * travels as `LIFEBOAT_JOB_<i>_VAR` (by position, so any job name maps to a valid, distinct
 * variable name); the table names those variables, never values, so it can be a plain file
 * that a plan shows in review, while the environment is a Pulumi secret.
 */
export function jobTable(jobs: ResolvedJob[]): { table: JobTableInput; env: Record<string, string> } {
  const env: Record<string, string> = {};
  const table: JobTableInput = {
    version: 1,
    jobs: jobs.map((j, i) => {
      const mapping: Record<string, string> = {};
      for (const k of Object.keys(j.secrets).sort()) {
        const v = j.secrets[k]!;
        if (v === "") continue;
        const from = `${JOB_ENV_PREFIX}${i}_${k}`;
        mapping[k] = from;
        env[from] = v;
      }
      return { name: j.name, cron: j.cron, argv: [...j.argv], env: mapping, maxAge: j.maxAge, ...(j.runAtStart ? { runAtStart: true } : {}) };
    }),
  };
  return { table, env };
}

/** The scheduler container's command: `schedule --jobs <uploaded table> --max-concurrent N --state-file <state volume>`. */
function schedulerCommand(maxConcurrent: number = DEFAULT_MAX_CONCURRENT): string[] {
  return scheduleJobsArgs({ jobsFile: CONTAINER_PATHS.jobs, maxConcurrent, stateFile: CONTAINER_PATHS.stateFile });
}

/** The Docker healthcheck: every job's state from the scheduler's state file (each job's own max age). */
function schedulerHealthcheck(): string[] {
  return [...RUNNER_EXEC, ...statusArgs({ local: true, stateFile: CONTAINER_PATHS.stateFile })];
}

/** The provider and image a component's containers use: the host's (`imageId`), else its own. */
export function componentRunner(name: string, args: DockerRuntimeArgs & { imageId?: pulumi.Input<string> }, parent: pulumi.Resource): DockerRunner {
  return args.imageId !== undefined ? { image: pulumi.output(args.imageId) } : dockerRunner(name, args, parent);
}

/**
 * Declares one scheduler container running `jobs` (at least one): the job table uploaded as a
 * plain file, each job's secrets in the secret environment, every job's source mounted
 * read-only at its own path, the identity uploaded when a job needs it, state on a volume for
 * the healthcheck. `role` names the container (`lifeboat-<name>-<role>`).
 */
export function dockerScheduler(
  name: string,
  role: string,
  args: DockerRuntimeArgs & { maxConcurrent?: number },
  runner: DockerRunner,
  jobs: HostJob[],
  parent: pulumi.Resource,
): ReturnType<typeof dockerJobContainer> {
  const names = jobs.map((j) => j.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new pulumi.ResourceError(`${name}: two scheduled jobs are named ${JSON.stringify(dup)}`, parent);
  const identities = jobs.filter((j) => j.identity !== undefined);
  const resolved = pulumi
    .all(jobs.map((j) => pulumi.all([pulumi.output(j.argv), pulumi.all(j.secrets)])))
    .apply((parts) => {
      const r = jobTable(jobs.map((j, i): ResolvedJob => ({ name: j.name, cron: j.cron, argv: parts[i]![0], secrets: parts[i]![1], maxAge: j.maxAge, ...(j.runAtStart ? { runAtStart: true } : {}) })));
      // The runner's own validation, at plan time: a table it would refuse never reaches a host.
      parseJobTable(r.table, `${name}: ${role} scheduler`);
      return r;
    });
  // Each source at its own path; two jobs of one source (never on one side today) share it.
  const mounts = new Map<string, SourceMount>();
  for (const m of jobs.flatMap((j) => j.mounts ?? [])) mounts.set(m.target, m);
  return dockerJobContainer(name, args, runner, {
    role,
    source: [...new Set(jobs.map((j) => j.name.replace(/^[a-z]+-/, "")))].sort().join(","),
    command: schedulerCommand(args.maxConcurrent),
    // The table is plain text (names of variables, not values); unwrapping a secret here is safe
    // because jobTable() moved every secret value into `env`.
    jobTable: pulumi.unsecret(resolved.apply((r) => JSON.stringify(r.table, null, 2) + "\n")),
    secretEnv: resolved.apply((r) => r.env),
    mounts: [...mounts.values()],
    ...(identities.length ? { identity: identities[0]!.identity! } : {}),
    stateVolume: true,
    healthcheck: schedulerHealthcheck(),
  }, parent);
}
