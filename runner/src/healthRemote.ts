/**
 * The health of each source as the bucket shows it, and the flags that judge it: `status`'s
 * evaluation, which `report` shows on its page. The decisions themselves are pure (health.ts);
 * this reads the listings, manifests, verification records and WAL they judge.
 */
import { parseDuration } from "lifeboat-core";
import { CommonOpts, StoreOpts, checkName, makeStore } from "./context";
import { BackupEntry, SourceListing, listSources, readManifest, verificationHistory } from "./catalog";
import { Manifest } from "./manifest";
import { UsageError } from "./errors";
import { Store } from "./store";
import { sourceWal } from "./pitr/walHealth";
import { bucketHealth } from "./bucket/report";
import { evaluateSource, HealthLimits, readNewest, SourceHealth, untrustedFindings } from "./health";

/** The flags that judge a source's health: `status`'s, and `report`'s (the page shows the same judgement). */
export interface HealthFlags extends StoreOpts, CommonOpts {
  name?: string;
  maxAge: string;
  minSize?: string;
  maxShrink: string;
  maxTableShrink: string;
  rto?: string;
}

function parseFraction(flag: string, text: string, example: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new UsageError(`${flag}: must be a fraction between 0 and 1 (${example}), got ${JSON.stringify(text)}`);
  return n;
}

function parseSize(text: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--min-size: must be a size such as 1048576, 512k or 1m, got ${JSON.stringify(text)}`);
  const mult: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };
  return Number(m[1]) * (mult[(m[2] ?? "b").toLowerCase()] ?? 1);
}

export function durationFlag(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/** The health limits the flags give (a usage error names a bad flag). */
export function healthLimits(o: HealthFlags): HealthLimits {
  if (o.name) checkName(o.name);
  return {
    maxAge: durationFlag("--max-age", o.maxAge),
    shrink: parseFraction("--max-shrink", o.maxShrink, "0.5 = alert when a backup is less than half the previous"),
    maxTableShrink: parseFraction("--max-table-shrink", o.maxTableShrink, "0.5 = alert when a table lost more than half its rows"),
    minSize: o.minSize !== undefined ? parseSize(o.minSize) : undefined,
    rtoSeconds: o.rto !== undefined ? durationFlag("--rto", o.rto) : undefined,
  };
}

/** A source's health and what it was judged from: report plots its backups without listing or reading them again. */
export interface RemoteSource {
  health: SourceHealth;
  listing?: SourceListing;
  /** Reads a backup's manifest, each once: the ones the judgement read come from memory. */
  manifest?: (e: BackupEntry) => Promise<Manifest>;
}

/** readManifest, each manifest read from the store once. */
function readOnce(store: Store): (e: BackupEntry) => Promise<Manifest> {
  const read = new Map<string, Promise<Manifest>>();
  return (e) => {
    let m = read.get(e.manifestKey);
    if (!m) read.set(e.manifestKey, (m = readManifest(store, e)));
    return m;
  };
}

export async function remoteHealth(o: HealthFlags, limits: HealthLimits, maxWalLag: number | undefined): Promise<RemoteSource[]> {
  const store = makeStore(o);
  const out: RemoteSource[] = [];
  const now = Date.now();
  for (const { source, listing, error } of await listSources(store, o.name, new Date(now))) {
    try {
      if (!listing) throw error;
      const manifest = readOnce(store);
      const health = await sourceHealth(store, listing, manifest, limits, now);
      out.push({ health: withWal(health, await sourceWal(store, source, listing.backups, listing.wal, now, maxWalLag, manifest)), listing, manifest });
    } catch (e) {
      // One source the store cannot answer for (a listing error, say) is reported, not fatal for the rest.
      out.push({ health: { source, healthy: false, problems: [`cannot evaluate: ${(e as Error).message}`] } });
    }
  }
  return out;
}

/** A PITR source's health includes its WAL: the report shown, its problems counted. */
function withWal(h: SourceHealth, wal: Awaited<ReturnType<typeof sourceWal>>): SourceHealth {
  if (!wal) return h;
  const problems = [...h.problems, ...wal.problems];
  return { ...h, healthy: problems.length === 0, problems, wal: wal.report };
}

async function sourceHealth(
  store: Store,
  { source, backups, snapshots }: SourceListing,
  manifest: (e: BackupEntry) => Promise<Manifest>,
  limits: HealthLimits,
  now: number,
): Promise<SourceHealth> {
  const history = await verificationHistory(store, source);
  if (snapshots.length) return bucketHealth(store, source, snapshots, new Map(history.map((v) => [v.key, v])), limits, now);
  const trusted = backups.filter((b) => b.flags.length === 0);
  const untrusted = untrustedFindings(backups, trusted[trusted.length - 1], limits.maxAge, now);
  if (!trusted.length) return { source, healthy: false, problems: [...untrusted.problems, backups.length ? "no backup whose time the store confirms" : "no backups found"] };
  const { newest, previous, problems } = await readNewest(trusted, manifest);
  const earlier = { problems: [...untrusted.problems, ...problems], warnings: untrusted.warnings };
  if (!newest) return { source, healthy: false, problems: [...earlier.problems, "no backup with a readable manifest"] };
  return evaluateSource(source, newest, previous, new Map(history.map((v) => [v.key, v])), limits, now, earlier, history);
}
