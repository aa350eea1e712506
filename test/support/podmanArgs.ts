import { CONTAINER_PATHS } from "../../components/schedule/commands";

/**
 * Translates the inputs of a planned `docker:index/container:Container` into `podman create`
 * arguments, so that the container e2e suite runs each container the way the Docker provider
 * would create it. Pure: no podman, no filesystem.
 *
 * Every input must be handled here. An input this function does not know makes it throw, so a
 * container input added to the components later cannot be silently dropped by the suite.
 */

/** A file the provider uploads into the container before it starts (`uploads`). */
export interface Upload {
  file: string;
  content: string;
  /** Octal mode, e.g. `0400`. */
  permissions: string;
  owner: string;
  group: string;
}

/** What `podman create` cannot express and the harness must do around it. */
export interface PodmanContainer {
  name: string;
  /** Arguments after `podman create` (options, then the image, then the command). */
  args: string[];
  uploads: Upload[];
  /** Host directories to create before `podman create`: Docker creates a missing `volumes` host path, podman does not. */
  hostDirs: string[];
  /** The container runs until it exits once (restart "no", not mustRun): the harness waits for it. */
  oneShot: boolean;
}

/** Test-harness substitutions: what the plan names in the cloud, and what runs on loopback instead. */
export interface Substitutions {
  /** The locally built image to run, for the plan's image reference (a mock image id). */
  image: string;
  /** Value for every `--endpoint`/`--to-endpoint` flag of the command and of each job in an uploaded job table (the loopback S3). */
  endpoint?: string;
  /**
   * Values for declared environment variables (never adds one), by the name the runner reads: a
   * scheduler's `LIFEBOAT_JOB_<i>_<VAR>` takes the value for the `VAR` its job table maps it to.
   * The S3 keys the plan mints in the cloud mean nothing to the loopback S3, which checks key ids.
   */
  envValues?: Record<string, string>;
  /** The podman volume to mount for a volume name the plan uses (names not listed are used as they are). */
  volumeNames?: Record<string, string>;
  /**
   * A faster cron for each cron an uploaded job table declares (e.g. `* * * * *` → `*\/10 * * * * *`,
   * 6 fields with seconds, which the runner's scheduler takes and a stack cannot state): the suite
   * then sees a job's next run within seconds instead of at the next minute. When given, a job whose
   * cron has no entry is an error, so that no job keeps a schedule the suite does not expect.
   */
  crons?: Record<string, string>;
}

const SECRET_TEXT = "[secret]";

type Inputs = Record<string, unknown>;

function str(v: unknown, field: string): string {
  if (typeof v !== "string") throw new Error(`container input ${field}: expected a string, got ${JSON.stringify(v)}`);
  if (v === SECRET_TEXT) throw new Error(`container input ${field} is a redacted secret: plan with secrets revealed`);
  return v;
}

function strs(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Error(`container input ${field}: expected a list, got ${JSON.stringify(v)}`);
  return v.map((x, i) => str(x, `${field}[${i}]`));
}

function obj(v: unknown, field: string): Inputs {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error(`container input ${field}: expected an object, got ${JSON.stringify(v)}`);
  return v as Inputs;
}

function objs(v: unknown, field: string): Inputs[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Error(`container input ${field}: expected a list, got ${JSON.stringify(v)}`);
  return v.map((x, i) => obj(x, `${field}[${i}]`));
}

/** Throws unless `o` has only the `known` keys: a nested field nobody translates is an error too. */
function only(o: Inputs, field: string, known: string[]): void {
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length) throw new Error(`container input ${field} has ${extra.map((k) => `'${k}'`).join(", ")}, which the podman translation does not handle`);
}

/** Docker durations as the provider passes them (`5m`, `30s`, `1h30m`) are Go durations, which podman takes as they are. */
function duration(v: unknown, field: string): string {
  const s = str(v, field);
  if (!/^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/.test(s)) throw new Error(`container input ${field}: '${s}' is not a duration`);
  return s;
}

function replaceEndpoints(command: string[], endpoint: string | undefined): string[] {
  if (endpoint === undefined) return command;
  return command.map((a, i) => (i > 0 && (command[i - 1] === "--endpoint" || command[i - 1] === "--to-endpoint") ? endpoint : a));
}

/** The parts of a scheduler's job table (`schedule --jobs`) the harness reads and rewrites. */
interface JobTable {
  jobs: { name: string; cron: string; argv: string[]; env?: Record<string, string> }[];
}

function jobTableOf(content: string, field: string): JobTable {
  let t: JobTable;
  try {
    t = JSON.parse(content) as JobTable;
  } catch (e) {
    throw new Error(`container input ${field}: the job table is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(t?.jobs) || t.jobs.some((j) => !Array.isArray(j?.argv))) throw new Error(`container input ${field}: the job table has no jobs[].argv`);
  return t;
}

/**
 * A job table upload with the loopback endpoint in each job's argv and the substituted crons, and
 * which container variable feeds which runner variable (`LIFEBOAT_JOB_0_AWS_ACCESS_KEY_ID` → `AWS_ACCESS_KEY_ID`).
 */
function rewriteJobTable(content: string, field: string, subs: Substitutions): { content: string; runnerVars: Map<string, string> } {
  const t = jobTableOf(content, field);
  const runnerVars = new Map<string, string>();
  for (const j of t.jobs) {
    j.argv = replaceEndpoints(j.argv, subs.endpoint);
    if (subs.crons) {
      const faster = subs.crons[j.cron];
      if (faster === undefined) throw new Error(`container input ${field}: job ${j.name}'s cron ${JSON.stringify(j.cron)} has no substitute in crons`);
      j.cron = faster;
    }
    for (const [runnerVar, containerVar] of Object.entries(j.env ?? {})) runnerVars.set(containerVar, runnerVar);
  }
  return { content: `${JSON.stringify(t, null, 2)}\n`, runnerVars };
}

/**
 * `podman create` arguments for one planned container. Handled inputs, each as the Docker
 * provider applies it: name, image, entrypoints, command, envs, uploads, mounts (volume and
 * bind), volumes (host binds, created when missing), user, capabilities, securityOpts, restart,
 * mustRun, init, stopTimeout, healthcheck, logDriver/logOpts, labels, networksAdvanced.
 */
export function podmanCreateArgs(inputs: Inputs, subs: Substitutions): PodmanContainer {
  const handled = new Set<string>();
  const take = (k: string) => {
    handled.add(k);
    return inputs[k];
  };
  const args: string[] = [];

  const name = str(take("name"), "name");
  args.push("--name", name);
  take("image");

  const entrypoints = strs(take("entrypoints"), "entrypoints");
  // podman takes an exec-form entrypoint as a JSON array.
  if (entrypoints.length) args.push("--entrypoint", JSON.stringify(entrypoints));
  const command = replaceEndpoints(strs(take("command"), "command"), subs.endpoint);

  // Container variable → the runner variable it is passed on as (a scheduler's job table says).
  const runnerVars = new Map<string, string>();
  const uploads = objs(take("uploads"), "uploads").map((u, i): Upload => {
    only(u, `uploads[${i}]`, ["file", "content", "permissions", "owner", "group"]);
    const permissions = str(u.permissions ?? "0644", `uploads[${i}].permissions`);
    if (!/^0?[0-7]{3,4}$/.test(permissions)) throw new Error(`container input uploads[${i}].permissions: '${permissions}' is not an octal mode`);
    const file = str(u.file, `uploads[${i}].file`);
    let content = str(u.content, `uploads[${i}].content`);
    if (file === CONTAINER_PATHS.jobs) {
      const t = rewriteJobTable(content, `uploads[${i}].content`, subs);
      content = t.content;
      for (const [k, v] of t.runnerVars) runnerVars.set(k, v);
    }
    return { file, content, permissions, owner: String(u.owner ?? "0"), group: String(u.group ?? "0") };
  });

  for (const e of strs(take("envs"), "envs")) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) throw new Error(`container input envs: '${e.split("=")[0]}' is not KEY=value`);
    const key = e.slice(0, e.indexOf("="));
    const value = subs.envValues?.[runnerVars.get(key) ?? key];
    args.push("--env", value !== undefined ? `${key}=${value}` : e);
  }

  for (const [i, m] of objs(take("mounts"), "mounts").entries()) {
    only(m, `mounts[${i}]`, ["type", "source", "target", "readOnly"]);
    const type = str(m.type, `mounts[${i}].type`);
    if (type !== "volume" && type !== "bind") throw new Error(`container input mounts[${i}].type: '${type}' is not translated (volume or bind)`);
    const source = str(m.source, `mounts[${i}].source`);
    const src = type === "volume" ? (subs.volumeNames?.[source] ?? source) : source;
    // --mount, not -v: like the provider's Mounts, a bind source that does not exist is an error.
    args.push("--mount", `type=${type},source=${src},target=${str(m.target, `mounts[${i}].target`)}${m.readOnly ? ",ro=true" : ""}`);
  }

  const hostDirs: string[] = [];
  for (const [i, v] of objs(take("volumes"), "volumes").entries()) {
    only(v, `volumes[${i}]`, ["hostPath", "containerPath", "readOnly"]);
    const host = str(v.hostPath, `volumes[${i}].hostPath`);
    // The provider's Binds (`docker run -v`): Docker creates a missing host directory; podman 4 refuses it.
    hostDirs.push(host);
    args.push("--volume", `${host}:${str(v.containerPath, `volumes[${i}].containerPath`)}:${v.readOnly ? "ro" : "rw"}`);
  }

  const user = take("user");
  if (user !== undefined) args.push("--user", str(user, "user"));

  const caps = take("capabilities");
  if (caps !== undefined) {
    const c = obj(caps, "capabilities");
    only(c, "capabilities", ["adds", "drops"]);
    for (const d of strs(c.drops, "capabilities.drops")) args.push("--cap-drop", d);
    for (const a of strs(c.adds, "capabilities.adds")) args.push("--cap-add", a);
  }
  for (const s of strs(take("securityOpts"), "securityOpts")) args.push("--security-opt", s);

  const restart = take("restart");
  const mustRun = take("mustRun");
  if (restart !== undefined) {
    const r = str(restart, "restart");
    if (!["no", "on-failure", "always", "unless-stopped"].includes(r)) throw new Error(`container input restart: '${r}' is not a restart policy`);
    args.push("--restart", r);
  }
  if (mustRun !== undefined && typeof mustRun !== "boolean") throw new Error(`container input mustRun: expected a boolean`);
  // The provider starts every container it creates; mustRun only makes it start a stopped one
  // again on the next update, so a container that is neither restarted nor kept running is a one-shot.
  const oneShot = restart === "no" && mustRun !== true;

  const init = take("init");
  if (init === true) args.push("--init");
  else if (init !== undefined && init !== false) throw new Error(`container input init: expected a boolean`);

  const stop = take("stopTimeout");
  if (stop !== undefined) {
    if (typeof stop !== "number" || !Number.isInteger(stop) || stop < 0) throw new Error(`container input stopTimeout: expected whole seconds`);
    args.push("--stop-timeout", String(stop));
  }

  const hc = take("healthcheck");
  if (hc !== undefined) {
    const h = obj(hc, "healthcheck");
    only(h, "healthcheck", ["tests", "interval", "timeout", "retries", "startPeriod"]);
    const tests = strs(h.tests, "healthcheck.tests");
    if (tests[0] !== "CMD" || tests.length < 2) throw new Error(`container input healthcheck.tests: only the exec form ["CMD", …] is translated`);
    args.push("--health-cmd", JSON.stringify(tests.slice(1)));
    if (h.interval !== undefined) args.push("--health-interval", duration(h.interval, "healthcheck.interval"));
    if (h.timeout !== undefined) args.push("--health-timeout", duration(h.timeout, "healthcheck.timeout"));
    if (h.retries !== undefined) args.push("--health-retries", String(h.retries));
    if (h.startPeriod !== undefined) args.push("--health-start-period", duration(h.startPeriod, "healthcheck.startPeriod"));
  }

  const logDriver = take("logDriver");
  if (logDriver !== undefined) {
    const d = str(logDriver, "logDriver");
    // Docker's json-file driver is podman's k8s-file: both rotate by size.
    if (d !== "json-file") throw new Error(`container input logDriver: '${d}' is not translated (json-file)`);
    args.push("--log-driver", "k8s-file");
  }
  const logOpts = take("logOpts");
  if (logOpts !== undefined) {
    const o = obj(logOpts, "logOpts");
    only(o, "logOpts", ["max-size", "max-file"]);
    // podman has no max-file: it keeps one rotated file. The size limit is what bounds the disk.
    if (o["max-size"] !== undefined) args.push("--log-opt", `max-size=${str(o["max-size"], "logOpts.max-size")}`);
  }

  for (const [i, l] of objs(take("labels"), "labels").entries()) {
    only(l, `labels[${i}]`, ["label", "value"]);
    args.push("--label", `${str(l.label, `labels[${i}].label`)}=${str(l.value, `labels[${i}].value`)}`);
  }

  for (const [i, n] of objs(take("networksAdvanced"), "networksAdvanced").entries()) {
    only(n, `networksAdvanced[${i}]`, ["name"]);
    args.push("--network", str(n.name, `networksAdvanced[${i}].name`));
  }

  const unknown = Object.keys(inputs).filter((k) => !handled.has(k));
  if (unknown.length) throw new Error(`container ${name}: input ${unknown.map((k) => `'${k}'`).join(", ")} is not translated to podman; add it to podmanCreateArgs`);

  args.push(subs.image, ...command);
  return { name, args, uploads, hostDirs, oneShot };
}
