/**
 * `restore --at TIME|latest --target-dir DIR` for a source with base backups: a base backup on the
 * right timeline that finished at or before TIME (or the one `--base` names), untarred into DIR,
 * and a recovery configuration (`recovery.signal`, `restore_command`, `recovery_target_time`,
 * `recovery_target_timeline`, `recovery_target_action = promote`) so that `pg_ctl -D DIR start`
 * replays to TIME and opens the database. WAL is not downloaded here: PostgreSQL asks for each file
 * through `lifeboat-runner wal-fetch` (see walFetch.ts), so the restore time depends on the target,
 * not on the time since the base backup. The WAL is listed once, here, into the fetcher's index.
 */
import { promises as fsp } from "node:fs";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { Logger } from "pino";
import { parseKeyTimestamp } from "lifeboat-core";
import { listBackups, readManifest, BackupEntry } from "../catalog";
import { checkIdentity, download } from "../fetch";
import { BASEBACKUP_EXT, Manifest, parseWalManifest } from "../manifest";
import { requireTools, startProc } from "../proc";
import { Store } from "../store";
import { RunError, UsageError, errorMessage } from "../errors";
import { Progress } from "../progress";
import { parseRecoveryTarget, RecoveryTarget } from "./target";
import { isHistoryName, isPartialName, isSegmentName, listWal, nextSegment, segmentFileFor, segmentPosition, timelineOf, WalObject } from "./wal";
import { ancestry, baseFitsTimeline, HistoryEntry, parseHistory, parseTimelineOption, timelineAt, TimelineChoice } from "./timeline";
import { FETCH_CACHE, FETCH_CONFIG, FETCH_IDENTITY, FetchConfig, fetchWalObject, RESTORE_FETCH_DIR, restoreCommandLine, STORE_ENV, walIndex } from "./walFetch";

export async function baseBackups(store: Store, name: string): Promise<BackupEntry[]> {
  return (await listBackups(store, name)).filter((e) => e.parts.ext === BASEBACKUP_EXT);
}

export interface PitrOptions {
  name: string;
  at?: string;
  targetDir: string;
  identity?: string;
  /** `--timeline N|latest|current` (recovery_target_timeline). */
  timeline?: string;
  /** `--base KEY|TIMESTAMP`: this base backup instead of the newest fitting one. */
  base?: string;
  /** `--allow-partial-target`: a target past the newest WAL replays all WAL with a warning instead of being refused. */
  allowPartialTarget?: boolean;
  /** How to reach the store from wal-fetch (the restore's own destination flags). */
  storeConfig: FetchConfig["store"];
  /** Segments wal-fetch prefetches ahead of the one PostgreSQL asks for. */
  prefetch?: number;
}

/** The base backups `--base` names: the exact key, or the key time (`20261122T133000.123Z` or ISO). */
export function matchBase(entries: BackupEntry[], text: string): BackupEntry[] {
  const exact = entries.filter((e) => e.key === text);
  if (exact.length) return exact;
  const t = parseKeyTimestamp(text) ?? (/^\d{4}-\d{2}-\d{2}T/.test(text) ? new Date(text) : undefined);
  if (!t || Number.isNaN(t.getTime())) return [];
  return entries.filter((e) => e.parts.time.getTime() === t.getTime());
}

interface BaseCandidate {
  entry: BackupEntry;
  manifest: Manifest;
}

/**
 * The newest base backup that was complete (consistent) at or before `at` and can start a replay
 * to the timeline `line` describes (undefined: any timeline, for `--timeline current`).
 */
async function pickBase(store: Store, name: string, entries: BackupEntry[], at: Date | "latest", line: Map<number, bigint | undefined> | undefined, tli: number | undefined): Promise<BaseCandidate> {
  const skipped: string[] = [];
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    // A base backup whose key time the store's times contradict is never chosen (see storeTimeFlags).
    if (e.flags.length) continue;
    if (at !== "latest" && e.parts.time.getTime() > at.getTime()) continue;
    const m = await readManifest(store, e);
    if (at !== "latest" && new Date(m.finishedAt).getTime() > at.getTime()) continue;
    if (line && m.basebackup && !baseFitsTimeline(m.basebackup.timeline, m.basebackup.endLsn, line)) {
      skipped.push(`${e.key} (timeline ${m.basebackup.timeline}, end ${m.basebackup.endLsn ?? "unknown"})`);
      continue;
    }
    return { entry: e, manifest: m };
  }
  const on = tli === undefined ? "" : ` on timeline ${tli}`;
  throw new RunError(
    (at === "latest" ? `no base backup of ${name}${on} found` : `no base backup of ${name}${on} finished at or before ${at.toISOString()} (recovery can only start from a backup that was complete by then)`) +
      (skipped.length ? `; not on timeline ${tli}'s history (taken after it forked): ${skipped.join(", ")}` : ""),
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
 * so no recovery setting stays in postgresql.auto.conf to be carried into later base backups,
 * and the fetcher's directory with its credentials and identity.
 */
const END_OF_RECOVERY = `sed -i '/^${RECOVERY_BEGIN}$/,/^${RECOVERY_END}$/d' postgresql.auto.conf && rm -rf ${RESTORE_FETCH_DIR}`;

/** Settings that make a server recover (or stop recovering) somewhere: none may be inherited or left behind. */
const RECOVERY_SETTING = /^\s*(restore_command|recovery_target\w*|recovery_end_command|archive_cleanup_command)\s*=/;

/**
 * Removes the recovery settings a base backup brought along in its postgresql.auto.conf (left by an
 * earlier restore of the source, or set by hand): an inherited recovery_target_time would otherwise
 * stop a `--at latest` replay early, and a commented copy would still be carried into every later
 * base backup.
 */
export function removeRecoverySettings(conf: string): string {
  return conf
    .split("\n")
    .filter((l) => !RECOVERY_SETTING.test(l.replace(/^#\s*disabled by lifeboat restore:\s*/, "")))
    .join("\n")
    .replace(/\n*$/, "");
}

/** `'...'` for postgresql.conf. */
function confString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** `'...'` for sh. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * True when some WAL reaches past the base backup's end (the segment holding its end LSN, or its
 * start segment when the end is unknown): without it, replay ends where the base backup does,
 * whatever the target.
 */
export function walPastBase(files: string[], startFile: string, m: Manifest, segSize: number | undefined): boolean {
  const endLsn = m.basebackup?.endLsn;
  const endFile = endLsn && segSize ? segmentFileFor(timelineOf(startFile), endLsn, segSize) : startFile;
  return files.some((f) => !isHistoryName(f) && timelineOf(f) >= timelineOf(endFile) && segmentPosition(f) >= segmentPosition(endFile));
}

/** The first missing segment between `startFile` and the last one held on the start timeline, if any. */
export function findGap(files: string[], startFile: string, segSize: number): string | undefined {
  const tli = startFile.slice(0, 8);
  const have = new Set(files.filter((f) => f.startsWith(tli) && isSegmentName(f)));
  if (have.size === 0) return undefined;
  const last = [...have].sort().pop()!;
  for (let f = startFile; f < last; f = nextSegment(f, segSize)) if (!have.has(f)) return f;
  return undefined;
}

/** When each timeline's first WAL object was captured (the key time): which timeline a time lies on. */
function timelinesFirstSeen(objs: WalObject[]): Map<number, Date> {
  const out = new Map<number, Date>();
  for (const o of objs) {
    const t = timelineOf(o.file);
    const seen = out.get(t);
    if (!seen || o.time < seen) out.set(t, o.time);
  }
  return out;
}

/** Timeline `tli`'s history, fetched (sha256-checked, decrypted) from its `.history` object; [] for timeline 1 or none stored. */
async function timelineHistory(store: Store, objs: WalObject[], tli: number, identity: string, dir: string): Promise<HistoryEntry[]> {
  const file = tli.toString(16).toUpperCase().padStart(8, "0") + ".history";
  const o = [...objs].reverse().find((x) => x.file === file);
  if (!o) {
    if (tli > 1) throw new RunError(`timeline ${tli} has no ${file} under wal/: cannot tell which base backups lead to it`);
    return [];
  }
  const out = join(dir, `${file}.restore`);
  await fetchWalObject(store, o, identity, out);
  try {
    return parseHistory(await fsp.readFile(out, "utf8"));
  } catch (e) {
    throw new RunError(`${o.key}: ${errorMessage(e)}`);
  } finally {
    await fsp.rm(out, { force: true });
  }
}

export async function restorePitr(store: Store, o: PitrOptions, log: Logger, progress: Progress): Promise<Record<string, unknown>> {
  if (o.at === "latest-verified") throw new UsageError("--at latest-verified selects a dump, not a recovery point: give --at latest or a time");
  const goal: RecoveryTarget | "latest" = !o.at || o.at === "latest" ? "latest" : parseRecoveryTarget(o.at);
  let choice: TimelineChoice | undefined;
  try {
    choice = parseTimelineOption(o.timeline);
  } catch (e) {
    throw new UsageError(errorMessage(e));
  }
  const at: Date | "latest" = goal === "latest" ? "latest" : goal.at;
  const atText = goal === "latest" ? "latest" : goal.iso;
  const target = resolve(o.targetDir);
  if (!(await dirIsEmpty(target))) throw new UsageError(`--target-dir ${target} is not empty; point-in-time recovery restores a whole data directory into an empty or new directory`);
  let entries = await baseBackups(store, o.name);
  if (o.base !== undefined) {
    const hit = matchBase(entries, o.base);
    const list = entries.map((e) => `  ${e.key}${e.flags.length ? " (UNTRUSTED)" : ""}`).join("\n");
    if (hit.length !== 1) throw new UsageError(`--base ${o.base}: ${hit.length ? "names more than one" : "no such"} base backup of ${o.name}; the base backups are:\n${list || "  (none)"}`);
    entries = hit;
  }
  const newestUsable = [...entries].reverse().find((e) => o.base !== undefined || !e.flags.length);
  if (!newestUsable) throw new RunError(`no base backups found for ${o.name}`);
  checkIdentity(o.identity, await readManifest(store, newestUsable), newestUsable.key);
  requireTools([
    { cmd: "age", why: "decrypts the backup" },
    { cmd: "zstd", why: "decompresses the backup" },
    { cmd: "tar", why: "extracts the base backup" },
  ]);
  const walObjs = await listWal(store, o.name);
  const firstSeen = timelinesFirstSeen(walObjs);
  const newestTli = firstSeen.size ? Math.max(...firstSeen.keys()) : undefined;

  const createdTarget = !(await fsp.stat(target).then(() => true, () => false));
  await fsp.mkdir(target, { recursive: true, mode: 0o700 });
  await fsp.chmod(target, 0o700);
  const fetchDir = join(target, RESTORE_FETCH_DIR);
  try {
    await fsp.mkdir(join(fetchDir, FETCH_CACHE), { recursive: true, mode: 0o700 });
    await fsp.chmod(fetchDir, 0o700);
    const identity = join(fetchDir, FETCH_IDENTITY);
    await fsp.copyFile(o.identity!, identity);
    await fsp.chmod(identity, 0o600);

    // 1. Which timeline, which base backup. A time lies on the timeline that existed then (not a
    //    newer one forked before it); --at latest goes to the newest timeline.
    let tli: number | undefined =
      typeof choice === "number" ? choice : choice === "current" ? undefined : choice === "latest" || at === "latest" ? newestTli : timelineAt(at, firstSeen);
    if (typeof choice === "number" && !firstSeen.has(choice)) {
      throw new UsageError(`--timeline ${choice}: no WAL of ${o.name} on that timeline; the timelines with WAL are ${[...firstSeen.keys()].sort((a, b) => a - b).join(", ") || "none"}`);
    }
    const line = tli === undefined ? undefined : ancestry(tli, await timelineHistory(store, walObjs, tli, identity, fetchDir));
    const base = await pickBase(store, o.name, entries, o.base !== undefined ? "latest" : at, line, tli);
    if (o.base !== undefined && at !== "latest" && new Date(base.manifest.finishedAt).getTime() > at.getTime()) {
      throw new UsageError(`--base ${base.entry.key} finished at ${base.manifest.finishedAt}, after --at ${atText}: recovery can only start from a backup that was complete by then`);
    }
    checkIdentity(o.identity, base.manifest, base.entry.key);
    if (tli === undefined) tli = base.manifest.basebackup?.timeline ?? 1;
    const onLine = (f: string) => !line || line.has(timelineOf(f));

    // 2. A target past the newest WAL (on the timeline's history) cannot be reached: PostgreSQL
    //    would replay everything and then stop ("recovery ended before configured recovery
    //    target was reached"). Refuse it before downloading, or with --allow-partial-target replay
    //    everything there is and say so.
    const warnings: string[] = [];
    const mine = walObjs.filter((w) => onLine(w.file));
    const newestWal = mine.length ? mine[mine.length - 1]!.time : new Date(base.manifest.finishedAt);
    let replayTo = goal;
    if (goal !== "latest" && goal.at.getTime() > newestWal.getTime()) {
      const why = `--at ${atText} is after the newest WAL of ${o.name} in the bucket on timeline ${tli} (captured ${newestWal.toISOString()})`;
      if (!o.allowPartialTarget) {
        throw new UsageError(
          `${why}: PostgreSQL would stop with "recovery ended before configured recovery target was reached". Use --at latest, a time at or before ${newestWal.toISOString()}, or --allow-partial-target to replay all WAL there is`,
        );
      }
      warnings.push(`${why}: --allow-partial-target replays all of it; the recovery point is the newest WAL (${newestWal.toISOString()}), not ${atText}`);
      replayTo = "latest";
    }
    log.info({ base: base.entry.key, target, at: atText, timeline: tli }, `point-in-time restore of ${o.name} from ${base.entry.key}`);

    // 3. The base backup, streamed into the data directory.
    const dl = await download(store, { entry: base.entry, manifest: base.manifest }, o.identity!, (n) => progress.update(n));
    const tar = startProc("tar", "tar", ["--extract", "--file=-", "--no-same-owner", "-C", target]);
    await Promise.all([pipeline(dl.out, tar.child.stdin!), dl.done, tar.done]);
    const label = await fsp.readFile(join(target, "backup_label"), "utf8").catch(() => {
      throw new RunError(`${base.entry.key} holds no backup_label: not a pg_basebackup tar`);
    });
    const startFile = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(label)?.[1];
    if (!startFile) throw new RunError(`${base.entry.key}: backup_label names no start WAL file`);

    // 4. The fetcher's index: every WAL file replay may ask for, from the backup's start on.
    const index = walIndex(walObjs, startFile);
    const names = [...index.keys()].filter(onLine);
    const aSegment = [...index.values()].find((w) => isSegmentName(w.file));
    const segSize = aSegment ? parseWalManifest(await store.getText(aSegment.manifestKey), aSegment.manifestKey).rawBytes : undefined;
    const gap = segSize ? findGap(names, startFile, segSize) : undefined;
    if (gap) warnings.push(`WAL archive of ${o.name} has a gap: ${gap} is missing; replay stops before it`);
    if (!names.some(isSegmentName) && base.manifest.basebackup?.walMethod !== "fetch") {
      throw new RunError(`no WAL of ${o.name} from ${startFile} on under wal/: the base backup ${base.entry.key} cannot be made consistent (is wal-stream running?)`);
    }
    if (!walPastBase(names, startFile, base.manifest, segSize)) {
      warnings.push(
        `no WAL of ${o.name} past the end of base backup ${base.entry.key} in ${store.description}: the recovery point is the base backup's end (${base.manifest.finishedAt}), not ${atText}. Is wal-stream running, and does this bucket (a replica?) hold ${o.name}/wal/?`,
      );
    }
    for (const w of warnings) log.warn(w);
    const env: Record<string, string> = {};
    for (const k of STORE_ENV) if (process.env[k]) env[k] = process.env[k]!;
    const cfg: FetchConfig = {
      version: 1,
      source: o.name,
      store: o.storeConfig,
      env,
      prefetch: o.prefetch ?? 8,
      ...(segSize ? { segSize } : {}),
      files: Object.fromEntries([...index].map(([n, w]) => [n, { key: w.key, manifestKey: w.manifestKey }])),
    };
    await fsp.writeFile(join(fetchDir, FETCH_CONFIG), JSON.stringify(cfg), { mode: 0o600 });

    // 5. Recovery configuration, in a block that removes itself (and the fetcher's directory) at
    //    the end of recovery. restore_command runs with the data directory as its cwd, so the
    //    fetcher's directory is named relative to it: the data directory may be moved or mounted
    //    elsewhere before it is started. No secret is in the command or this file.
    const fetchCmd = restoreCommandLine(`${shQuote(process.execPath)} ${shQuote(resolve(process.argv[1]!))}`);
    const timelineSetting = choice === "current" ? "current" : choice === "latest" || (choice === undefined && at === "latest") ? "latest" : String(tli);
    const lines = [
      RECOVERY_BEGIN,
      `# lifeboat-runner restore --at ${atText} from ${base.entry.key}`,
      `restore_command = ${confString(fetchCmd)}`,
      ...(replayTo === "latest" ? [] : [`recovery_target_time = ${confString(replayTo.pgText)}`]),
      `recovery_target_timeline = ${confString(timelineSetting)}`,
      "recovery_target_action = 'promote'",
      `recovery_end_command = ${confString(END_OF_RECOVERY)}`,
      RECOVERY_END,
      "",
    ];
    const autoConf = join(target, "postgresql.auto.conf");
    const inherited = await fsp.readFile(autoConf, "utf8").catch(() => "");
    await fsp.writeFile(autoConf, removeRecoverySettings(inherited) + "\n" + lines.join("\n"), { mode: 0o600 });
    await fsp.writeFile(join(target, "recovery.signal"), "", { mode: 0o600 });
    // Replay ends at the highest position (on the newest timeline there); a partial upload there is the newest WAL.
    const segments = names.filter(isSegmentName).sort((a, b) => (segmentPosition(a) + a < segmentPosition(b) + b ? -1 : 1));
    const lastName = segments[segments.length - 1];
    const last = lastName ? index.get(lastName) : undefined;
    return {
      base: base.entry.key,
      baseFinishedAt: base.manifest.finishedAt,
      targetDir: target,
      recoveryTarget: atText,
      timeline: timelineSetting,
      startWal: startFile,
      walFiles: segments.length,
      walFetch: "on demand (restore_command: lifeboat-runner wal-fetch)",
      lastSegment: lastName ?? null,
      partialSegment: last && isPartialName(last.file) ? { file: last.file, capturedAt: last.time.toISOString() } : null,
      walGap: gap ?? null,
      recoveryPoint: warnings.some((w) => w.startsWith("no WAL")) ? "base-backup-end" : "wal",
      warnings,
      next: `pg_ctl -D ${target} start   (as the OS user that owns ${target}; it fetches WAL from ${store.description} as it replays)`,
    };
  } catch (e) {
    // Leave nothing half-restored behind (the fetcher's credentials included).
    if (createdTarget) await fsp.rm(target, { recursive: true, force: true });
    else for (const f of await fsp.readdir(target).catch(() => [] as string[])) await fsp.rm(join(target, f), { recursive: true, force: true });
    throw e;
  }
}
