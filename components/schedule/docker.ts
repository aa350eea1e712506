/**
 * The Docker runtime of the jobs on a Docker host (`@pulumi/docker`): the provider and the runner
 * image (pulled, or built on the host from runner/Dockerfile and a build context), and the
 * containers: the schedulers of scheduler.ts, a PITR source's `wal-stream` sidecar, a bucket
 * source's `bucket-events` consumer, and a failover's one-shot `restore`.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { physicalName } from "../naming";
import { CONTAINER_PATHS, RUNNER_EXEC, RUNNER_UID, SourceMount, dockerEnvs } from "./commands";
import { BUILD_INPUTS, buildContextDigest } from "./buildContext";
import { jobPrivileges } from "./privileges";

/**
 * The runner image used when none is configured: what `npm run image:build` tags and
 * `npm run image:push -- REGISTRY/NAME:TAG` publishes (docs/image.md). Push it to a registry
 * your hosts reach and set `image`, or set `build: true`.
 */
export const DEFAULT_RUNNER_IMAGE = "ghcr.io/lifeboat-dr/lifeboat-runner:0.1.0";

/** Docker runtime settings, as plain component args. */
export interface DockerRuntimeArgs {
  /** Docker host, e.g. `ssh://backup@db-host`; an explicit docker provider is declared for it. @default the provider's (local engine) */
  dockerHost?: string;
  /** Runner image reference to pull. @default DEFAULT_RUNNER_IMAGE */
  image?: string;
  /** Build the image from runner/Dockerfile on the Docker host instead of pulling `image`. @default false */
  build?: boolean;
  /** Build context holding runner/Dockerfile (with build). @default the Lifeboat package root */
  buildContext?: string;
  /** Docker network the container joins to reach databases. @default the default bridge */
  network?: string;
  /** json-file log rotation: size of one log file. @default "10m" */
  logMaxSize?: string;
  /** json-file log rotation: files kept. @default 5 */
  logMaxFiles?: number;
  /** Extra container labels. @default none */
  labels?: Record<string, string>;
}

/**
 * The build context when none is given: the nearest directory above this module with
 * runner/package.json or runner/Dockerfile (the checkout, or the installed lifeboat package, which
 * ships both), else the working directory (the build-input check then names what is missing).
 */
export function defaultBuildContext(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "runner", "package.json")) || existsSync(join(dir, "runner", "Dockerfile"))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

/** The provider (when a host is given) and the image the containers run, by image id. */
export interface DockerRunner {
  provider?: docker.Provider;
  /** The local image id (`sha256:…`): it changes only when the image does, so containers are replaced only then. */
  image: pulumi.Output<string>;
}

/** Declares the docker provider for `dockerHost` and the runner image (pulled, or built from runner/Dockerfile). */
export function dockerRunner(name: string, args: DockerRuntimeArgs, parent: pulumi.Resource): DockerRunner {
  const provider = args.dockerHost ? new docker.Provider(`${name}-docker`, { host: args.dockerHost }, { parent }) : undefined;
  const opts: pulumi.CustomResourceOptions = { parent, ...(provider ? { provider } : {}) };
  // Built on the Docker host (the provider's engine) or pulled there; either way the containers
  // reference the image id, which state matches until the image itself changes (a tag never does).
  // keepLocally: other jobs on the same host run the same image; removing one must not delete it.
  const context = args.buildContext ?? defaultBuildContext();
  // runner/Dockerfile copies these from the context (the installed package ships them; a checkout
  // has the dist directories once built): say what is missing before declaring anything.
  if (args.build) {
    const missing = BUILD_INPUTS.filter((f) => !existsSync(join(context, f)));
    if (missing.length) throw new Error(`buildContext: ${context} is not a built lifeboat package or checkout; it has no ${missing.join(", ")} (in a checkout, run npm run build; see docs/image.md)`);
  }
  const image = new docker.RemoteImage(`${name}-image`, {
    name: args.image ?? DEFAULT_RUNNER_IMAGE,
    keepLocally: true,
    ...(args.build ? { build: { context, dockerfile: join("runner", "Dockerfile") }, triggers: { context: buildContextDigest(context) } } : {}),
  }, opts);
  return { ...(provider ? { provider } : {}), image: image.imageId };
}

/** One scheduled job as a container. */
interface DockerJob {
  /** A scheduler's side (`backup`, `verify`), `wal-stream`, `bucket-events` or `restore`: the resource-name suffix and the `lifeboat.job` label. */
  role: string;
  /** Source name, for labels. */
  source: string;
  /** The container command after the entrypoint: `schedule --jobs …` for a scheduler, else the job's own argv. */
  command: pulumi.Input<string[]>;
  /** Environment variables carrying secrets; the whole list is a Pulumi secret. */
  secretEnv: pulumi.Input<Record<string, string>>;
  /** The sources' data, each mounted read-only. */
  mounts?: SourceMount[];
  /** A scheduler's job table (plain JSON), uploaded at CONTAINER_PATHS.jobs. */
  jobTable?: pulumi.Input<string>;
  /** The age identity, uploaded as a 0400 file owned by the runner's user at CONTAINER_PATHS.identity. */
  identity?: pulumi.Input<string>;
  /** Keep runner state on a named volume at CONTAINER_PATHS.stateDir (for the healthcheck). */
  stateVolume?: boolean;
  /** Healthcheck command (exec form, without the leading CMD). */
  healthcheck?: string[];
  /** How long a fresh container may take before failing healthchecks count. */
  healthStartPeriod?: string;
  /** Run once and stay stopped (a failover restore), instead of a long-running scheduler. @default false */
  oneShot?: boolean;
  /** Mounted read-write at CONTAINER_PATHS.target: where a restore job writes. */
  targetMount?: SourceMount;
}

/**
 * A container or volume name on the host: `lifeboat-<component>-<parts>`, without a second
 * `lifeboat-` when the component's name already starts with it (DisasterRecovery's do), shortened
 * with a hash past 63 characters (components/naming.ts).
 */
function dockerName(component: string, ...parts: string[]): string {
  const prefix = component === "lifeboat" || component.startsWith("lifeboat-") ? [] : ["lifeboat"];
  return physicalName("docker", ...prefix, component, ...parts);
}

/** Container name on the host (see {@link dockerName}). */
export function containerName(component: string, role: string): string {
  return dockerName(component, role);
}

function containerLabels(component: string, job: Pick<DockerJob, "role" | "source">, extra: Record<string, string> = {}): { label: string; value: string }[] {
  const all: Record<string, string> = { ...extra, "lifeboat.component": component, "lifeboat.job": job.role, "lifeboat.source": job.source };
  return Object.keys(all).sort().map((label) => ({ label, value: all[label]! }));
}

/**
 * Declares one runner container: long-running (restart unless-stopped) or one-shot, read-only
 * source mount, read-write target mount for restores, rotated logs, secrets as secret env/uploads.
 */
export function dockerJobContainer(name: string, args: DockerRuntimeArgs, runner: DockerRunner, job: DockerJob, parent: pulumi.Resource): docker.Container {
  const opts: pulumi.CustomResourceOptions = { parent, ...(runner.provider ? { provider: runner.provider } : {}) };
  const mounts: docker.types.input.ContainerMount[] = [];
  const volumes: docker.types.input.ContainerVolume[] = [];
  for (const m of job.mounts ?? []) mounts.push({ type: m.type, source: m.source, target: m.target, readOnly: true });
  // A restore target on the host is a bind *volume* (`-v`), not a bind mount: Docker creates a
  // missing host directory for the former and refuses the latter, and a DR host's target path
  // usually does not exist yet.
  if (job.targetMount?.type === "bind") volumes.push({ hostPath: job.targetMount.source, containerPath: job.targetMount.target, readOnly: false });
  else if (job.targetMount) mounts.push({ type: job.targetMount.type, source: job.targetMount.source, target: job.targetMount.target, readOnly: false });
  const privileges = jobPrivileges(job);
  if (job.stateVolume) {
    const state = new docker.Volume(`${name}-${job.role}-state`, { name: dockerName(name, job.role, "state") }, opts);
    mounts.push({ type: "volume", source: state.name, target: CONTAINER_PATHS.stateDir, readOnly: false });
  }
  // The job table stays plain (reviewable in a plan); only the identity's content is secret.
  const uploads: docker.types.input.ContainerUpload[] = [];
  if (job.jobTable !== undefined) uploads.push({ file: CONTAINER_PATHS.jobs, content: job.jobTable, permissions: "0444" });
  if (job.identity !== undefined) {
    uploads.push({ file: CONTAINER_PATHS.identity, content: pulumi.secret(job.identity), permissions: "0400", owner: RUNNER_UID, group: RUNNER_UID } as docker.types.input.ContainerUpload);
  }
  return new docker.Container(`${name}-${job.role}`, {
    name: containerName(name, job.role),
    image: runner.image,
    entrypoints: [...RUNNER_EXEC],
    command: job.command,
    envs: pulumi.secret(pulumi.output(job.secretEnv).apply(dockerEnvs)),
    ...(uploads.length ? { uploads } : {}),
    mounts,
    ...(volumes.length ? { volumes } : {}),
    ...(privileges.user ? { user: privileges.user } : {}),
    capabilities: privileges.capabilities,
    securityOpts: privileges.securityOpts,
    // A one-shot job runs once when created; Pulumi must not start it again on later updates.
    restart: job.oneShot ? "no" : "unless-stopped",
    init: true,
    mustRun: !job.oneShot,
    stopTimeout: 120,
    ...(job.healthcheck
      ? { healthcheck: { tests: ["CMD", ...job.healthcheck], interval: "5m", timeout: "30s", retries: 2, startPeriod: job.healthStartPeriod ?? "15m" } }
      : {}),
    logDriver: "json-file",
    logOpts: { "max-size": args.logMaxSize ?? "10m", "max-file": String(args.logMaxFiles ?? 5) },
    labels: containerLabels(name, job, args.labels),
    ...(args.network ? { networksAdvanced: [{ name: args.network }] } : {}),
  }, opts);
}
