import { tmpdir } from "node:os";
import { Logger } from "pino";
import { NAME_PATTERN, parseDuration } from "lifeboat-core";
import { RunError, UsageError } from "./errors";
import { parseDest, S3Dest } from "./dest";
import { DEST_FLAGS, LocalStore, makeS3Client, S3Credentials, S3Flags, S3Options, S3Store, Store } from "./store";
import { LockPolicy, lockPolicy } from "./lock";
import { Alerts } from "./alerts";
import { defaultStatePath } from "./state";
import { runStopped } from "./stop";

/** Options every command that touches the destination accepts (see cli.ts for flags). */
export interface StoreOpts {
  dest?: string;
  endpoint?: string;
  region?: string;
  localDir?: string;
  partSize: string;
  concurrency: string;
  maxAttempts: string;
  timeout: string;
  requestTimeout: string;
  /** Commands that run to an end (not wal-stream): the whole run's bound, e.g. `6h`. */
  runTimeout?: string;
}

/** backup and basebackup: per-object S3 Object Lock (see lock.ts). */
export interface LockOpts {
  retention?: string;
  lockMode?: string;
}

export interface CommonOpts {
  json?: boolean;
  alertWebhook?: string;
  pingUrl?: string;
  stateFile?: string;
  workDir?: string;
}

export function intOption(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(String(text).trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return n;
}

export function checkName(name: string | undefined, flag = "--name"): string {
  if (!name) throw new UsageError(`${flag} NAME is required`);
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(`${flag}: ${JSON.stringify(name)} must be lowercase letters, digits and hyphens, starting with a letter or digit, at most 63 characters`);
  }
  return name;
}

/**
 * The run's deadline (`--run-timeout`): a signal that aborts every S3 request of the run (and a
 * body being uploaded or downloaded) with an error that names the bound, so a stalled endpoint
 * ends the run, alerted, instead of hanging it (and, under `schedule`, every later run). A
 * SIGTERM/SIGINT that stops the run (stop.ts) aborts it too, with "stopped by SIGTERM"; every
 * command that runs to an end has a deadline (`--run-timeout` defaults to 6h).
 */
export function runDeadline(o: StoreOpts): AbortSignal | undefined {
  if (o.runTimeout === undefined) return undefined;
  let seconds: number;
  try {
    seconds = parseDuration(o.runTimeout);
  } catch (e) {
    throw new UsageError(`--run-timeout: ${(e as Error).message}`);
  }
  const ac = new AbortController();
  // unref: the timer never keeps a finished run alive.
  setTimeout(() => ac.abort(new RunError(`the run did not finish within --run-timeout ${o.runTimeout}`)), seconds * 1000).unref();
  return AbortSignal.any([ac.signal, runStopped]);
}

/** What every S3 side of a run shares: request bounds, sizes and the run's deadline. */
export type S3Bounds = Omit<S3Options, "endpoint" | "region" | "credentials">;

/** The one parse of the S3 request flags (--max-attempts, --part-size, --concurrency, --timeout, --request-timeout). */
export function s3Bounds(o: StoreOpts, signal?: AbortSignal): S3Bounds {
  return {
    maxAttempts: intOption("--max-attempts", o.maxAttempts, 1, 20),
    partSizeBytes: intOption("--part-size", o.partSize, 5, 5120) * 1024 * 1024,
    queueSize: intOption("--concurrency", o.concurrency, 1, 32),
    timeoutMs: intOption("--timeout", o.timeout, 1, 3600) * 1000,
    requestTimeoutMs: intOption("--request-timeout", o.requestTimeout, 1, 86400) * 1000,
    signal,
  };
}

/**
 * An identity of its own from a pair of environment variables (and an optional session token):
 * both or neither; neither leaves the side on the default chain (AWS_*, a task role).
 */
export function envIdentity(idVar: string, secretVar: string, tokenVar?: string): S3Credentials | undefined {
  const id = process.env[idVar];
  const secret = process.env[secretVar];
  if (!!id !== !!secret) throw new UsageError(`${idVar} and ${secretVar} go together: set both or neither`);
  if (!id || !secret) return undefined;
  const token = tokenVar ? process.env[tokenVar] : undefined;
  return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
}

/** One S3 side of a run (--dest's, a replica's): where, its flags for messages, its identity (default: the AWS_* chain). */
export interface S3Side {
  dest: S3Dest;
  endpoint?: string;
  region?: string;
  flags: S3Flags;
  credentials?: S3Credentials;
}

/** A store on one S3 side, with the run's bounds ({@link s3Bounds}, parsed once for every side). */
export function s3Store(side: S3Side, bounds: S3Bounds): S3Store {
  const s: S3Options = { ...bounds, endpoint: side.endpoint, region: side.region, credentials: side.credentials };
  return new S3Store(makeS3Client(s, side.flags), side.dest, s);
}

/**
 * The destination: a local directory with --local-dir, else S3/R2 from --dest. `bounds`: the
 * run's S3 bounds when the caller parsed them for other sides too; default: parsed here, with
 * the run's deadline ({@link runDeadline}).
 */
export function makeStore(o: StoreOpts, opts: { local?: boolean; bounds?: S3Bounds } = {}): Store {
  if (o.localDir || opts.local) {
    if (!o.localDir) throw new UsageError("--local-dir DIR (or LIFEBOAT_LOCAL_DIR) is required with --no-upload");
    return new LocalStore(o.localDir, runDeadline(o));
  }
  const dest = parseDest(o.dest);
  const bounds = opts.bounds ?? s3Bounds(o, runDeadline(o));
  return s3Store({ dest, endpoint: o.endpoint, region: o.region, flags: DEST_FLAGS }, bounds);
}

/** `--retention` with `--lock-mode` for an S3 destination (R2 and local mode have no per-object lock). */
export function makeLockPolicy(o: LockOpts & StoreOpts, store: Store): LockPolicy | undefined {
  const policy = lockPolicy(o.retention, o.lockMode);
  if (policy) assertPerObjectLock("--retention/--lock-mode", o, store);
  return policy;
}

/** Per-object S3 Object Lock flags need an S3 destination: R2 and local mode have no per-object lock. */
export function assertPerObjectLock(flags: string, o: StoreOpts, store: Store): void {
  if (!(store instanceof S3Store)) throw new UsageError(`${flags} set S3 Object Lock on each object: not with --local-dir`);
  if (o.region === "auto") throw new UsageError(`${flags}: R2 (--region auto) has no per-object lock; its bucket-lock rules lock each prefix`);
}

export function makeAlerts(o: CommonOpts, log: Logger): Alerts {
  for (const [flag, v] of [["--alert-webhook", o.alertWebhook], ["--ping-url", o.pingUrl]] as const) {
    if (v && !/^https?:\/\//.test(v)) throw new UsageError(`${flag}: must be an http(s) URL`);
  }
  return new Alerts({ webhook: o.alertWebhook, pingUrl: o.pingUrl }, log);
}

export function workDir(o: CommonOpts): string {
  return o.workDir || tmpdir();
}

export function statePath(o: CommonOpts): string {
  return o.stateFile || defaultStatePath();
}

/** Prints a command's result: JSON with --json, else the human text. */
export function output(o: CommonOpts, json: unknown, human: string): void {
  if (o.json) process.stdout.write(JSON.stringify(json, null, 2) + "\n");
  else if (human) process.stdout.write(human.endsWith("\n") ? human : human + "\n");
}
