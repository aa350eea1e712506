/**
 * `restore --at TIME|latest --target-dir DIR` for a source with base backups: the newest base
 * backup that finished at or before TIME, untarred into DIR, plus every WAL file from the
 * backup's start onwards (completed segments and, after the last completed one, the newest
 * partial segment) decrypted into DIR/lifeboat_wal, and a recovery configuration
 * (`recovery.signal`, `restore_command`, `recovery_target_time`, `recovery_target_action =
 * promote`) so that `pg_ctl -D DIR start` replays to TIME and opens the database.
 */
import { createHash } from "node:crypto";
import { createWriteStream, promises as fsp } from "node:fs";
import { join, resolve } from "node:path";
import { Transform, TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Logger } from "pino";
import { listBackups, readManifest, BackupEntry } from "../catalog";
import { checkIdentity, download } from "../fetch";
import { BASEBACKUP_EXT, Manifest, parseWalManifest, WalManifest } from "../manifest";
import { decode } from "../pipeline";
import { requireTools, startProc } from "../proc";
import { Store } from "../store";
import { RunError, UsageError } from "../errors";
import { Progress } from "../progress";
import { parseRecoveryTarget, RecoveryTarget } from "./target";
import { isHistoryName, isPartialName, isSegmentName, listWal, nextSegment, segmentFileFor, segmentPosition, timelineOf, WalObject } from "./wal";

/** The directory inside the restored data directory that restore_command copies WAL from. */
export const RESTORE_WAL_DIR = "lifeboat_wal";

export async function baseBackups(store: Store, name: string): Promise<BackupEntry[]> {
  return (await listBackups(store, name)).filter((e) => e.parts.ext === BASEBACKUP_EXT);
}

export interface PitrOptions {
  name: string;
  at?: string;
  targetDir: string;
  identity?: string;
  concurrency?: number;
}

/** The newest base backup that was complete (consistent) at or before `at`. */
async function pickBase(store: Store, name: string, entries: BackupEntry[], at: Date | "latest"): Promise<{ entry: BackupEntry; manifest: Manifest }> {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    // A base backup whose key time the store's times contradict is never chosen (see storeTimeFlags).
    if (e.flags.length) continue;
    if (at !== "latest" && e.parts.time.getTime() > at.getTime()) continue;
    const m = await readManifest(store, e);
    if (at === "latest" || new Date(m.finishedAt).getTime() <= at.getTime()) return { entry: e, manifest: m };
  }
  throw new RunError(
    at === "latest"
      ? `no base backups found for ${name}`
      : `no base backup of ${name} finished at or before ${at.toISOString()} (recovery can only start from a backup that was complete by then)`,
  );
}

async function dirIsEmpty(dir: string): Promise<boolean> {
  try {
    return (await fsp.readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw e;
  }
}

const RECOVERY_BEGIN = "# lifeboat-restore: recovery settings, removed at the end of recovery";
const RECOVERY_END = "# lifeboat-restore: end";
/**
 * Run by PostgreSQL at the end of recovery (cwd: the data directory): deletes the block above,
 * so no recovery target stays in postgresql.auto.conf to be carried into later base backups.
 */
const DROP_RECOVERY_BLOCK = `sed -i '/^${RECOVERY_BEGIN}$/,/^${RECOVERY_END}$/d' postgresql.auto.conf`;

/**
 * Comments out recovery settings a base backup brought along in its postgresql.auto.conf (left
 * by an earlier restore of the source): an inherited recovery_target_time would otherwise stop
 * a `--at latest` replay early.
 */
export function disableRecoverySettings(conf: string): string {
  return conf
    .split("\n")
    .map((l) => (/^\s*(restore_command|recovery_target\w*|recovery_end_command)\s*=/.test(l) ? `# disabled by lifeboat restore: ${l}` : l))
    .join("\n")
    .replace(/\n*$/, "");
}

/** `'...'` for postgresql.conf. */
function confString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

class Sha256 extends Transform {
  private readonly h = createHash("sha256");
  bytes = 0;
  override _transform(c: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.h.update(c);
    this.bytes += c.length;
    cb(null, c);
  }
  hex(): string {
    return this.h.digest("hex");
  }
}

/** Which WAL objects replay needs from `startFile` on: completed segments, history files and the newest partial after them. */
export function selectWal(objs: WalObject[], startFile: string): { files: WalObject[]; partial?: WalObject; lastCompleted?: string } {
  const tli = timelineOf(startFile);
  const startPos = segmentPosition(startFile);
  const completed = new Map<string, WalObject>();
  const partials = new Map<string, WalObject>();
  const history: WalObject[] = [];
  for (const o of objs) {
    if (isHistoryName(o.file)) {
      if (timelineOf(o.file) > tli && !history.some((h) => h.file === o.file)) history.push(o);
    } else if (isSegmentName(o.file)) {
      if (timelineOf(o.file) >= tli && segmentPosition(o.file) >= startPos && !completed.has(o.file)) completed.set(o.file, o);
    } else if (isPartialName(o.file)) {
      const seg = o.file.slice(0, 24);
      if (timelineOf(seg) >= tli && segmentPosition(seg) >= startPos) partials.set(seg, o); // oldest first: the newest wins
    }
  }
  const segs = [...completed.values()].sort((a, b) => (segmentPosition(a.file) + a.file < segmentPosition(b.file) + b.file ? -1 : 1));
  const last = segs[segs.length - 1];
  let partial: WalObject | undefined;
  for (const [seg, o] of partials) {
    if (completed.has(seg)) continue;
    if (last && segmentPosition(seg) <= segmentPosition(last.file)) continue;
    if (!partial || segmentPosition(seg) > segmentPosition(partial.file) || (segmentPosition(seg) === segmentPosition(partial.file) && o.time > partial.time)) partial = o;
  }
  return { files: [...history, ...segs, ...(partial ? [partial] : [])], partial, lastCompleted: last?.file };
}

/**
 * True when some selected WAL reaches past the base backup's end (the segment holding its end
 * LSN, or its start segment when the end is unknown): without it, replay ends where the base
 * backup does, whatever the target.
 */
export function walPastBase(files: WalObject[], startFile: string, m: Manifest, segSize: number | undefined): boolean {
  const endLsn = m.basebackup?.endLsn;
  const endFile = endLsn && segSize ? segmentFileFor(timelineOf(startFile), endLsn, segSize) : startFile;
  return files.some((f) => !isHistoryName(f.file) && timelineOf(f.file) >= timelineOf(endFile) && segmentPosition(f.file) >= segmentPosition(endFile));
}

/** The first missing segment between `startFile` and the last selected one on the start timeline, if any. */
export function findGap(files: WalObject[], startFile: string, segSize: number): string | undefined {
  const tli = startFile.slice(0, 8);
  const have = new Set(files.filter((f) => f.file.startsWith(tli) && !isHistoryName(f.file)).map((f) => f.file.slice(0, 24)));
  if (have.size === 0) return undefined;
  const last = [...have].sort().pop()!;
  for (let f = startFile; f < last; f = nextSegment(f, segSize)) if (!have.has(f)) return f;
  return undefined;
}

async function fetchWal(store: Store, o: WalObject, identity: string, dir: string): Promise<WalManifest> {
  const m = parseWalManifest(await store.getText(o.manifestKey), o.manifestKey);
  if (m.key !== o.key) throw new RunError(`WAL manifest ${o.manifestKey} describes ${m.key}, not ${o.key}`);
  const body = await store.get(o.key);
  const dec = decode(body, identity);
  const raw = new Sha256();
  const out = join(dir, m.file);
  try {
    await Promise.all([pipeline(dec.out, raw, createWriteStream(out, { mode: 0o600 })), dec.done]);
  } catch (e) {
    dec.kill();
    throw new RunError(`${o.key}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const problems: string[] = [];
  if (dec.hasher.bytes !== m.storedBytes || dec.hasher.digest() !== m.sha256) problems.push(`stored bytes do not match the manifest (sha256 ${dec.hasher.digest()}, ${dec.hasher.bytes} bytes)`);
  if (raw.bytes !== m.rawBytes || raw.hex() !== m.rawSha256) problems.push(`decrypted WAL does not match the manifest's sha256`);
  if (problems.length) throw new RunError(`${o.key}: ${problems.join("; ")}`);
  return m;
}

export async function restorePitr(store: Store, o: PitrOptions, log: Logger, progress: Progress): Promise<Record<string, unknown>> {
  if (o.at === "latest-verified") throw new UsageError("--at latest-verified selects a dump, not a recovery point: give --at latest or a time");
  const goal: RecoveryTarget | "latest" = !o.at || o.at === "latest" ? "latest" : parseRecoveryTarget(o.at);
  const at: Date | "latest" = goal === "latest" ? "latest" : goal.at;
  const atText = goal === "latest" ? "latest" : goal.iso;
  const target = resolve(o.targetDir);
  if (!(await dirIsEmpty(target))) throw new UsageError(`--target-dir ${target} is not empty; point-in-time recovery restores a whole data directory into an empty or new directory`);
  const base = await pickBase(store, o.name, await baseBackups(store, o.name), at);
  checkIdentity(o.identity, base.manifest, base.entry.key);
  requireTools([
    { cmd: "age", why: "decrypts the backup" },
    { cmd: "zstd", why: "decompresses the backup" },
    { cmd: "tar", why: "extracts the base backup" },
  ]);
  const walObjs = await listWal(store, o.name);
  // A target past the newest WAL cannot be reached: PostgreSQL would replay everything and then
  // stop ("recovery ended before configured recovery target was reached"). Refuse it up front.
  const newestWal = walObjs.length ? walObjs[walObjs.length - 1]!.time : new Date(base.manifest.finishedAt);
  if (at !== "latest" && at.getTime() > newestWal.getTime()) {
    throw new UsageError(
      `--at ${atText} is after the newest WAL of ${o.name} in the bucket (captured ${newestWal.toISOString()}): PostgreSQL would stop with "recovery ended before configured recovery target was reached". Use --at latest, or a time at or before ${newestWal.toISOString()}`,
    );
  }
  log.info({ base: base.entry.key, target, at: atText }, `point-in-time restore of ${o.name} from ${base.entry.key}`);
  const createdTarget = !(await fsp.stat(target).then(() => true, () => false));
  await fsp.mkdir(target, { recursive: true, mode: 0o700 });
  await fsp.chmod(target, 0o700);
  try {
    // 1. The base backup, streamed into the data directory.
    const dl = await download(store, { entry: base.entry, manifest: base.manifest }, o.identity!, (n) => progress.update(n));
    const tar = startProc("tar", "tar", ["--extract", "--file=-", "--no-same-owner", "-C", target]);
    await Promise.all([pipeline(dl.out, tar.child.stdin!), dl.done, tar.done]);
    const label = await fsp.readFile(join(target, "backup_label"), "utf8").catch(() => {
      throw new RunError(`${base.entry.key} holds no backup_label: not a pg_basebackup tar`);
    });
    const startFile = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(label)?.[1];
    if (!startFile) throw new RunError(`${base.entry.key}: backup_label names no start WAL file`);

    // 2. WAL from the backup's start on.
    const sel = selectWal(walObjs, startFile);
    const walDir = join(target, RESTORE_WAL_DIR);
    await fsp.mkdir(walDir, { mode: 0o700 });
    const queue = [...sel.files];
    const manifests: WalManifest[] = [];
    const workers = Array.from({ length: Math.max(1, o.concurrency ?? 4) }, async () => {
      for (let w = queue.shift(); w; w = queue.shift()) manifests.push(await fetchWal(store, w, o.identity!, walDir));
    });
    await Promise.all(workers);
    const segSize = manifests.find((m) => !m.partial && isSegmentName(m.file))?.rawBytes ?? manifests.find((m) => m.partial)?.rawBytes;
    const gap = segSize ? findGap(sel.files, startFile, segSize) : undefined;
    if (gap) log.warn({ missing: gap }, `WAL archive of ${o.name} has a gap: ${gap} is missing; replay stops before it`);
    if (sel.files.length === 0 && base.manifest.basebackup?.walMethod !== "fetch") {
      throw new RunError(`no WAL of ${o.name} from ${startFile} on under wal/: the base backup ${base.entry.key} cannot be made consistent (is wal-stream running?)`);
    }
    const partialM = sel.partial ? manifests.find((m) => m.key === sel.partial!.key) : undefined;
    const warnings: string[] = [];
    if (!walPastBase(sel.files, startFile, base.manifest, segSize)) {
      warnings.push(
        `no WAL of ${o.name} past the end of base backup ${base.entry.key} in ${store.description}: the recovery point is the base backup's end (${base.manifest.finishedAt}), not ${atText}. Is wal-stream running, and does this bucket (a replica?) hold ${o.name}/wal/?`,
      );
    }
    for (const w of warnings) log.warn(w);

    // 3. Recovery configuration, in a block that removes itself at the end of recovery.
    const lines = [
      RECOVERY_BEGIN,
      `# lifeboat-runner restore --at ${atText} from ${base.entry.key}`,
      `restore_command = ${confString(`cp "${walDir}/%f" "%p"`)}`,
      ...(goal === "latest" ? [] : [`recovery_target_time = ${confString(goal.pgText)}`]),
      "recovery_target_action = 'promote'",
      `recovery_end_command = ${confString(DROP_RECOVERY_BLOCK)}`,
      RECOVERY_END,
      "",
    ];
    const autoConf = join(target, "postgresql.auto.conf");
    const inherited = await fsp.readFile(autoConf, "utf8").catch(() => "");
    await fsp.writeFile(autoConf, disableRecoverySettings(inherited) + "\n" + lines.join("\n"), { mode: 0o600 });
    await fsp.writeFile(join(target, "recovery.signal"), "", { mode: 0o600 });
    return {
      base: base.entry.key,
      baseFinishedAt: base.manifest.finishedAt,
      targetDir: target,
      recoveryTarget: atText,
      startWal: startFile,
      walFiles: manifests.length,
      lastCompletedSegment: sel.lastCompleted ?? null,
      partialSegment: partialM ? { file: partialM.file, capturedAt: partialM.capturedAt } : null,
      walGap: gap ?? null,
      recoveryPoint: warnings.length ? "base-backup-end" : "wal",
      warnings,
      next: `pg_ctl -D ${target} start   (as the OS user that owns ${target})`,
    };
  } catch (e) {
    // Leave nothing half-restored behind.
    if (createdTarget) await fsp.rm(target, { recursive: true, force: true });
    else for (const f of await fsp.readdir(target).catch(() => [] as string[])) await fsp.rm(join(target, f), { recursive: true, force: true });
    throw e;
  }
}
