/**
 * What the bucket says about a PITR source's WAL, for `status` and `list` (remote, no sidecar
 * access): the newest WAL uploaded, how far the bucket is behind, whether the chain from the
 * newest base backup is contiguous, whether the sidecar is alive, and whether WAL has moved to
 * a timeline no base backup is on.
 *
 * Why a heartbeat in the bucket: WAL age alone cannot tell an idle database from a dead sidecar.
 * An idle server writes (almost) nothing, so its partial segment does not change and is not
 * uploaded again; it switches segments only on archive_timeout, if that is set at all. The
 * sidecar therefore puts a small heartbeat object (`<source>/wal/heartbeat/<ts>-<rand>.json`)
 * every HEARTBEAT_OBJECT_EVERY_MS holding `coveredUntil`: everything the server wrote up to that
 * moment is in the bucket. That is the honest recovery point whether the server is busy or idle;
 * a heartbeat that stops coming means the sidecar, its host or its path to the bucket is gone.
 *
 * Everything here is pure: the I/O is in `readWalFacts`.
 */
import { randomBytes } from "node:crypto";
import { humanDuration, keyTimestamp, parseKeyTimestamp } from "lifeboat-core";
import { ListedObject, Store } from "../store";
import { BASEBACKUP_EXT, Manifest, parseWalManifest } from "../manifest";
import { BackupEntry, readManifest } from "../catalog";
import { isHistoryName, isPartialName, isSegmentName, listWal, segmentFileFor, timelineOf, walPrefix, WalObject } from "./wal";
import type { Heartbeat } from "./heartbeat";

/** The sidecar puts a heartbeat object this often (a put a minute: cents a month on R2 or S3). */
export const HEARTBEAT_OBJECT_EVERY_MS = 60_000;
/** Without any heartbeat or --max-wal-lag, WAL is judged against this lag. */
export const DEFAULT_MAX_WAL_LAG_SECONDS = 300;

export function heartbeatObjectPrefix(prefix: string, source: string): string {
  return walPrefix(prefix, source) + "heartbeat/";
}

export function heartbeatObjectKey(prefix: string, source: string, at: Date): string {
  return heartbeatObjectPrefix(prefix, source) + `${keyTimestamp(at)}-${randomBytes(6).toString("hex")}.json`;
}

/** The newest heartbeat object key under `keys` (timestamps sort as text), if any. */
export function newestHeartbeatKey(prefix: string, source: string, keys: string[]): string | undefined {
  const base = heartbeatObjectPrefix(prefix, source);
  return keys
    .filter((k) => k.startsWith(base) && parseKeyTimestamp(k.slice(base.length).split("-")[0] ?? "") !== undefined)
    .sort()
    .pop();
}

/** Segment number of a WAL file name (timeline ignored), for contiguity across timelines. */
function segno(file: string, segSize: number): bigint {
  const perId = 0x100000000n / BigInt(segSize);
  return BigInt("0x" + file.slice(8, 16)) * perId + BigInt("0x" + file.slice(16, 24));
}

function fileName(tli: number, n: bigint, segSize: number): string {
  const perId = 0x100000000n / BigInt(segSize);
  const hex = (x: bigint) => x.toString(16).toUpperCase().padStart(8, "0");
  return hex(BigInt(tli)) + hex(n / perId) + hex(n % perId);
}

export interface WalChain {
  /** The newest segment replay can reach from the start (completed, or the newest partial). */
  newestFile?: string;
  /** The first segment missing between the start and the newest segment uploaded. */
  gap?: string;
  /** How many segments are missing in that range. */
  missing: number;
}

/**
 * Is every segment from `startFile` up to the newest one uploaded? Positions count across
 * timelines (after a promotion the new timeline continues at the switch segment under its own
 * timeline id), from `startFile`'s timeline on. A partial segment fills only the newest
 * position: a partial before a later segment means the completed segment never arrived, and
 * replay stops inside it.
 */
export function walChain(objs: WalObject[], startFile: string, segSize: number): WalChain {
  const startTli = timelineOf(startFile);
  const start = segno(startFile, segSize);
  const have = new Map<bigint, string>();
  let newest: { n: bigint; file: string } | undefined;
  for (const o of objs) {
    if (isHistoryName(o.file)) continue;
    const seg = o.file.slice(0, 24);
    if (timelineOf(seg) < startTli) continue;
    const n = segno(seg, segSize);
    if (n < start) continue;
    if (isSegmentName(o.file)) {
      const prev = have.get(n);
      if (!prev || timelineOf(prev) < timelineOf(seg)) have.set(n, seg);
    }
    if (!newest || n > newest.n || (n === newest.n && timelineOf(seg) > timelineOf(newest.file))) newest = { n, file: o.file };
  }
  if (!newest) return { missing: 0 };
  let gap: string | undefined;
  let missing = 0;
  let tli = startTli;
  for (let n = start; n < newest.n; n++) {
    const f = have.get(n);
    if (f) tli = timelineOf(f);
    else {
      gap ??= fileName(tli, n, segSize);
      missing++;
    }
  }
  // The newest position itself: a completed segment or a partial one, both reach into it.
  return { newestFile: newest.file, missing, ...(gap ? { gap } : {}) };
}

/** What the bucket holds, read by readWalFacts. */
export interface WalFacts {
  objs: WalObject[];
  /** The newest heartbeat object the sidecar put, and when the store received it. */
  heartbeat?: Heartbeat;
  /** The newest trusted base backup's manifest (its start, timeline and WAL method). */
  base?: Manifest;
  /** Bytes per segment (from a WAL manifest); undefined when no segment is in the bucket. */
  segSize?: number;
}

export interface WalReport {
  /** The newest WAL object uploaded and when. */
  newest?: { file: string; capturedAt: string; ageSeconds: number };
  /** Seconds of writes the bucket may lack (now - coveredUntil, or the newest WAL's age without a heartbeat). */
  lagSeconds?: number;
  maxLagSeconds: number;
  /** From the heartbeat: whether pg_receivewal was streaming, and when the sidecar last reported. */
  sidecar?: { at: string; ageSeconds: number; streaming: boolean; coveredUntil: string };
  timeline?: number;
  baseTimeline?: number;
  /** The first missing segment from the newest base backup's start on. */
  gap?: string;
  missing?: number;
  objects: number;
}

/**
 * The newest point a point-in-time restore can reach by what the bucket holds: the sidecar's
 * `coveredUntil` (everything written up to then is uploaded) or the newest WAL object's capture
 * time, whichever is later.
 */
export function walRecoveryPoint(r: WalReport): string | undefined {
  const points = [r.sidecar?.coveredUntil, r.newest?.capturedAt].filter((p): p is string => !!p);
  return points.length ? points.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b)) : undefined;
}

/**
 * Judges a PITR source's WAL (pure). `maxLagSeconds`: status's --max-wal-lag, else the sidecar's
 * own --max-lag from its heartbeat, else DEFAULT_MAX_WAL_LAG_SECONDS. Slack: the heartbeat comes
 * every HEARTBEAT_OBJECT_EVERY_MS, the partial segment every flush interval.
 */
export function judgeWal(f: WalFacts, now: number, maxLagOption?: number): { report: WalReport; problems: string[] } {
  const hb = f.heartbeat;
  const maxLag = maxLagOption ?? hb?.maxLagSeconds ?? DEFAULT_MAX_WAL_LAG_SECONDS;
  const problems: string[] = [];
  const wal = f.objs.filter((o) => !isHistoryName(o.file));
  const newestObj = wal[wal.length - 1];
  const report: WalReport = { maxLagSeconds: maxLag, objects: f.objs.length };
  if (newestObj) report.newest = { file: newestObj.file, capturedAt: newestObj.time.toISOString(), ageSeconds: (now - newestObj.time.getTime()) / 1000 };
  const tlis = f.objs.map((o) => timelineOf(o.file));
  if (tlis.length) report.timeline = Math.max(...tlis);
  const bb = f.base?.basebackup;
  if (bb) report.baseTimeline = bb.timeline;

  if (!newestObj && !hb) {
    problems.push(`no WAL under wal/: point-in-time recovery reaches only the end of a base backup; is wal-stream running against this bucket${f.base ? "" : " (and has a base backup been taken)"}?`);
    return { report, problems };
  }
  if (hb) {
    const beatAge = (now - Date.parse(hb.at)) / 1000;
    const lag = (now - Date.parse(hb.coveredUntil)) / 1000;
    report.sidecar = { at: hb.at, ageSeconds: beatAge, streaming: hb.streaming, coveredUntil: hb.coveredUntil };
    report.lagSeconds = lag;
    const every = (hb.everySeconds ?? HEARTBEAT_OBJECT_EVERY_MS / 1000) + (hb.flushIntervalSeconds ?? 0);
    if (beatAge > maxLag + every) {
      problems.push(`wal-stream stopped: its last heartbeat in the bucket is ${humanDuration(beatAge)} old (one is put every ${humanDuration(hb.everySeconds ?? HEARTBEAT_OBJECT_EVERY_MS / 1000)}): the sidecar, its host or its path to the bucket is down; WAL since ${hb.coveredUntil} is not in the bucket`);
    } else if (lag > maxLag + every) {
      problems.push(`WAL lag: the bucket holds the server's writes up to ${hb.coveredUntil}, ${humanDuration(lag)} ago, more than the max lag ${humanDuration(maxLag)}`);
    }
    if (!hb.streaming && beatAge <= maxLag + every) problems.push("wal-stream is running but pg_receivewal is not streaming (the database is down or refuses the replication connection)");
  } else if (newestObj) {
    // No heartbeat (a sidecar older than heartbeat objects): WAL age is all there is to judge by.
    const age = (now - newestObj.time.getTime()) / 1000;
    report.lagSeconds = age;
    if (age > maxLag + HEARTBEAT_OBJECT_EVERY_MS / 1000) {
      problems.push(`no WAL uploaded for ${humanDuration(age)} (max lag ${humanDuration(maxLag)}) and no wal-stream heartbeat in the bucket: the sidecar stopped uploading, or the database is idle (an idle server switches segments only on archive_timeout; a current wal-stream puts heartbeats that tell the two apart)`);
    }
  }
  if (bb && f.segSize) {
    const start = segmentFileFor(bb.timeline, bb.startLsn, f.segSize);
    const chain = walChain(f.objs, start, f.segSize);
    if (chain.gap) {
      report.gap = chain.gap;
      report.missing = chain.missing;
      problems.push(`WAL gap: ${chain.gap} is missing (${chain.missing} segment(s) missing between the newest base backup's start ${start} and ${chain.newestFile}); replay stops before it`);
    }
  }
  if (bb && report.timeline !== undefined && report.timeline > bb.timeline) {
    problems.push(`new timeline ${report.timeline} (a promotion) but the newest base backup is on timeline ${bb.timeline}: take a base backup now (lifeboat-runner basebackup); restores on the new timeline depend on the old one's WAL and history until then`);
  }
  return { report, problems };
}

/** One line for the text output of status and list. */
export function walLine(r: WalReport): string {
  const parts: string[] = [];
  parts.push(r.newest ? `newest ${r.newest.file} captured ${r.newest.capturedAt} (${humanDuration(Math.max(0, r.newest.ageSeconds))} ago)` : "no WAL");
  if (r.lagSeconds !== undefined) parts.push(`lag ${humanDuration(Math.max(0, r.lagSeconds))} (max ${humanDuration(r.maxLagSeconds)})`);
  if (r.sidecar) parts.push(`sidecar ${r.sidecar.streaming ? "streaming" : "NOT streaming"}, heartbeat ${humanDuration(Math.max(0, r.sidecar.ageSeconds))} ago`);
  if (r.timeline !== undefined) parts.push(`timeline ${r.timeline}${r.baseTimeline !== undefined && r.baseTimeline !== r.timeline ? ` (base backup on ${r.baseTimeline})` : ""}`);
  parts.push(r.gap ? `GAP at ${r.gap} (${r.missing} missing)` : "no gap");
  return `WAL: ${parts.join(", ")}`;
}

/**
 * Reads what judgeWal needs: the WAL listing (`listed`, what is under the source's `wal/`, when
 * the caller has it; else listed here), the newest heartbeat object and one WAL manifest for the segment size.
 */
export async function readWalFacts(store: Store, source: string, base: Manifest | undefined, listed?: ListedObject[]): Promise<WalFacts> {
  listed ??= await store.list(walPrefix(store.prefix, source));
  const objs = await listWal(store, source, listed);
  const hbKey = newestHeartbeatKey(store.prefix, source, listed.map((o) => o.key));
  let heartbeat: Heartbeat | undefined;
  if (hbKey) {
    try {
      const hb = JSON.parse(await store.getText(hbKey)) as Heartbeat;
      if (hb.version === 1 && hb.source === source && typeof hb.at === "string" && typeof hb.coveredUntil === "string") heartbeat = hb;
    } catch {
      /* unreadable: judged as no heartbeat */
    }
  }
  // A segment's raw size is the segment size; partial files are written at full size too.
  const sized = [...objs].reverse().find((o) => isSegmentName(o.file) || isPartialName(o.file));
  const segSize = sized ? parseWalManifest(await store.getText(sized.manifestKey), sized.manifestKey).rawBytes : undefined;
  return { objs, heartbeat, base, segSize };
}

/**
 * The WAL judgement of a source whose backups include base backups (a PITR source), or whose
 * bucket holds WAL without one (streaming, but nothing to replay it onto: a problem of its own);
 * undefined for any other source. `wal`: what the source's listing found under its `wal/`
 * (undefined: nothing, so no request is made for a source that never had WAL). Reads the newest
 * trusted base backup's manifest (with `read`, when given).
 */
export async function sourceWal(
  store: Store,
  source: string,
  backups: BackupEntry[],
  wal: ListedObject[] | undefined,
  now: number,
  maxLagOption?: number,
  read: (e: BackupEntry) => Promise<Manifest> = (e) => readManifest(store, e),
): Promise<{ report: WalReport; problems: string[] } | undefined> {
  const bases = backups.filter((b) => b.parts.ext === BASEBACKUP_EXT && b.flags.length === 0);
  if (!bases.length) {
    if (!wal) return undefined;
    const facts = await readWalFacts(store, source, undefined, wal);
    if (!facts.objs.length && !facts.heartbeat) return undefined;
    const judged = judgeWal(facts, now, maxLagOption);
    return {
      report: judged.report,
      problems: [...judged.problems, "WAL is in the bucket but no base backup is: point-in-time recovery has nothing to replay it onto; take one (lifeboat-runner basebackup)"],
    };
  }
  const base = await read(bases[bases.length - 1]!);
  return judgeWal(await readWalFacts(store, source, base, wal ?? []), now, maxLagOption);
}
