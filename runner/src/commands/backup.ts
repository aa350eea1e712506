import { randomBytes } from "node:crypto";
import { Logger } from "pino";
import { backupKey, EXTENSIONS, MANIFEST_SUFFIX, manifestKey, SOURCE_KINDS, SourceKind, sourcePrefix, tierFor } from "lifeboat-core";
import { parseRecipients } from "../age";
import { EXIT_DEGRADED, EXIT_FAILED, EXIT_OK, UsageError, errorMessage } from "../errors";
import { Manifest, storedObjectManifest } from "../manifest";
import { encode, encodedFacts } from "../pipeline";
import { openSource } from "../sources";
import { pgTarget } from "../sources/postgres";
import { redisCliArgs } from "../sources/redis";
import { redactUrl } from "../redact";
import { checkDirectory } from "../sources/archive";
import { Progress, formatBytes } from "../progress";
import { recordRun } from "../state";
import { CommonOpts, LockOpts, StoreOpts, checkName, intOption, makeAlerts, makeLockPolicy, makeStore, output, statePath, workDir } from "../context";
import { lockFor } from "../lock";
import { runStart } from "../clock";
import { listBackups } from "../catalog";
import { Store } from "../store";
import { RUNNER_VERSION, probeTools } from "../version";
import { failureMessage } from "../stop";

export interface BackupOpts extends StoreOpts, CommonOpts, LockOpts {
  source?: string;
  name?: string;
  url?: string;
  path?: string;
  recipient: string[];
  upload: boolean;
  keepLocal?: string;
  zstdLevel: string;
}

/** Validates everything a backup needs before touching the source or the destination. */
async function validate(o: BackupOpts, log: Logger) {
  if (!o.source) throw new UsageError(`--source is required: one of ${SOURCE_KINDS.join(", ")}`);
  if (!(SOURCE_KINDS as readonly string[]).includes(o.source)) {
    throw new UsageError(`--source: must be one of ${SOURCE_KINDS.join(", ")}, got ${JSON.stringify(o.source)}`);
  }
  const kind = o.source as SourceKind;
  const name = checkName(o.name);
  const recipients = parseRecipients(o.recipient ?? []);
  if (recipients.length === 0) {
    throw new UsageError("--recipient age1... (or LIFEBOAT_AGE_RECIPIENTS) is required: backups are always encrypted to an age public key");
  }
  if (kind === "postgres") pgTarget(o.url);
  if (kind === "redis") redisCliArgs(o.url);
  if (kind === "volume" || kind === "directory") await checkDirectory(o.path);
  if (kind === "sqlite" && !o.path) throw new UsageError("--path FILE is required for a sqlite source");
  if (o.upload && o.localDir) throw new UsageError("--local-dir is for local mode: add --no-upload, or drop --local-dir to upload to --dest");
  if (!o.upload && !o.localDir) throw new UsageError("--no-upload needs --local-dir DIR (or LIFEBOAT_LOCAL_DIR)");
  const keepLocal = o.keepLocal !== undefined ? intOption("--keep-local", o.keepLocal, 1, 100000) : undefined;
  if (keepLocal !== undefined && o.upload) throw new UsageError("--keep-local only applies with --no-upload");
  const zstdLevel = intOption("--zstd-level", o.zstdLevel, 1, 19);
  const store = makeStore(o, { local: !o.upload });
  const lock = makeLockPolicy(o, store);
  const alerts = makeAlerts(o, log);
  const tools = probeTools([
    { cmd: "zstd", why: "compresses the backup stream" },
    { cmd: "age", why: "encrypts the backup stream" },
  ]);
  return { kind, name, recipients, keepLocal, zstdLevel, store, lock, tools, alerts };
}

/**
 * Local mode: removes this source's partial files that no live run is writing (a run killed
 * mid-write leaves one behind), then, with --keep-local N, keeps only the newest N backups
 * (object and manifest). Returns what it removed.
 */
async function pruneLocal(store: Store, name: string, keep: number | undefined, log: Logger): Promise<string[]> {
  const stale = (await store.removeStalePartials?.(sourcePrefix(store.prefix, name))) ?? [];
  for (const p of stale) log.info({ path: p }, `removed partial file ${p} left by a run that is no longer running`);
  if (keep === undefined) return stale;
  const all = await listBackups(store, name);
  const doomed = all.slice(0, Math.max(0, all.length - keep));
  for (const b of doomed) {
    // Manifest first: a backup without its manifest no longer exists.
    await store.remove!(b.key + MANIFEST_SUFFIX);
    await store.remove!(b.key);
    log.info({ key: b.key }, `removed old local backup ${b.key}`);
  }
  return [...stale, ...doomed.map((b) => b.key)];
}

export async function backupCommand(o: BackupOpts, log: Logger): Promise<number> {
  // A bucket source is many objects and a snapshot manifest, not one stream: its own module.
  if (o.source === "bucket") return (await import("../bucket/command")).bucketBackupCommand(o, log);
  const v = await validate(o, log);
  const alerts = v.alerts;
  const stateFile = statePath(o);
  const started = runStart();
  const tier = tierFor(started);
  // The object and its manifest are locked until the tier expires (S3 with --retention).
  const lock = v.lock && lockFor(v.lock, tier, started);
  const key = backupKey({
    prefix: v.store.prefix,
    source: v.name,
    tier,
    time: started,
    random: randomBytes(6).toString("hex"),
    ext: EXTENSIONS[v.kind],
  });
  const where = `${v.store.description.replace(/\/$/, "")}`;
  log.info({ source: v.name, kind: v.kind, tier, key, dest: where }, `backup of ${v.name} started`);
  await alerts.ping("start");
  const progress = new Progress(`backup ${v.name}`, log);
  let src;
  let enc;
  try {
    src = await openSource({
      kind: v.kind,
      name: v.name,
      url: o.url,
      path: o.path,
      workDir: workDir(o),
      warn: (t) => log.warn(t),
    });
    enc = encode(src.stream, src.procs, v.recipients, v.zstdLevel, (n) => progress.update(n), { direct: true });
    await v.store.putStream(key, enc.body, {
      onProgress: (n) => progress.updateStored(n),
      onWarning: (t) => log.warn(t),
      lock,
    });
    await enc.done;
    const facts = await src.finish();
    const finished = new Date();
    const manifest: Manifest = {
      ...storedObjectManifest({
        source: v.name,
        kind: v.kind,
        tier,
        key,
        started,
        finished,
        ...encodedFacts(enc),
        zstdLevel: v.zstdLevel,
        recipients: v.recipients,
        tools: { ...(await v.tools), ...(await src.tools()), "lifeboat-runner": RUNNER_VERSION },
      }),
      ...facts,
    };
    // The manifest is written last: until it exists, the backup does not.
    await v.store.putSmall(manifestKey(key), JSON.stringify(manifest, null, 2) + "\n", { lock, onWarning: (t) => log.warn(t) });
    progress.stop();
    // Degraded: the backup exists and restores, but named files are missing or changed in it.
    const degraded = manifest.warnings ?? [];
    let pruned: string[] = [];
    if (!o.upload) pruned = await pruneLocal(v.store, v.name, v.keepLocal, log);
    await recordRun(stateFile, v.name, {
      ok: true,
      startedAt: manifest.startedAt,
      finishedAt: manifest.finishedAt,
      key,
      storedBytes: manifest.storedBytes,
      rawBytes: manifest.rawBytes,
      ...(degraded.length ? { warnings: degraded } : {}),
    }).catch((e) => log.warn(`could not write state file ${stateFile}: ${errorMessage(e)}`));
    const secs = (finished.getTime() - started.getTime()) / 1000;
    log.info(
      { source: v.name, key, rawBytes: manifest.rawBytes, storedBytes: manifest.storedBytes, seconds: secs },
      `backup of ${v.name} finished`,
    );
    if (degraded.length) {
      log.warn({ source: v.name, key, warnings: degraded }, `backup of ${v.name} is DEGRADED: ${degraded.join("; ")}`);
      await alerts.alert(`Lifeboat: backup of ${v.name} (${v.kind}) to ${where} is DEGRADED (stored as ${key}, but): ${degraded.join("; ")}`);
    }
    await alerts.ping("success");
    output(
      o,
      { ok: true, degraded: degraded.length > 0, manifest, pruned },
      `backup ${degraded.length ? "DEGRADED" : "ok"}: ${v.name} -> ${key}\n  tier ${tier}, ${formatBytes(manifest.rawBytes)} raw, ${formatBytes(manifest.storedBytes)} stored, ${secs.toFixed(1)}s\n  sha256 ${manifest.sha256}` +
        degraded.map((w) => `\n  WARNING: ${w}`).join(""),
    );
    return degraded.length ? EXIT_DEGRADED : EXIT_OK;
  } catch (e) {
    progress.stop();
    enc?.kill();
    src?.procs.forEach((p) => p.kill());
    const msg = redactUrl(failureMessage(e));
    log.error({ source: v.name, key, err: msg }, `backup of ${v.name} failed: ${msg}`);
    await recordRun(stateFile, v.name, {
      ok: false,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      error: msg,
    }).catch(() => undefined);
    await alerts.failure(`Lifeboat: backup of ${v.name} (${v.kind}) to ${where} FAILED: ${msg}`);
    output(o, { ok: false, source: v.name, error: msg }, "");
    process.stderr.write(`lifeboat-runner backup: ${msg}\n`);
    return EXIT_FAILED;
  } finally {
    await src?.cleanup().catch(() => undefined);
  }
}
