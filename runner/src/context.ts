import { tmpdir } from "node:os";
import { Logger } from "pino";
import { NAME_PATTERN } from "lifeboat-core";
import { UsageError } from "./errors";
import { parseDest } from "./dest";
import { LocalStore, makeS3Client, S3Store, Store } from "./store";
import { Alerts } from "./alerts";
import { defaultStatePath } from "./state";

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

/** The destination: a local directory with --local-dir, else S3/R2 from --dest. */
export function makeStore(o: StoreOpts, opts: { local?: boolean } = {}): Store {
  if (o.localDir || opts.local) {
    if (!o.localDir) throw new UsageError("--local-dir DIR (or LIFEBOAT_LOCAL_DIR) is required with --no-upload");
    return new LocalStore(o.localDir);
  }
  const dest = parseDest(o.dest);
  const client = makeS3Client({
    endpoint: o.endpoint,
    region: o.region,
    maxAttempts: intOption("--max-attempts", o.maxAttempts, 1, 20),
    partSizeBytes: intOption("--part-size", o.partSize, 5, 5120) * 1024 * 1024,
    queueSize: intOption("--concurrency", o.concurrency, 1, 32),
    timeoutMs: intOption("--timeout", o.timeout, 1, 3600) * 1000,
  });
  return new S3Store(client, dest, {
    maxAttempts: intOption("--max-attempts", o.maxAttempts, 1, 20),
    partSizeBytes: intOption("--part-size", o.partSize, 5, 5120) * 1024 * 1024,
    queueSize: intOption("--concurrency", o.concurrency, 1, 32),
    timeoutMs: intOption("--timeout", o.timeout, 1, 3600) * 1000,
    endpoint: o.endpoint,
    region: o.region,
  });
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
