/**
 * The WAL side of a point-in-time source's health, for `status` and the status page: when the
 * newest WAL object in the bucket was captured (its key time, the recovery point it carries).
 * Whether the chain up to it is complete is for restore (pitr/restore.ts) to prove.
 */
import { SourceHealth } from "./health";
import { listWal } from "./pitr/wal";
import { Store } from "./store";

/** The capture time of the newest WAL object of `source`, or undefined when it streams none. */
export async function newestWal(store: Store, source: string): Promise<Date | undefined> {
  const wal = await listWal(store, source);
  return wal[wal.length - 1]?.time;
}

/** `h` with its WAL state (pure); unchanged without WAL. */
export function withWal(h: SourceHealth, newest: Date | undefined, now: number): SourceHealth {
  return newest ? { ...h, wal: { newestAt: newest.toISOString(), lagSeconds: (now - newest.getTime()) / 1000 } } : h;
}
