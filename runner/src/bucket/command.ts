import { Logger } from "pino";
import { parseRecipients } from "../age";
import { ENV, LOCK_MODES, LockMode } from "lifeboat-core";
import { EXIT_FAILED, EXIT_OK, UsageError, errorMessage } from "../errors";
import { BackupOpts } from "../commands/backup";
import { S3Bounds, checkName, intOption, makeAlerts, makeStore, output, runDeadline, s3Bounds, statePath } from "../context";
import { requireTools } from "../proc";
import { formatBytes } from "../progress";
import { redactUrl } from "../redact";
import { recordRun } from "../state";
import { runStart } from "../clock";
import { RUNNER_VERSION } from "../version";
import { envCredentials, otherBucket, parseWindow } from "./app";
import { bucketBackup } from "./backup";
import { bucketLocks } from "./store";

/** backup's flags that only a bucket source reads. */
export interface BucketBackupOpts {
  bucketUrl?: string;
  bucketEndpoint?: string;
  bucketRegion?: string;
  window?: string;
  copyConcurrency?: string;
}

/** The flags of the other kinds: given with --source bucket they would be silently ignored. */
const NOT_FOR_BUCKET: Array<[keyof BackupOpts, string]> = [
  ["url", "--url"],
  ["path", "--path"],
  ["keepLocal", "--keep-local"],
  ["localDir", "--local-dir"],
  ["retention", "--retention (the bucket source locks by --window: copies 2 x window, snapshots window)"],
];

/**
 * Objects up to this size (age adds a header and 16 bytes per 64 KiB) are copied through a store
 * whose one buffer is 1 MiB: a single create-only put, never a multipart upload.
 */
const SMALL_OBJECT = 1024 * 1024 - 64 * 1024;

/** A store on the backup bucket with smaller buffers (see BucketBackupParams.storeFor and manifestStore). */
function smallerStore(o: BackupOpts, bounds: S3Bounds, partSizeBytes: number, queueSize: number) {
  return makeStore(o, { bounds: { ...bounds, partSizeBytes, queueSize } });
}

/** Everything checked before the app bucket or the backup bucket is touched. */
function validate(o: BackupOpts & BucketBackupOpts, log: Logger) {
  const name = checkName(o.name);
  const recipients = parseRecipients(o.recipient ?? []);
  if (recipients.length === 0) throw new UsageError("--recipient age1... (or LIFEBOAT_AGE_RECIPIENTS) is required: every stored copy is encrypted to an age public key");
  if (!o.upload) throw new UsageError("--no-upload: a bucket source is backed up into a bucket (--dest), not a local directory");
  for (const [k, flag] of NOT_FOR_BUCKET) if (o[k] !== undefined) throw new UsageError(`${flag} is not for --source bucket`);
  if (!o.bucketUrl) throw new UsageError(`--bucket-url s3://APPBUCKET[/PREFIX] (or ${ENV.bucketUrl}) is required for --source bucket`);
  const windowSeconds = parseWindow(o.window);
  const concurrency = intOption("--copy-concurrency", o.copyConcurrency ?? "8", 1, 64);
  let lockMode: LockMode | undefined;
  if (o.lockMode !== undefined) {
    if (!(LOCK_MODES as readonly string[]).includes(o.lockMode)) throw new UsageError(`--lock-mode: must be governance or compliance, got ${JSON.stringify(o.lockMode)}`);
    if (o.region === "auto") throw new UsageError("--lock-mode: R2 (--region auto) has no per-object lock; its bucket-lock rules cover objects/ and snapshots/");
    lockMode = o.lockMode as LockMode;
  }
  const credentials = envCredentials(ENV.bucketAccessKeyId, ENV.bucketSecretAccessKey, true);
  const bounds = s3Bounds(o, runDeadline(o));
  const store = makeStore(o, { bounds });
  const small = smallerStore(o, bounds, 1024 * 1024, 1);
  const manifests = smallerStore(o, bounds, 5 * 1024 * 1024, 2);
  const app = otherBucket(
    { url: "--bucket-url", endpoint: "--bucket-endpoint", region: "--bucket-region" },
    o.bucketUrl,
    o.bucketEndpoint,
    o.bucketRegion,
    credentials,
    bounds,
  );
  const tools = requireTools([{ cmd: "age", why: "encrypts every stored copy" }]);
  return { name, recipients, windowSeconds, concurrency, lockMode, store, small, manifests, app, tools, alerts: makeAlerts(o, log) };
}

/** `backup --source bucket`: one incremental snapshot of the app bucket (see bucket/backup.ts). */
export async function bucketBackupCommand(o: BackupOpts & BucketBackupOpts, log: Logger): Promise<number> {
  const v = validate(o, log);
  const stateFile = statePath(o);
  const started = runStart();
  const where = v.store.description.replace(/\/$/, "");
  log.info({ source: v.name, kind: "bucket", bucket: v.app.url, dest: where }, `bucket snapshot of ${v.name} started`);
  await v.alerts.ping("start");
  const warnings: string[] = [];
  try {
    const r = await bucketBackup({
      name: v.name,
      store: v.store,
      storeFor: (bytes) => (bytes <= SMALL_OBJECT ? v.small : v.store),
      manifestStore: v.manifests,
      app: v.app,
      bucketEndpoint: o.bucketEndpoint,
      recipients: v.recipients,
      windowSeconds: v.windowSeconds,
      concurrency: v.concurrency,
      tools: { ...v.tools, "lifeboat-runner": RUNNER_VERSION },
      locks: v.lockMode ? bucketLocks(v.lockMode, v.windowSeconds) : undefined,
      started,
      log,
      warn: (t) => {
        warnings.push(t);
        log.warn(t);
      },
    });
    const s = r.summary;
    await recordRun(stateFile, v.name, {
      ok: true,
      startedAt: r.header.startedAt,
      finishedAt: s.finishedAt,
      key: r.key,
      storedBytes: s.copiedBytes,
      rawBytes: s.bytes,
    }).catch((e) => log.warn(`could not write state file ${stateFile}: ${errorMessage(e)}`));
    const secs = (Date.parse(s.finishedAt) - started.getTime()) / 1000;
    log.info({ source: v.name, key: r.key, ...s, vanished: s.vanished.length, seconds: secs }, `bucket snapshot of ${v.name} finished`);
    await v.alerts.ping("success");
    output(
      o,
      { ok: true, key: r.key, snapshot: r.header, summary: s, warnings },
      `backup ok: ${v.name} (${v.app.url}) -> ${r.key}\n` +
        `  ${s.objects} objects, ${formatBytes(s.bytes)}; copied ${s.copied} (${formatBytes(s.copiedBytes)}: ${s.new} new, ${s.changed} changed, ${s.stale} past the window), reused ${s.reused}, deleted since last ${s.deleted}, ${secs.toFixed(1)}s` +
        (s.vanished.length ? `\n  ${s.vanished.length} listed but deleted before they were read (not in this snapshot)` : ""),
    );
    return EXIT_OK;
  } catch (e) {
    const msg = redactUrl(errorMessage(e));
    log.error({ source: v.name, err: msg }, `bucket snapshot of ${v.name} failed: ${msg}`);
    await recordRun(stateFile, v.name, { ok: false, startedAt: started.toISOString(), finishedAt: new Date().toISOString(), error: msg }).catch(() => undefined);
    await v.alerts.failure(`Lifeboat: bucket snapshot of ${v.name} (${v.app.url}) to ${where} FAILED: ${msg}`);
    output(o, { ok: false, source: v.name, error: msg }, "");
    process.stderr.write(`lifeboat-runner backup: ${msg}\n`);
    return EXIT_FAILED;
  }
}
