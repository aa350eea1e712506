/**
 * A base backup run: the `basebackup` command's, and the one `wal-stream` takes on a new timeline.
 * `pg_basebackup -D - -Ft` (one tar on stdout) streamed through the normal
 * pipeline (zstd → age → create-only multipart upload, no temp copy of the cluster) into the
 * tier layout `<prefix>/<source>/<tier>/<ts>-<rand>.base.tar.zst.age`, manifest last, so the
 * bucket's retention rules apply to base backups like to any backup.
 *
 * PostgreSQL 15 refuses `-X stream` with a tar on stdout ("cannot stream write-ahead logs in tar
 * mode to stdout"). The default `--wal-method fetch` puts the WAL from backup start to end into
 * the same tar (pg_wal/), so each base backup is consistent on its own; the server must still
 * hold that WAL when the backup ends (a checkpoint during a long backup with a small
 * max_wal_size can remove it: the backup then fails loudly). `--wal-method none` leaves that
 * WAL to wal-stream. Either way, replay beyond the end of the backup comes from wal-stream.
 */
import { randomBytes } from "node:crypto";
import { Logger } from "pino";
import { backupKey, manifestKey, tierFor } from "lifeboat-core";
import { parseRecipients } from "../age";
import { CommonOpts, LockOpts, StoreOpts, checkName, intOption, makeAlerts, makeLockPolicy, makeStore, output, statePath } from "../context";
import { lockFor } from "../lock";
import { runStart } from "../clock";
import { EXIT_FAILED, EXIT_OK, RunError, UsageError, errorMessage } from "../errors";
import { BASEBACKUP_EXT, Manifest, storedObjectManifest } from "../manifest";
import { encode, encodedFacts } from "../pipeline";
import { requireTools, startProc } from "../proc";
import { pgEnv, pgTarget } from "../sources/postgres";
import { scrub } from "../redact";
import { Progress, formatBytes } from "../progress";
import { recordRun } from "../state";
import { pgTool } from "./pgtools";
import { RUNNER_VERSION } from "../version";
import { failureMessage } from "../stop";

export interface BasebackupOpts extends StoreOpts, CommonOpts, LockOpts {
  name?: string;
  url?: string;
  recipient: string[];
  walMethod: string;
  fastCheckpoint?: boolean;
  zstdLevel: string;
}

/** Start and end of the backup as pg_basebackup --verbose reports them. */
export function parseBasebackupLog(text: string): { startLsn?: string; timeline?: number; endLsn?: string } {
  const start = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+) on timeline (\d+)/i.exec(text);
  const end = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(text);
  return { startLsn: start?.[1], timeline: start ? Number(start[2]) : undefined, endLsn: end?.[1] };
}

export async function runBaseBackup(o: BasebackupOpts, log: Logger): Promise<number> {
  const name = checkName(o.name);
  const target = pgTarget(o.url);
  const recipients = parseRecipients(o.recipient ?? []);
  if (recipients.length === 0) {
    throw new UsageError("--recipient age1... (or LIFEBOAT_AGE_RECIPIENTS) is required: backups are always encrypted to an age public key");
  }
  if (o.walMethod !== "fetch" && o.walMethod !== "none") throw new UsageError(`--wal-method: must be fetch or none, got ${JSON.stringify(o.walMethod)}`);
  const walMethod = o.walMethod as "fetch" | "none";
  const zstdLevel = intOption("--zstd-level", o.zstdLevel, 1, 19);
  const store = makeStore(o);
  const lockPolicy = makeLockPolicy(o, store);
  const alerts = makeAlerts(o, log);
  const bin = pgTool("pg_basebackup");
  const tools = requireTools([
    { cmd: bin, why: "takes the base backup" },
    { cmd: "zstd", why: "compresses the backup stream" },
    { cmd: "age", why: "encrypts the backup stream" },
  ]);
  const stateFile = statePath(o);
  const started = runStart();
  const tier = tierFor(started);
  const lock = lockPolicy && lockFor(lockPolicy, tier, started);
  const key = backupKey({ prefix: store.prefix, source: name, tier, time: started, random: randomBytes(6).toString("hex"), ext: BASEBACKUP_EXT });
  const scrubber = (s: string) => scrub(s, [target.password]);
  log.info({ source: name, tier, key, walMethod }, `base backup of ${name} started`);
  await alerts.ping("start");
  const progress = new Progress(`basebackup ${name}`, log);
  const args = [
    "--pgdata=-",
    "--format=tar",
    `--wal-method=${walMethod}`,
    `--checkpoint=${o.fastCheckpoint ? "fast" : "spread"}`,
    `--label=lifeboat ${key}`,
    "--verbose",
    "--no-password",
    `--dbname=${target.url}`,
  ];
  const pgb = startProc("pg_basebackup", bin, args, { env: pgEnv(target), scrubber, stdinIgnore: true });
  const enc = encode(pgb.child.stdout!, [pgb], recipients, zstdLevel, (n) => progress.update(n));
  try {
    await store.putStream(key, enc.body, { onProgress: (n) => progress.updateStored(n), onWarning: (t) => log.warn(t), lock });
    await enc.done;
    const facts = parseBasebackupLog(pgb.stderr.text());
    if (!facts.startLsn || !facts.timeline) throw new RunError(`pg_basebackup did not report its start point: ${scrubber(pgb.stderr.text().slice(-500))}`);
    const finished = new Date();
    const manifest: Manifest = {
      ...storedObjectManifest({
        source: name,
        kind: "pg-basebackup",
        tier,
        key,
        started,
        finished,
        ...encodedFacts(enc),
        zstdLevel,
        recipients,
        tools: { ...tools, "lifeboat-runner": RUNNER_VERSION },
      }),
      basebackup: { startLsn: facts.startLsn, endLsn: facts.endLsn, timeline: facts.timeline, walMethod },
    };
    await store.putSmall(manifestKey(key), JSON.stringify(manifest, null, 2) + "\n", { lock, onWarning: (t) => log.warn(t) });
    progress.stop();
    await recordRun(stateFile, name, { ok: true, startedAt: manifest.startedAt, finishedAt: manifest.finishedAt, key, storedBytes: manifest.storedBytes, rawBytes: manifest.rawBytes }).catch((e) =>
      log.warn(`could not write state file ${stateFile}: ${errorMessage(e)}`),
    );
    const secs = (finished.getTime() - started.getTime()) / 1000;
    log.info({ source: name, key, rawBytes: manifest.rawBytes, storedBytes: manifest.storedBytes, seconds: secs, ...manifest.basebackup }, `base backup of ${name} finished`);
    await alerts.ping("success");
    output(
      o,
      { ok: true, manifest },
      `basebackup ok: ${name} -> ${key}\n  tier ${tier}, ${formatBytes(manifest.rawBytes)} raw, ${formatBytes(manifest.storedBytes)} stored, ${secs.toFixed(1)}s\n  WAL start ${facts.startLsn} on timeline ${facts.timeline}${facts.endLsn ? `, end ${facts.endLsn}` : ""}`,
    );
    return EXIT_OK;
  } catch (e) {
    progress.stop();
    enc.kill();
    const msg = scrubber(failureMessage(e));
    log.error({ source: name, key, err: msg }, `base backup of ${name} failed: ${msg}`);
    await recordRun(stateFile, name, { ok: false, startedAt: started.toISOString(), finishedAt: new Date().toISOString(), error: msg }).catch(() => undefined);
    await alerts.failure(`Lifeboat: base backup of ${name} FAILED: ${msg}`);
    output(o, { ok: false, source: name, error: msg }, "");
    process.stderr.write(`lifeboat-runner basebackup: ${msg}\n`);
    return EXIT_FAILED;
  }
}
