import { Logger } from "pino";
import { listSources, listVerifications } from "../catalog";
import { CommonOpts, StoreOpts, checkName, makeStore, output } from "../context";
import { EXIT_OK } from "../errors";
import { formatBytes } from "../progress";
import { sourceWal, walLine, WalReport } from "../pitr/walHealth";
import { bucketListLine, bucketListRows, snapshotRow } from "../bucket/report";

export interface ListOpts extends StoreOpts, CommonOpts {
  name?: string;
}

export interface ListedBackup {
  source: string;
  key: string;
  tier: string;
  /** The key's time (chosen by the writer). */
  time: string;
  /** When the store received the manifest (set by the store): the order of the list. */
  storedAt: string;
  storedBytes: number;
  /** Why the key's time cannot be trusted; such a backup is never chosen as latest. */
  flags: string[];
  verified: "ok" | "failed" | "no";
  /** A bucket source's snapshot: objects and bytes in it, changes since the one before. */
  bucket?: ReturnType<typeof snapshotRow>["bucket"];
}

export interface ListedWal extends WalReport {
  source: string;
  problems: string[];
}

export async function listAll(o: ListOpts, wal: ListedWal[] = []): Promise<ListedBackup[]> {
  const only = o.name ? checkName(o.name) : undefined;
  const store = makeStore(o);
  const rows: ListedBackup[] = [];
  for (const { source: name, listing, error } of await listSources(store, only)) {
    if (!listing) throw error;
    const verifications = await listVerifications(store, name);
    // A bucket source: its snapshots.
    if (listing.snapshots.length) {
      rows.push(...(await bucketListRows(store, listing.snapshots, verifications)));
      continue;
    }
    const backups = listing.backups;
    const w = await sourceWal(store, name, backups, listing.wal, Date.now());
    if (w) wal.push({ source: name, ...w.report, problems: w.problems });
    for (const b of backups) {
      const v = verifications.get(b.key);
      rows.push({
        source: name,
        key: b.key,
        tier: b.parts.tier,
        time: b.parts.time.toISOString(),
        storedAt: b.storedAt.toISOString(),
        storedBytes: b.size,
        flags: b.flags,
        verified: v ? (v.ok ? "ok" : "failed") : "no",
      });
    }
  }
  return rows;
}

export async function listCommand(o: ListOpts, _log: Logger): Promise<number> {
  const wal: ListedWal[] = [];
  const rows = await listAll(o, wal);
  const lines = rows.map(
    (r) =>
      r.bucket ? bucketListLine(r as ReturnType<typeof snapshotRow>) : `${r.source.padEnd(16)} ${r.tier.padEnd(8)} ${r.time}  ${formatBytes(r.storedBytes).padStart(10)}  verified:${r.verified.padEnd(6)} ${r.key}` +
      r.flags.map((f) => `\n  UNTRUSTED: ${f}`).join(""),
  );
  // Per PITR source, its WAL (newest, lag, sidecar, gap) and what is wrong with it.
  for (const w of wal) lines.push(`${w.source.padEnd(16)} ${walLine(w)}` + w.problems.map((p) => `\n  PROBLEM: ${p}`).join(""));
  output(o, { backups: rows, wal }, rows.length ? lines.join("\n") : "no backups found (a backup counts once its manifest is written)");
  return EXIT_OK;
}
