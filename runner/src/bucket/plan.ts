import { compareKeys, SnapshotEntry } from "./snapshot";

/** One object as the app bucket's listing shows it (key relative to the source prefix). */
export interface Listed {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export type CopyReason = "new" | "changed" | "stale";
export type Decision = { copy: false } | { copy: true; reason: CopyReason };

/** S3 gives ETags in quotes (and some stores without): compare them bare. */
export function bareEtag(etag: string | undefined): string {
  return (etag ?? "").replace(/^W\//, "").replace(/^"|"$/g, "");
}

/**
 * Whether a snapshot copies a listed object or points at the previous snapshot's copy: a key the
 * previous snapshot lacks is new; another ETag or size is a change; a copy older than the window
 * is copied again, so that lifecycle (objects expire after 2 × window) never removes a copy that
 * a kept snapshot (kept for window) still references.
 */
export function decide(prev: SnapshotEntry | undefined, cur: Listed, now: Date, windowMs: number): Decision {
  if (!prev) return { copy: true, reason: "new" };
  if (bareEtag(prev.etag) !== bareEtag(cur.etag) || prev.size !== cur.size) return { copy: true, reason: "changed" };
  if (now.getTime() - Date.parse(prev.stored.at) > windowMs) return { copy: true, reason: "stale" };
  return { copy: false };
}

/** A key on either side of a join of two key-ordered streams. */
export interface Joined<A, B> {
  key: string;
  a?: A;
  b?: B;
}

/**
 * Joins two streams each in S3 key order (see {@link compareKeys}) by key, holding one item of
 * each at a time: memory stays flat however many keys there are. A stream out of order (or a
 * repeated key) is an error, never a silently wrong join.
 */
export async function* joinByKey<A extends { key: string }, B extends { key: string }>(
  as: AsyncIterable<A>,
  bs: AsyncIterable<B>,
  names: [string, string] = ["first", "second"],
): AsyncGenerator<Joined<A, B>> {
  const ia = as[Symbol.asyncIterator]();
  const ib = bs[Symbol.asyncIterator]();
  const ordered = (name: string) => {
    let last: string | undefined;
    return (x: { key: string } | undefined) => {
      if (x && last !== undefined && compareKeys(last, x.key) >= 0) {
        throw new Error(`${name} is not in key order: ${JSON.stringify(x.key)} after ${JSON.stringify(last)}`);
      }
      if (x) last = x.key;
      return x;
    };
  };
  const checkA = ordered(names[0]);
  const checkB = ordered(names[1]);
  const next = async <T extends { key: string }>(it: AsyncIterator<T>, check: (x: T | undefined) => unknown): Promise<T | undefined> => {
    const r = await it.next();
    const v = r.done ? undefined : r.value;
    check(v);
    return v;
  };
  let a = await next(ia, checkA);
  let b = await next(ib, checkB);
  while (a || b) {
    const c = !a ? 1 : !b ? -1 : compareKeys(a.key, b.key);
    if (c < 0) {
      yield { key: a!.key, a };
      a = await next(ia, checkA);
    } else if (c > 0) {
      yield { key: b!.key, b };
      b = await next(ib, checkB);
    } else {
      yield { key: a!.key, a, b };
      a = await next(ia, checkA);
      b = await next(ib, checkB);
    }
  }
}

/** What a restore does with one key of the target. */
export type RestoreAction = "create" | "overwrite" | "delete" | "unchanged";

/** The target bucket's object at a key (key relative to the target prefix). */
export interface TargetObject {
  key: string;
  size: number;
  etag: string;
}

/**
 * A key in the snapshot (`want`) and/or in the target (`have`): created when the target lacks it,
 * left alone when the target holds the same bytes (same ETag and size), overwritten otherwise;
 * a target key the snapshot lacks is deleted (only ever with --force: see restore).
 */
export function restoreAction(want: SnapshotEntry | undefined, have: TargetObject | undefined): RestoreAction {
  if (want && !have) return "create";
  if (!want) return "delete";
  return bareEtag(want.etag) === bareEtag(have!.etag) && want.size === have!.size ? "unchanged" : "overwrite";
}

/** Whether an app key (relative to the source prefix) is in a restore's selection. */
export function selected(key: string, sel: { prefix?: string; key?: string }): boolean {
  if (sel.key !== undefined) return key === sel.key;
  return sel.prefix === undefined || key.startsWith(sel.prefix);
}

/** A result at hand, or work to run in the pool. */
export type Job<R> = { value: R } | { run: () => Promise<R> };

/**
 * Turns each item into a result in input order (a snapshot manifest lists keys in order): results
 * at hand pass straight through, jobs run with at most `limit` at once, and `emit` gets every
 * result in the input order. At most `window` results wait for an earlier one, so memory is
 * bounded by `window`, not by the number of items.
 */
export async function orderedPool<T, R>(
  items: AsyncIterable<T>,
  limit: number,
  window: number,
  job: (t: T) => Job<R>,
  emit: (r: R) => void | Promise<void>,
): Promise<void> {
  const queue: Array<Promise<R>> = [];
  let running = 0;
  const slots: Array<() => void> = [];
  const acquire = async () => {
    while (running >= limit) await new Promise<void>((r) => slots.push(r));
    running++;
  };
  const release = () => {
    running--;
    slots.shift()?.();
  };
  let failure: unknown;
  try {
    for await (const t of items) {
      while (queue.length >= window) await emit(await queue.shift()!);
      const j = job(t);
      if ("run" in j) {
        await acquire();
        const p = j.run().finally(release);
        p.catch(() => undefined);
        queue.push(p);
      } else queue.push(Promise.resolve(j.value));
      while (queue.length && (await settledNow(queue[0]!))) await emit(await queue.shift()!);
    }
    while (queue.length) await emit(await queue.shift()!);
  } catch (e) {
    failure = e;
  }
  if (failure !== undefined) {
    // Let work already started settle before the caller cleans up (aborts the manifest upload).
    await Promise.allSettled(queue);
    throw failure;
  }
}

async function settledNow(p: Promise<unknown>): Promise<boolean> {
  const mark = Symbol();
  const r = await Promise.race([p.then(() => true, () => true), Promise.resolve(mark)]);
  return r === true;
}
