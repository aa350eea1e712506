/**
 * `wal-stream`: the point-in-time-recovery sidecar. Runs `pg_receivewal` over a physical
 * replication slot into a small local spool directory and ships every WAL file to the bucket:
 *
 * - each COMPLETED segment (and timeline history file) as `<prefix>/<source>/wal/<file>.<ts>-<rand>.zst.age`
 *   with its manifest, removed from the spool only after object and manifest were written;
 * - every `--flush-interval`, the segment being written (`<file>.partial`) when it changed, so
 *   the recovery point in the bucket is never older than the interval (plus one upload);
 * - on start, whatever a previous run left in the spool, before anything else.
 *
 * The slot makes the server keep WAL the sidecar has not received, and pg_receivewal resumes
 * from the spool's newest file (or the slot's restart_lsn when the spool is empty), so a restart
 * or a crash leaves no gap. The sidecar holds only age recipients (public keys): it can write
 * WAL but never read it back.
 */
import { promises as fsp } from "node:fs";
import { join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { Logger } from "pino";
import { formatDuration, LockMode, parseDuration } from "lifeboat-core";
import { CommonOpts, StoreOpts, assertPerObjectLock, checkName, intOption, makeAlerts, makeStore, statePath, workDir } from "../context";
import { EXIT_FAILED, EXIT_OK, UsageError, errorMessage } from "../errors";
import { parseRecipients } from "../age";
import { Proc, requireTools, run, startProc } from "../proc";
import { pgEnv, pgTarget, PgTarget } from "../sources/postgres";
import { scrub } from "../redact";
import { Store } from "../store";
import { walLockSetting } from "../lock";
import { Alerts } from "../alerts";
import { pgTool } from "../pitr/pgtools";
import { isCompletedWalFile, isHistoryName, isPartialName, timelineOf } from "../pitr/wal";
import { uploadWal } from "../pitr/walUpload";
import { Coverage, walItem } from "../pitr/coverage";
import { dieWithParent, stopStaleReceivers } from "../pitr/receiver";
import { HEARTBEAT_EVERY_MS, Heartbeat, readHeartbeats, writeHeartbeat } from "../pitr/heartbeat";
import { HEARTBEAT_OBJECT_EVERY_MS, heartbeatObjectKey } from "../pitr/walHealth";
import { runBaseBackup } from "../pitr/baseBackupRun";

export interface WalStreamOpts extends StoreOpts, CommonOpts {
  name?: string;
  url?: string;
  slot?: string;
  spoolDir?: string;
  recipient: string[];
  flushInterval: string;
  maxLag?: string;
  zstdLevel: string;
  statusInterval: string;
  walRetention?: string;
  lockMode?: string;
  onNewTimeline?: string;
  heartbeatInterval?: string;
}

/** The slot name wal-stream uses by default: `lifeboat_<name>` with hyphens as underscores. */
export function defaultSlotName(name: string): string {
  return `lifeboat_${name.replace(/-/g, "_")}`.slice(0, 63);
}

function durationOption(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new UsageError(`${flag}: ${errorMessage(e)}`);
  }
}

export async function walStreamCommand(o: WalStreamOpts, log: Logger): Promise<number> {
  const name = checkName(o.name);
  const target = pgTarget(o.url);
  const recipients = parseRecipients(o.recipient ?? []);
  if (recipients.length === 0) {
    throw new UsageError("--recipient age1... (or LIFEBOAT_AGE_RECIPIENTS) is required: WAL is always encrypted to an age public key");
  }
  const flushSeconds = durationOption("--flush-interval", o.flushInterval);
  const maxLagSeconds = o.maxLag ? durationOption("--max-lag", o.maxLag) : undefined;
  if (maxLagSeconds !== undefined && maxLagSeconds <= flushSeconds) {
    throw new UsageError(`--max-lag ${o.maxLag} must be longer than --flush-interval ${o.flushInterval}: the partial segment is uploaded only every flush interval`);
  }
  const heartbeatSeconds = durationOption("--heartbeat-interval", o.heartbeatInterval ?? `${HEARTBEAT_OBJECT_EVERY_MS / 1000}s`);
  if (heartbeatSeconds < 1) throw new UsageError(`--heartbeat-interval ${o.heartbeatInterval}: must be at least 1s`);
  const onNewTimeline = o.onNewTimeline ?? "basebackup";
  if (onNewTimeline !== "basebackup" && onNewTimeline !== "alert") throw new UsageError(`--on-new-timeline: must be basebackup or alert, got ${JSON.stringify(onNewTimeline)}`);
  const slot = o.slot || defaultSlotName(name);
  if (!/^[a-z0-9_]{1,63}$/.test(slot)) throw new UsageError(`--slot: ${JSON.stringify(slot)} must be lowercase letters, digits and underscores, at most 63 characters`);
  const zstdLevel = intOption("--zstd-level", o.zstdLevel, 1, 19);
  const statusInterval = intOption("--status-interval", o.statusInterval, 1, 3600);
  const store = makeStore(o);
  const walLock = walLockSetting(o.walRetention, o.lockMode);
  if (walLock) assertPerObjectLock("--wal-retention/--lock-mode", o, store);
  const alerts = makeAlerts(o, log);
  const receivewal = pgTool("pg_receivewal");
  requireTools([
    { cmd: receivewal, why: "streams WAL over the replication slot" },
    { cmd: "zstd", why: "compresses WAL" },
    { cmd: "age", why: "encrypts WAL" },
  ]);
  const spool = resolve(o.spoolDir || join(workDir(o), `lifeboat-wal-${name}`));
  await fsp.mkdir(spool, { recursive: true, mode: 0o700 });
  // After a promotion the old base backups are on the old timeline: take one on the new timeline
  // (fast checkpoint, WAL inside the tar) with this sidecar's own bucket, key and URL. The
  // healthcheck ping stays the sidecar's: the base backup run does not ping it.
  const baseBackup = onNewTimeline === "basebackup" ? () => runBaseBackup({ ...o, pingUrl: undefined, walMethod: "fetch", fastCheckpoint: true, zstdLevel: o.zstdLevel }, log) : undefined;
  const s = new WalStreamer({ name, target, slot, spool, recipients, zstdLevel, flushMs: flushSeconds * 1000, maxLagMs: maxLagSeconds ? maxLagSeconds * 1000 : undefined, statusInterval, receivewal, store, alerts, log, statePath: statePath(o), baseBackup, heartbeatObjectMs: heartbeatSeconds * 1000, ...(walLock ? { walLock } : {}) });
  return s.run();
}

export interface StreamerConfig {
  name: string;
  target: PgTarget;
  slot: string;
  spool: string;
  recipients: string[];
  zstdLevel: number;
  flushMs: number;
  maxLagMs?: number;
  statusInterval: number;
  receivewal: string;
  store: Store;
  alerts: Alerts;
  log: Logger;
  /** The runner state file: the heartbeat record lives beside it. */
  statePath: string;
  /** S3: lock each WAL object this many days from its capture. */
  walLock?: { mode: LockMode; days: number };
  /** Takes a base backup (exit code); run when WAL on a new timeline appears. Undefined: alert only. */
  baseBackup?: () => Promise<number>;
  /** How often a heartbeat object goes to the bucket (default HEARTBEAT_OBJECT_EVERY_MS). */
  heartbeatObjectMs?: number;
}

const POLL_MS = 500;
/**
 * Lag is measured on its own timer every LAG_TICK_MS, not after uploads: an upload can take
 * minutes, and the data at risk grows meanwhile. The alert goes out once the lag is within
 * LAG_LEAD_MS of --max-lag, so it is sent before the data at risk exceeds --max-lag.
 */
const LAG_TICK_MS = 250;
const LAG_LEAD_MS = 2 * LAG_TICK_MS;
/** The healthcheck success ping (--ping-url) goes out this often while streaming within --max-lag. */
const PING_EVERY_MS = 60_000;

export class WalStreamer {
  private stopping = false;
  private wake: (() => void) | undefined;
  private receiver: Proc | undefined;
  private starting = false;
  private receiverStartedAt = 0;
  private nextStartAt = 0;
  private startFailures = 0;
  private receiverDownSince: number | undefined = Date.now();
  private uploadFailures = 0;
  private nextUploadAt = 0;
  private nextPartialAt = 0;
  private lastPartial: { file: string; sha: string } | undefined;
  /** Which spool contents are in the bucket: coverage advances only over a contiguous uploaded chain. */
  private readonly coverage = new Coverage(Date.now());
  /** Everything written up to this time is in the bucket (bounded by pg_receivewal being down). */
  private coveredAt = Date.now();
  private lagAlerted = false;
  private checkingLag = false;
  private warnedUnguarded = false;
  private lastPingAt = 0;
  private lastBeatObjectAt = 0;
  /** The newest timeline seen (from the previous run's heartbeat on start). */
  private timeline: number | undefined;
  private baseBackupRun: Promise<void> | undefined;
  private readonly scrubber: (s: string) => string;

  constructor(private readonly c: StreamerConfig) {
    this.scrubber = (s) => scrub(s, [c.target.password]);
  }

  /** Everything the server wrote up to this time is in the bucket. */
  get coveredUntil(): number {
    return this.coveredAt;
  }

  /** Flush the spool and stop (what SIGTERM does). */
  stop(why: string): void {
    if (this.stopping) return;
    this.c.log.info(`wal-stream ${this.c.name}: ${why}, flushing and stopping`);
    this.stopping = true;
    this.wake?.();
  }

  async run(): Promise<number> {
    const { log, name, slot, spool } = this.c;
    const term = () => this.stop("SIGTERM received");
    const int = () => this.stop("SIGINT received");
    process.on("SIGTERM", term);
    process.on("SIGINT", int);
    log.info({ source: name, slot, spool, flushIntervalSeconds: this.c.flushMs / 1000, dest: this.c.store.description }, `wal-stream ${name} started`);
    const lagTimer = setInterval(() => void this.checkLag(), LAG_TICK_MS);
    const beatTimer = setInterval(() => void this.heartbeat(), HEARTBEAT_EVERY_MS);
    await this.c.alerts.ping("start");
    this.timeline = (await readHeartbeats(this.c.statePath, name))[0]?.timeline;
    await this.heartbeat();
    try {
      // Whatever a previous run left in the spool goes first.
      await this.syncCompleted();
      while (!this.stopping) {
        this.ensureReceiver();
        if (Date.now() >= this.nextUploadAt) {
          const ok = await this.syncCompleted();
          if (ok && Date.now() >= this.nextPartialAt) {
            this.nextPartialAt = Date.now() + this.c.flushMs;
            await this.syncPartial();
          }
        }
        await this.sleep(POLL_MS);
      }
      return await this.shutdown();
    } finally {
      clearInterval(lagTimer);
      clearInterval(beatTimer);
      process.off("SIGTERM", term);
      process.off("SIGINT", int);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        r();
      }
      this.wake = done;
    });
  }

  private ensureReceiver(): void {
    if (this.receiver || this.starting || this.stopping || Date.now() < this.nextStartAt) return;
    const { log, slot, spool, target, receivewal } = this.c;
    const env = pgEnv(target);
    // Starting is asynchronous: a stale receiver is stopped and the slot created (if missing) first.
    this.starting = true;
    void (async () => {
      const stale = await stopStaleReceivers(spool, slot);
      if (stale.length) log.warn({ pids: stale, slot }, `stopped a stale pg_receivewal (pid ${stale.join(", ")}) still holding slot ${slot} for this spool (its sidecar died without stopping it)`);
      try {
        await run("pg_receivewal", receivewal, ["--create-slot", "--if-not-exists", "--slot", slot, "--dbname", target.url, "--no-password"], {
          env,
          scrubber: this.scrubber,
        });
      } catch (e) {
        this.starting = false;
        this.receiverFailed(`creating replication slot ${slot} failed: ${errorMessage(e)}`);
        return;
      }
      this.starting = false;
      if (this.stopping) return;
      // Under setpriv --pdeathsig: the receiver dies with this process, even on SIGKILL.
      const cmd = dieWithParent(receivewal, ["--directory", spool, "--slot", slot, "--dbname", target.url, "--synchronous", "--no-loop", "--no-password", "--status-interval", String(this.c.statusInterval), "--verbose"]);
      if (!cmd.guarded && !this.warnedUnguarded) {
        this.warnedUnguarded = true;
        log.warn("setpriv (util-linux) not found: pg_receivewal will not die with wal-stream on SIGKILL; a restart stops such a stale receiver");
      }
      const p = startProc("pg_receivewal", cmd.cmd, cmd.args, { env, scrubber: this.scrubber, stdinIgnore: true });
      this.receiver = p;
      this.receiverStartedAt = Date.now();
      let buffered = "";
      p.child.stderr!.on("data", (b: Buffer) => {
        buffered += b.toString("utf8");
        let i;
        while ((i = buffered.indexOf("\n")) >= 0) {
          const line = this.scrubber(buffered.slice(0, i).trim());
          buffered = buffered.slice(i + 1);
          if (!line) continue;
          if (/starting log streaming/.test(line)) {
            this.receiverDownSince = undefined;
            this.startFailures = 0;
            log.info({ slot }, line);
          } else if (/error|fatal|could not/i.test(line)) log.warn(line);
          else log.debug(line);
        }
      });
      p.done.then(
        () => this.receiverFailed("pg_receivewal exited"),
        (e) => this.receiverFailed(errorMessage(e)),
      );
    })();
  }

  private receiverFailed(why: string): void {
    this.receiver = undefined;
    if (this.stopping) return;
    this.receiverDownSince ??= Date.now();
    const ranLong = this.receiverStartedAt && Date.now() - this.receiverStartedAt > 60_000;
    this.startFailures = ranLong ? 1 : this.startFailures + 1;
    const backoff = Math.min(30_000, 1000 * 2 ** Math.min(5, this.startFailures - 1));
    this.nextStartAt = Date.now() + backoff;
    this.c.log.warn({ slot: this.c.slot, retryInSeconds: backoff / 1000 }, `wal-stream ${this.c.name}: ${this.scrubber(why)}; restarting pg_receivewal in ${backoff / 1000}s`);
  }

  private async spoolFiles(): Promise<string[]> {
    return (await fsp.readdir(this.c.spool)).sort();
  }

  /** Uploads every completed file in the spool, oldest first, removing each once its manifest is written. */
  private async syncCompleted(): Promise<boolean> {
    const files = (await this.spoolFiles()).filter(isCompletedWalFile);
    for (const f of files) {
      const path = join(this.c.spool, f);
      try {
        const data = await fsp.readFile(path);
        const m = await uploadWal({ store: this.c.store, source: this.c.name, file: f, data, capturedAt: new Date(), recipients: this.c.recipients, zstdLevel: this.c.zstdLevel, lock: this.c.walLock });
        await fsp.rm(path, { force: true });
        this.coverage.uploaded(walItem(f));
        this.advanceCoverage();
        this.sawTimeline(f);
        this.c.log.info({ file: f, key: m.key, rawBytes: m.rawBytes, storedBytes: m.storedBytes }, `uploaded WAL ${f}`);
        this.uploadFailures = 0;
      } catch (e) {
        this.uploadFailed(f, e);
        return false;
      }
    }
    return true;
  }

  /** Uploads the segment being written when it changed since the last upload. */
  private async syncPartial(): Promise<boolean> {
    const capturedAt = new Date();
    const files = await this.spoolFiles();
    // Segments that completed since syncCompleted listed the spool go first: a partial uploaded
    // ahead of them leaves the bucket with a hole (restores report a gap and replay stops at it)
    // and recovers nothing more until they are in. Under writes faster than the uploads, the
    // bucket so always holds a contiguous chain, and the lag alert says how far behind it is.
    if (files.some(isCompletedWalFile)) return true;
    const partial = files.filter(isPartialName).pop();
    if (!partial) {
      this.coverage.snapshot(capturedAt.getTime(), []);
      this.advanceCoverage();
      return true;
    }
    try {
      const data = await fsp.readFile(join(this.c.spool, partial));
      const sha = createHash("sha256").update(data).digest("hex");
      this.coverage.snapshot(capturedAt.getTime(), [walItem(partial, sha)]);
      this.advanceCoverage();
      if (this.lastPartial?.file === partial && this.lastPartial.sha === sha) return true;
      const m = await uploadWal({ store: this.c.store, source: this.c.name, file: partial, data, capturedAt, recipients: this.c.recipients, zstdLevel: this.c.zstdLevel, lock: this.c.walLock });
      this.lastPartial = { file: partial, sha };
      this.coverage.uploaded(walItem(partial, sha));
      this.advanceCoverage();
      this.sawTimeline(partial);
      this.c.log.info({ file: partial, key: m.key, storedBytes: m.storedBytes }, `uploaded partial WAL ${partial}`);
      this.uploadFailures = 0;
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return true; // completed meanwhile: the next pass uploads it
      this.uploadFailed(partial, e);
      return false;
    }
  }

  /**
   * A file on a timeline newer than any seen before is a promotion: the server's history file
   * (pg_receivewal fetches it when it streams a timeline above 1) is already in the bucket, and
   * the base backups are on the old timeline. Alert, and take a base backup on the new one.
   * A sidecar with no record of an earlier timeline counts a history file as new (an extra base
   * backup costs less than a missing one) and a segment as where it starts.
   */
  private sawTimeline(file: string): void {
    const tli = timelineOf(file);
    const prev = this.timeline;
    if (prev !== undefined && tli <= prev) return;
    this.timeline = tli;
    if (prev === undefined && !isHistoryName(file)) return;
    void this.heartbeat();
    const what = this.c.baseBackup ? "taking a base backup on it now" : "take a base backup now (lifeboat-runner basebackup): until then restores on it need the old timeline's base backup, WAL and this history";
    const text = `Lifeboat: ${this.c.name} is on a new timeline ${tli}${prev !== undefined ? ` (was ${prev})` : ""}: the server was promoted; ${what}`;
    this.c.log.warn({ timeline: tli, previous: prev }, text);
    void this.c.alerts.failure(text);
    const run = this.c.baseBackup;
    if (!run || this.baseBackupRun) return;
    this.baseBackupRun = run()
      .then((code) => {
        if (code !== 0) this.c.log.error(`wal-stream ${this.c.name}: the base backup on timeline ${tli} failed (exit ${code}); take one by hand`);
      })
      .catch((e) => this.c.log.error(`wal-stream ${this.c.name}: the base backup on timeline ${tli} failed: ${errorMessage(e)}; take one by hand`))
      .finally(() => (this.baseBackupRun = undefined));
  }

  private advanceCoverage(): void {
    // While pg_receivewal is down, the spool says nothing about what the server has written since.
    const at = this.coverage.coveredAt;
    const bound = this.receiverDownSince !== undefined ? Math.min(at, this.receiverDownSince) : at;
    this.coveredAt = Math.max(this.coveredAt, bound);
  }

  private uploadFailed(file: string, e: unknown): void {
    this.uploadFailures++;
    const backoff = Math.min(30_000, 1000 * 2 ** Math.min(5, this.uploadFailures - 1));
    this.nextUploadAt = Date.now() + backoff;
    this.c.log.warn({ file, retryInSeconds: backoff / 1000, err: errorMessage(e) }, `uploading WAL ${file} failed (kept in the spool, retrying): ${errorMessage(e)}`);
  }

  /**
   * The heartbeat record `status --local` reads, the same record as an object in the bucket every
   * heartbeatObjectMs (what remote `status` tells an idle server from a dead sidecar by), and the
   * periodic success ping while healthy.
   */
  private async heartbeat(): Promise<void> {
    const now = Date.now();
    const streaming = this.receiver !== undefined && this.receiverDownSince === undefined;
    const everyMs = this.c.heartbeatObjectMs ?? HEARTBEAT_OBJECT_EVERY_MS;
    const hb: Heartbeat = {
      version: 1,
      source: this.c.name,
      pid: process.pid,
      at: new Date(now).toISOString(),
      streaming,
      coveredUntil: new Date(this.coveredAt).toISOString(),
      maxLagSeconds: this.c.maxLagMs === undefined ? undefined : this.c.maxLagMs / 1000,
      flushIntervalSeconds: this.c.flushMs / 1000,
      everySeconds: everyMs / 1000,
      timeline: this.timeline,
    };
    try {
      await writeHeartbeat(this.c.statePath, hb);
    } catch (e) {
      this.c.log.warn(`wal-stream ${this.c.name}: writing the heartbeat failed: ${errorMessage(e)}`);
    }
    if (now - this.lastBeatObjectAt >= everyMs) {
      this.lastBeatObjectAt = now;
      try {
        await this.c.store.putSmall(heartbeatObjectKey(this.c.store.prefix, this.c.name, new Date(now)), JSON.stringify(hb) + "\n");
      } catch (e) {
        // Not fatal: remote status then sees the heartbeat age, as it would a dead sidecar.
        this.c.log.warn(`wal-stream ${this.c.name}: putting the heartbeat in the bucket failed: ${errorMessage(e)}`);
      }
    }
    if (streaming && !this.lagAlerted && now - this.lastPingAt >= PING_EVERY_MS) {
      this.lastPingAt = now;
      await this.c.alerts.ping("success");
    }
  }

  private async checkLag(): Promise<void> {
    if (this.c.maxLagMs === undefined || this.checkingLag) return;
    this.checkingLag = true;
    try {
      await this.alertOnLag(this.c.maxLagMs);
    } finally {
      this.checkingLag = false;
    }
  }

  private async alertOnLag(maxLagMs: number): Promise<void> {
    const lag = Date.now() - this.coveredAt;
    if (lag >= maxLagMs - LAG_LEAD_MS && !this.lagAlerted) {
      this.lagAlerted = true;
      const why = this.receiverDownSince !== undefined ? "pg_receivewal is not streaming" : this.uploadFailures ? "uploads are failing" : "uploads are behind";
      const text = `Lifeboat: WAL of ${this.c.name} is ${formatDuration(Math.round(lag / 1000))} behind in ${this.c.store.description} (--max-lag ${formatDuration(maxLagMs / 1000)}): ${why}; point-in-time recovery would lose that much, and more while this lasts`;
      this.c.log.error({ lagSeconds: lag / 1000 }, text);
      await this.c.alerts.failure(text);
    } else if (lag < maxLagMs - LAG_LEAD_MS && this.lagAlerted) {
      this.lagAlerted = false;
      const text = `Lifeboat: WAL of ${this.c.name} caught up (lag ${Math.round(lag / 1000)}s)`;
      this.c.log.info(text);
      await this.c.alerts.alert(text);
    }
  }

  /** SIGTERM: stop pg_receivewal (it writes out what it received), then ship everything left. */
  private async shutdown(): Promise<number> {
    const { log, name } = this.c;
    // Wait for a receiver that is still starting (slot creation) to either start or give up.
    for (let i = 0; i < 100 && this.starting; i++) await new Promise((r) => setTimeout(r, 100));
    const p = this.receiver;
    if (p) {
      const exited = new Promise<void>((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r() : p.child.once("close", () => r())));
      p.child.kill("SIGTERM");
      const t = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    let ok = false;
    for (let attempt = 0; attempt < 3 && !ok; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 1000 * attempt));
      ok = (await this.syncCompleted()) && (await this.syncPartial());
    }
    await this.baseBackupRun;
    if (!ok) {
      const text = `Lifeboat: wal-stream ${name} stopped with WAL not uploaded; it stays in the spool ${this.c.spool} and is uploaded on the next start`;
      log.error(text);
      await this.c.alerts.failure(text);
      return EXIT_FAILED;
    }
    log.info(`wal-stream ${name} stopped; spool flushed`);
    return EXIT_OK;
  }
}
