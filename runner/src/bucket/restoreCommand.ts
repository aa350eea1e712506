import { Logger } from "pino";
import { identityRecipients, recipientFingerprint } from "../age";
import { AtTime, parseAt } from "../catalog";
import { ENV } from "lifeboat-core";
import { EXIT_FAILED, EXIT_OK, UsageError, errorMessage } from "../errors";
import { RestoreOpts } from "../commands/restore";
import { checkName, intOption, makeAlerts, makeStore, output, runDeadline, s3Bounds } from "../context";
import { requireTools } from "../proc";
import { formatBytes } from "../progress";
import { redactUrl } from "../redact";
import { envCredentials, otherBucket } from "./app";
import { BucketRestoreParams, Counts, pickSnapshot, planRestore, runRestore } from "./restore";
import { listSnapshots, readSnapshot } from "./store";
import { journalSince } from "./events";

/** restore's flags that only a bucket source reads. */
export interface BucketRestoreOpts {
  source?: string;
  prefix?: string;
  to?: string;
  toEndpoint?: string;
  toRegion?: string;
  dryRun?: boolean;
}

const describe = (c: Counts) => `${c.create} to create, ${c.overwrite} to overwrite, ${c.delete} to delete, ${c.unchanged} unchanged (${formatBytes(c.bytes)} to write)`;

/**
 * `restore --source bucket`: the whole bucket, a prefix or one key as of a snapshot, into a
 * target bucket. `--dry-run` prints the plan; without `--force` nothing in the target is
 * overwritten or deleted (the run refuses before writing anything).
 */
export async function bucketRestoreCommand(o: RestoreOpts & BucketRestoreOpts, log: Logger): Promise<number> {
  const name = checkName(o.name);
  for (const [v, flag] of [[o.targetUrl, "--target-url"], [o.targetDir, "--target-dir"], [o.targetFile, "--target-file"], [o.path?.length ? o.path : undefined, "--path"]] as const) {
    if (v !== undefined) throw new UsageError(`${flag} is not for --source bucket: give --to s3://BUCKET[/PREFIX]`);
  }
  if (!o.to) throw new UsageError("--to s3://BUCKET[/PREFIX] is required for --source bucket: the bucket to rebuild the objects in");
  if (o.prefix !== undefined && o.key !== undefined) throw new UsageError("give --prefix P or --key K, not both");
  if (o.key === "") throw new UsageError("--key: must not be empty");
  const at = parseAt(o.at);
  if (at === "latest-verified") throw new UsageError("--at latest-verified: not for a bucket source; give latest or a time");
  const concurrency = intOption("--jobs", o.jobs, 1, 64);
  const credentials =
    envCredentials(ENV.targetAccessKeyId, ENV.targetSecretAccessKey, false) ?? envCredentials(ENV.bucketAccessKeyId, ENV.bucketSecretAccessKey, false);
  if (!credentials) throw new UsageError(`the target bucket's keys: set ${ENV.targetAccessKeyId}/${ENV.targetSecretAccessKey} (or ${ENV.bucketAccessKeyId}/${ENV.bucketSecretAccessKey})`);
  if (!o.dryRun) {
    if (!o.identity) throw new UsageError(`--identity KEYFILE (or ${ENV.identity}) is required: stored copies are encrypted to an age public key`);
    requireTools([{ cmd: "age", why: "decrypts every stored copy" }]);
  }
  const bounds = s3Bounds(o, runDeadline(o));
  const store = makeStore(o, { bounds });
  const target = otherBucket({ url: "--to", endpoint: "--to-endpoint", region: "--to-region" }, o.to, o.toEndpoint, o.toRegion, credentials, bounds);
  const alerts = makeAlerts(o, log);
  const snapshot = pickSnapshot(await listSnapshots(store, name), name, at);
  const { header } = await readSnapshot(store, snapshot.key);
  if (!o.dryRun) {
    const mine = identityRecipients(o.identity).map(recipientFingerprint);
    if (!header.encryption.recipientFingerprints.some((f) => mine.includes(f))) {
      throw new UsageError(`--identity: ${o.identity} is not one of the keys snapshot ${snapshot.key} was encrypted to`);
    }
  }
  // Event-driven copies and deletes after the snapshot, up to the time asked for, lie over it.
  const journal = await journalSince(store, name, snapshot.time, at instanceof AtTime ? at : new Date());
  const p: BucketRestoreParams = {
    store,
    snapshot,
    journal,
    target,
    sel: { prefix: o.prefix, key: o.key },
    identity: o.identity,
    force: !!o.force,
    concurrency,
    partSize: bounds.partSizeBytes,
    queueSize: bounds.queueSize,
    log,
  };
  const what = o.key !== undefined ? `key ${o.key}` : o.prefix !== undefined ? `prefix ${o.prefix}` : "the whole bucket";
  const asOf = at instanceof AtTime ? ` as of ${at.toIsoMicros()}` : "";
  const lines: string[] = [];
  const plan = await planRestore(p, (a, key) => {
    if (o.dryRun && a !== "unchanged") {
      if (o.json) lines.push(`${a} ${key}`);
      else process.stdout.write(`${a === "delete" && !o.force ? "delete (needs --force)" : a} ${target.url}/${key}\n`);
    }
  });
  const head = `${what} of ${name}${asOf} from snapshot ${snapshot.key}${journal.size ? ` and ${journal.size} later event(s)` : ""} (${header.bucketUrl}) into ${target.url}`;
  if (o.dryRun) {
    output(o, { ok: true, dryRun: true, snapshot: snapshot.key, plan, actions: lines }, `dry run: ${head}: ${describe(plan)}; nothing written`);
    return EXIT_OK;
  }
  if ((plan.overwrite || plan.delete) && !o.force) {
    throw new UsageError(`restore of ${head} would overwrite ${plan.overwrite} and delete ${plan.delete} object(s) in the target: add --force (see them with --dry-run), or restore into an empty bucket or prefix`);
  }
  try {
    const started = Date.now();
    const done = await runRestore(p);
    const secs = (Date.now() - started) / 1000;
    log.info({ source: name, snapshot: snapshot.key, ...done, seconds: secs }, `bucket restore of ${name} finished`);
    output(o, { ok: true, snapshot: snapshot.key, result: done }, `restore ok: ${head}\n  created ${done.create}, overwrote ${done.overwrite}, deleted ${done.delete}, unchanged ${done.unchanged}; ${formatBytes(done.bytes)} in ${secs.toFixed(1)}s`);
    return EXIT_OK;
  } catch (e) {
    const msg = redactUrl(errorMessage(e));
    await alerts.failure(`Lifeboat: bucket restore of ${name} into ${target.url} FAILED: ${msg}`);
    output(o, { ok: false, source: name, error: msg }, "");
    process.stderr.write(`lifeboat-runner restore: ${msg}\n`);
    return EXIT_FAILED;
  }
}
