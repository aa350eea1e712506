import { randomBytes } from "node:crypto";
import { Logger } from "pino";
import { humanDuration, keyTimestamp, verificationPrefix } from "lifeboat-core";
import { identityRecipients, recipientFingerprint } from "../age";
import { CLOCK_TOLERANCE_MS } from "../catalog";
import { errorMessage } from "../errors";
import { HealthLimits, SourceHealth } from "../health";
import { Verification } from "../manifest";
import { formatBytes } from "../progress";
import { Store } from "../store";
import { SnapshotEntry, SnapshotHeader, SnapshotSummary } from "./snapshot";
import { SnapshotRef, readSnapshot } from "./store";
import { openStoredCopy } from "./restore";

export interface ReadSnapshot {
  ref: SnapshotRef;
  header: SnapshotHeader;
  summary: SnapshotSummary;
}

/** One line of `list` for a snapshot: what it holds and what changed since the one before. */
export function snapshotRow(s: ReadSnapshot, v: Verification | undefined) {
  const m = s.summary;
  return {
    source: s.header.source,
    key: s.ref.key,
    tier: "snapshot",
    time: s.ref.time.toISOString(),
    storedAt: s.ref.storedAt.toISOString(),
    storedBytes: m.copiedBytes,
    flags: [] as string[],
    verified: v ? (v.ok ? "ok" : "failed") : "no",
    bucket: { objects: m.objects, bytes: m.bytes, copied: m.copied, new: m.new, changed: m.changed, deleted: m.deleted, reused: m.reused },
  } as const;
}

/** The snapshots `refs` of a bucket source, each read (streamed) for its summary, in that order. */
export async function readSnapshots(store: Store, refs: SnapshotRef[]): Promise<ReadSnapshot[]> {
  const out: ReadSnapshot[] = [];
  for (const ref of refs) out.push({ ref, ...(await readSnapshot(store, ref.key)) });
  return out;
}

/** `list` rows for a bucket source's snapshots, with the source's verification records by key. */
export async function bucketListRows(store: Store, refs: SnapshotRef[], verifications: Map<string, Verification>) {
  return (await readSnapshots(store, refs)).map((s) => snapshotRow(s, verifications.get(s.ref.key)));
}

export function bucketListLine(r: ReturnType<typeof snapshotRow>): string {
  const b = r.bucket;
  return `${r.source.padEnd(16)} ${r.tier.padEnd(8)} ${r.time}  ${b.objects} objects, ${formatBytes(b.bytes)}; +${b.new} new, ${b.changed} changed, -${b.deleted} deleted, ${b.copied} copied (${formatBytes(r.storedBytes)})  verified:${r.verified.padEnd(6)} ${r.key}`;
}

/**
 * A bucket source's health (pure): the newest snapshot younger than the RPO (`--max-age`), and
 * no sudden emptying (more than `--max-shrink` of the previous snapshot's objects gone: the
 * dashboard's "Empty bucket"); a failed verification of the newest is a problem too.
 */
export function evaluateBucket(name: string, newest: ReadSnapshot, previous: ReadSnapshot | undefined, v: Verification | undefined, limits: HealthLimits, now: number): SourceHealth {
  const problems: string[] = [];
  const age = (now - newest.ref.time.getTime()) / 1000;
  if (age * 1000 < -CLOCK_TOLERANCE_MS) problems.push(`newest snapshot ${newest.ref.key} is dated in the future of this host's clock`);
  else if (age > limits.maxAge) problems.push(`overdue: newest snapshot ${humanDuration(age)} ago, more than --max-age ${humanDuration(limits.maxAge)}`);
  const s = newest.summary;
  if (previous && previous.summary.objects > 0) {
    const lost = (previous.summary.objects - s.objects) / previous.summary.objects;
    if (lost > limits.shrink) problems.push(`${previous.summary.objects - s.objects} of ${previous.summary.objects} objects gone since the previous snapshot (${Math.round(lost * 100)}%, more than --max-shrink ${limits.shrink}): was the bucket emptied?`);
  }
  if (v && !v.ok) problems.push(`verification of ${newest.ref.key} failed: ${v.problems.join("; ")}`);
  return {
    source: name,
    healthy: problems.length === 0,
    problems,
    detail: `bucket: ${s.objects} objects, ${formatBytes(s.bytes)}; last snapshot +${s.new} new, ${s.changed} changed, -${s.deleted} deleted`,
    newest: { key: newest.ref.key, takenAt: newest.header.startedAt, finishedAt: s.finishedAt, ageSeconds: age, storedBytes: s.bytes, rawBytes: s.bytes, verified: v ? (v.ok ? "ok" : "failed") : "no" },
    ...(previous ? { previous: { key: previous.ref.key, storedBytes: previous.summary.bytes } } : {}),
  };
}

/** status for a bucket source, from its snapshots `refs` (at least one) and its verification records by key. */
export async function bucketHealth(store: Store, name: string, refs: SnapshotRef[], verifications: Map<string, Verification>, limits: HealthLimits, now: number): Promise<SourceHealth> {
  const snaps = await readSnapshots(store, refs.slice(-2));
  const newest = snaps[snaps.length - 1]!;
  return evaluateBucket(name, newest, snaps.length > 1 ? snaps[0] : undefined, verifications.get(newest.ref.key), limits, now);
}

/** Keeps `k` items chosen uniformly from a stream of unknown length (reservoir sampling), `random` in [0, 1). */
export function reservoir<T>(k: number, random: () => number = Math.random) {
  const kept: T[] = [];
  let seen = 0;
  return {
    add(x: T) {
      seen++;
      if (kept.length < k) kept.push(x);
      else {
        const j = Math.floor(random() * seen);
        if (j < k) kept[j] = x;
      }
    },
    get items() {
      return kept;
    },
  };
}

/** Downloads one stored copy, checks its sha256, decrypts it and checks the app bytes' size and sha256. */
async function checkCopy(store: Store, e: SnapshotEntry, identity: string): Promise<void> {
  const copy = await openStoredCopy(store, e, identity);
  copy.out.resume();
  await copy.checked;
}

/**
 * `verify` of a bucket snapshot: `sample` stored copies picked at random (reservoir over the
 * streamed manifest), each downloaded, sha256-checked, decrypted and checked against the
 * manifest (size, sha256). Returns the verification record (the caller stores and reports it).
 */
export async function verifySnapshot(store: Store, ref: SnapshotRef, identity: string, sample: number, log: Logger): Promise<{ record: Verification; checked: number; objects: number }> {
  const started = Date.now();
  const problems: string[] = [];
  const pick = reservoir<SnapshotEntry>(sample);
  let header: SnapshotHeader | undefined;
  let objects = 0;
  try {
    ({ header } = await readSnapshot(store, ref.key, (e) => {
      objects++;
      pick.add(e);
    }));
  } catch (e) {
    problems.push(errorMessage(e));
  }
  if (header) {
    const mine = identityRecipients(identity).map(recipientFingerprint);
    if (!header.encryption.recipientFingerprints.some((f) => mine.includes(f))) problems.push(`${identity} is not one of the keys snapshot ${ref.key} was encrypted to`);
    else {
      for (const e of pick.items) {
        try {
          await checkCopy(store, e, identity);
        } catch (err) {
          problems.push(errorMessage(err));
        }
      }
    }
  }
  const record: Verification = {
    version: 1,
    key: ref.key,
    source: header?.source ?? "",
    ok: problems.length === 0,
    checkedAt: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    problems,
  };
  log.info({ key: ref.key, checked: pick.items.length, objects, ok: record.ok }, `verified ${pick.items.length} of ${objects} objects of ${ref.key}`);
  return { record, checked: pick.items.length, objects };
}

export function verificationKey(store: Store, name: string): string {
  return verificationPrefix(store.prefix, name) + `${keyTimestamp(new Date())}-${randomBytes(6).toString("hex")}.json`;
}
