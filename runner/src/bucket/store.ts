import { randomBytes } from "node:crypto";
import { LockMode } from "lifeboat-core";
import { createInterface } from "node:readline";
import { RunError } from "../errors";
import { Store, ListedObject } from "../store";
import { ObjectLock } from "../lock";
import { SNAPSHOTS_DIR, SNAPSHOT_SUFFIX, SnapshotEntry, SnapshotHeader, SnapshotSummary, bucketPrefix, parseSnapshotLine, timedKeyTime } from "./snapshot";

export const randomSuffix = () => randomBytes(6).toString("hex");

/** A snapshot in the backup bucket: its manifest key and the time in it (when the snapshot started). */
export interface SnapshotRef {
  key: string;
  time: Date;
  size: number;
  storedAt: Date;
}

/** The source's snapshots, oldest first (by the time in the key; a key of another shape is not a snapshot). */
export async function listSnapshots(store: Store, name: string): Promise<SnapshotRef[]> {
  return snapshotRefs(await store.list(bucketPrefix(store.prefix, name, SNAPSHOTS_DIR)));
}

/** The snapshots among the objects listed under a source's `snapshots/`, oldest first. */
export function snapshotRefs(objs: ListedObject[]): SnapshotRef[] {
  const out: SnapshotRef[] = [];
  for (const o of objs) {
    const time = o.key.endsWith(SNAPSHOT_SUFFIX) ? timedKeyTime(o.key) : undefined;
    if (time) out.push({ key: o.key, time, size: o.size, storedAt: o.modified });
  }
  return out.sort((a, b) => a.time.getTime() - b.time.getTime() || (a.key < b.key ? -1 : 1));
}

/**
 * Reads a snapshot manifest as a stream: the header, each entry as it arrives (in key order),
 * then the summary. A manifest without its summary line was cut short: an error.
 */
export async function readSnapshot(
  store: Store,
  key: string,
  onEntry?: (e: SnapshotEntry) => void | Promise<void>,
): Promise<{ header: SnapshotHeader; summary: SnapshotSummary }> {
  let header: SnapshotHeader | undefined;
  let summary: SnapshotSummary | undefined;
  for await (const x of snapshotLines(store, key)) {
    if ("header" in x) header = x.header;
    else if ("summary" in x) summary = x.summary;
    else await onEntry?.(x.entry);
  }
  if (!header || !summary) throw new RunError(`snapshot manifest ${key} is cut short (no ${header ? "summary" : "header"})`);
  return { header, summary };
}

async function* snapshotLines(store: Store, key: string) {
  const body = await store.get(key);
  const lines = createInterface({ input: body, crlfDelay: Infinity });
  let n = 0;
  let ended = false;
  for await (const line of lines) {
    n++;
    if (ended) throw new RunError(`snapshot manifest ${key} line ${n}: text after the summary`);
    let x;
    try {
      x = parseSnapshotLine(line, n, key);
    } catch (e) {
      throw new RunError((e as Error).message);
    }
    if ("summary" in x) ended = true;
    yield x;
  }
}

/** The entries of a snapshot, in key order, one at a time (for a merge with a listing). */
export async function* snapshotEntries(store: Store, key: string): AsyncGenerator<SnapshotEntry> {
  let summary = false;
  for await (const x of snapshotLines(store, key)) {
    if ("entry" in x) yield x.entry;
    if ("summary" in x) summary = true;
  }
  if (!summary) throw new RunError(`snapshot manifest ${key} is cut short (no summary)`);
}

/**
 * S3 Object Lock for a bucket source (`--lock-mode`): each stored copy until 2 × window after it
 * was made, the snapshot manifest until window after it started: the same ages the lifecycle
 * rules expire them at (objects/ 2 × window, snapshots/ window).
 */
export function bucketLocks(mode: LockMode, windowSeconds: number): { object: (at: Date) => ObjectLock; snapshot: (at: Date) => ObjectLock } {
  const m = mode === "compliance" ? "COMPLIANCE" : "GOVERNANCE";
  const after = (at: Date, s: number): ObjectLock => ({ mode: m, retainUntil: new Date(at.getTime() + s * 1000) });
  return { object: (at) => after(at, 2 * windowSeconds), snapshot: (at) => after(at, windowSeconds) };
}
