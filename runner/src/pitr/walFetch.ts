/**
 * WAL on demand for point-in-time recovery: `lifeboat-runner wal-fetch %f %p` as PostgreSQL's
 * `restore_command`.
 *
 * `restore` lists the WAL once, writes the index (file name → object) and what the fetcher needs
 * to reach the store (destination, S3 credentials, a copy of the age identity) into
 * `<data dir>/lifeboat_restore/` with mode 0600, and sets `restore_command` to this command. The
 * directory lives in the data directory because PostgreSQL runs the command as the server's OS
 * user, who owns the data directory (the restore steps chown it) and nothing else the restore
 * wrote; the end of recovery removes it (see restore.ts), so no credential outlives the restore.
 *
 * PostgreSQL's contract (restore_command, PostgreSQL 15 docs): exit 0 only when the file was
 * delivered; a nonzero exit means "not in the archive", a normal end of WAL; an exit status above
 * 125 aborts recovery. A file the index does not hold exits 1; a file it holds that cannot be
 * fetched, fails its sha256 or cannot be decrypted exits {@link FETCH_FATAL} after naming the
 * object on stderr (the server log): replaying past a damaged segment as if WAL ended there would
 * silently lose data.
 *
 * Prefetch: one detached prefetcher (`wal-fetch --prefetch`, started by the first segment
 * request) keeps the `prefetch` segments after the newest one replay took downloaded, verified
 * and decrypted in `cache/` (each under an exclusive claim, so the foreground never downloads a
 * file twice), and removes what replay left behind: the cache holds at most `prefetch` files.
 * The shell half of restore_command moves a cached file into place without starting node.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, promises as fsp } from "node:fs";
import { join } from "node:path";
import { Transform, TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { parseWalManifest, WalManifest } from "../manifest";
import { decode } from "../pipeline";
import { RunError, errorMessage } from "../errors";
import { Store } from "../store";
import { isHistoryName, isPartialName, isSegmentName, nextSegment, segmentPosition, timelineOf, WalObject } from "./wal";

/** restore_command's "fatal" exit: PostgreSQL aborts recovery on an exit status above 125. */
export const FETCH_FATAL = 255;
/** restore_command's "not in the archive": a normal end of WAL. */
export const FETCH_NOT_FOUND = 1;

/** The directory inside the restored data directory that holds the fetcher's config, identity and cache. */
export const RESTORE_FETCH_DIR = "lifeboat_restore";
export const FETCH_CONFIG = "fetch.json";
export const FETCH_IDENTITY = "identity.txt";
export const FETCH_CACHE = "cache";

/** Environment the fetcher needs to reach the store; copied from the restore's own environment. */
export const STORE_ENV = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE"] as const;

const ObjRef = z.object({ key: z.string(), manifestKey: z.string() });
export const FetchConfigSchema = z.object({
  version: z.literal(1),
  source: z.string(),
  store: z.object({
    dest: z.string().optional(),
    endpoint: z.string().optional(),
    region: z.string().optional(),
    localDir: z.string().optional(),
    maxAttempts: z.string(),
    timeout: z.string(),
    requestTimeout: z.string(),
  }),
  env: z.record(z.string(), z.string()),
  prefetch: z.number().int().min(0).max(64),
  segSize: z.number().int().positive().optional(),
  /** The name PostgreSQL asks for → the object to deliver as that name. */
  files: z.record(z.string(), ObjRef),
});
export type FetchConfig = z.infer<typeof FetchConfigSchema>;
export type PrefetchConfig = Pick<FetchConfig, "prefetch" | "segSize" | "files">;

/**
 * What each name PostgreSQL may ask for is served from, for a replay starting at `startFile`:
 * every history file (the newest copy of each), every completed segment at or after the start
 * position on the start timeline or a later one, and for a segment with no completed copy the
 * newest partial upload of it (the last segment of a timeline: the newest WAL there is).
 */
export function walIndex(objs: WalObject[], startFile: string): Map<string, WalObject> {
  const tli = timelineOf(startFile);
  const startPos = segmentPosition(startFile);
  const out = new Map<string, WalObject>();
  const partials = new Map<string, WalObject>();
  // objs are oldest first: a later copy of a name replaces an earlier one.
  for (const o of objs) {
    if (isHistoryName(o.file)) out.set(o.file, o);
    else if (isSegmentName(o.file)) {
      if (timelineOf(o.file) >= tli && segmentPosition(o.file) >= startPos && !out.has(o.file)) out.set(o.file, o);
    } else if (isPartialName(o.file)) {
      const seg = o.file.slice(0, 24);
      if (timelineOf(seg) >= tli && segmentPosition(seg) >= startPos) partials.set(seg, o);
    }
  }
  for (const [seg, o] of partials) if (!out.has(seg)) out.set(seg, o);
  return out;
}

/** The names to prefetch after `file` was asked for: the next `n` segments on its timeline that the index holds. */
export function prefetchNames(file: string, cfg: PrefetchConfig): string[] {
  if (!isSegmentName(file) || !cfg.segSize || cfg.prefetch === 0) return [];
  const out: string[] = [];
  let f = file;
  for (let i = 0; i < cfg.prefetch; i++) {
    f = nextSegment(f, cfg.segSize);
    if (!cfg.files[f]) break; // past the end of this timeline's WAL
    out.push(f);
  }
  return out;
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

/**
 * Downloads one WAL object into `out` (created, mode 0600), checking the stored bytes and the
 * decrypted WAL against its manifest; any failure names the object and leaves no `out` behind.
 */
export async function fetchWalObject(store: Store, o: { key: string; manifestKey: string }, identity: string, out: string): Promise<WalManifest> {
  try {
    const m = parseWalManifest(await store.getText(o.manifestKey), o.manifestKey);
    if (m.key !== o.key) throw new Error(`its manifest ${o.manifestKey} describes ${m.key}`);
    const dec = decode(await store.get(o.key), identity);
    const raw = new Sha256();
    try {
      await Promise.all([pipeline(dec.out, raw, createWriteStream(out, { mode: 0o600, flags: "wx" })), dec.done]);
    } catch (e) {
      dec.kill();
      await dec.hashed.catch(() => undefined);
      const bad = dec.hasher.bytes !== m.storedBytes || dec.hasher.digest() !== m.sha256;
      throw new Error(bad ? `stored bytes do not match the manifest's sha256 (corrupted; ${errorMessage(e)})` : errorMessage(e));
    }
    const problems: string[] = [];
    if (dec.hasher.bytes !== m.storedBytes || dec.hasher.digest() !== m.sha256) problems.push(`stored bytes do not match the manifest (sha256 ${dec.hasher.digest()}, ${dec.hasher.bytes} bytes)`);
    if (raw.bytes !== m.rawBytes || raw.hex() !== m.rawSha256) problems.push("decrypted WAL does not match the manifest's sha256");
    if (problems.length) throw new Error(problems.join("; "));
    return m;
  } catch (e) {
    await fsp.rm(out, { force: true });
    throw new RunError(`${o.key}: ${errorMessage(e)}`);
  }
}

export async function readFetchConfig(dir: string): Promise<FetchConfig> {
  const file = join(dir, FETCH_CONFIG);
  const r = FetchConfigSchema.safeParse(JSON.parse(await fsp.readFile(file, "utf8")));
  if (!r.success) throw new RunError(`${file} is invalid: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exists = (p: string) => fsp.stat(p).then(() => true, () => false);
/** A claim marker's owner is alive (a prefetcher killed mid-download leaves a stale claim). */
async function claimAlive(claim: string): Promise<boolean> {
  const pid = Number(await fsp.readFile(claim, "utf8").catch(() => ""));
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Moves a finished cache file to PostgreSQL's destination (same filesystem: a rename). */
async function deliver(from: string, to: string): Promise<void> {
  await fsp.rename(from, to).catch(async (e) => {
    if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
    await fsp.copyFile(from, to);
    await fsp.rm(from, { force: true });
  });
}

export interface FetchDeps {
  store: Store;
  /** Makes sure the prefetcher runs (a detached process in production). */
  ensurePrefetcher(): Promise<void>;
  log(line: string): void;
}

/** The file the prefetcher follows: the newest one fetched in the foreground. */
export const WANT_FILE = "want";
export const PREFETCH_PID = "prefetch.pid";

/**
 * The node side of restore_command (the shell side serves files already in the cache, see
 * {@link restoreCommandLine}): `file` into `dest`. Returns the exit status for PostgreSQL.
 */
export async function walFetch(dir: string, cfg: FetchConfig, file: string, dest: string, deps: FetchDeps): Promise<number> {
  const ref = cfg.files[file];
  if (!ref) return FETCH_NOT_FOUND; // not in the archive: the end of WAL on this timeline, or a history file that does not exist
  const cache = join(dir, FETCH_CACHE);
  const cached = join(cache, file);
  const claim = cached + ".claim";
  if (isSegmentName(file)) {
    await fsp.writeFile(join(dir, WANT_FILE), file, { mode: 0o600 });
    await deps.ensurePrefetcher();
  }
  // A prefetch of this very file may be under way: wait for it rather than download it twice.
  while (!(await exists(cached)) && (await exists(claim)) && (await claimAlive(claim))) await sleep(20);
  if (await deliver(cached, dest).then(() => true, () => false)) {
    deps.log(`lifeboat wal-fetch: ${file} from ${ref.key} (prefetched)`);
  } else {
    const tmp = `${cached}.fetch-${process.pid}`;
    await fetchWalObject(deps.store, ref, join(dir, FETCH_IDENTITY), tmp);
    await deliver(tmp, dest);
    deps.log(`lifeboat wal-fetch: ${file} from ${ref.key}`);
  }
  return 0;
}

/**
 * restore_command: a file the prefetcher already put in the cache is moved into place by the
 * shell (starting node for every segment would cost more than replaying it on a busy machine);
 * anything else goes to `wal-fetch`. A failed move is fatal, never "not found".
 */
export function restoreCommandLine(runner: string): string {
  const c = `${RESTORE_FETCH_DIR}/${FETCH_CACHE}/%f`;
  return `if [ -f "${c}" ]; then mv -f "${c}" "%p" || exit ${FETCH_FATAL}; echo "lifeboat wal-fetch: %f (prefetched)" >&2; else ${runner} wal-fetch --dir ${RESTORE_FETCH_DIR} "%f" "%p"; fi`;
}

export interface PrefetchTiming {
  concurrency: number;
  pollMs: number;
  /** Exit after this long with nothing consumed and nothing new asked for. */
  idleMs: number;
}

/**
 * The prefetcher: keeps the `prefetch` segments after the newest one replay took (from the cache,
 * or asked for in the foreground) downloaded and verified in the cache, each under an exclusive
 * claim. Segments behind replay are removed, so the cache stays bounded. A failed download is
 * left to the foreground call, which fetches the file itself and reports the error to
 * PostgreSQL; the end of recovery removing the directory ends it.
 */
export async function prefetchLoop(dir: string, cfg: FetchConfig, deps: Pick<FetchDeps, "store" | "log">, t: PrefetchTiming = { concurrency: 4, pollMs: 50, idleMs: 30_000 }): Promise<void> {
  const cache = join(dir, FETCH_CACHE);
  const readWant = () => fsp.readFile(join(dir, WANT_FILE), "utf8").then((s) => s.trim(), () => "");
  let pos = await readWant();
  let lastWant = pos;
  let progress = Date.now();
  const fetched = new Set<string>(); // in the cache because of this process
  const failed = new Set<string>();
  const inflight = new Set<string>();
  const later = (a: string, b: string) => a.slice(0, 8) === b.slice(0, 8) && segmentPosition(a) > segmentPosition(b);
  while (Date.now() - progress < t.idleMs && (await exists(cache))) {
    const want = await readWant();
    if (want && want !== lastWant) {
      lastWant = want;
      pos = want;
      progress = Date.now();
    }
    for (const f of fetched) {
      if (await exists(join(cache, f))) continue;
      fetched.delete(f); // replay took it
      if (!pos || later(f, pos)) pos = f;
      progress = Date.now();
    }
    const window = pos ? prefetchNames(pos, cfg) : [];
    for (const f of await fsp.readdir(cache).catch(() => [] as string[])) {
      // Never the file replay asks for now (the foreground may be moving it into place).
      if (isSegmentName(f) && f !== pos && !window.includes(f) && !inflight.has(f)) {
        await fsp.rm(join(cache, f), { force: true });
        fetched.delete(f);
      }
    }
    for (const n of window) {
      if (inflight.size >= t.concurrency) break;
      if (inflight.has(n) || fetched.has(n) || failed.has(n) || (await exists(join(cache, n)))) continue;
      const claim = join(cache, n + ".claim");
      try {
        await fsp.writeFile(claim, String(process.pid), { flag: "wx", mode: 0o600 });
      } catch {
        continue; // the foreground has it
      }
      inflight.add(n);
      const tmp = join(cache, `${n}.fetch-${process.pid}`);
      void fetchWalObject(deps.store, cfg.files[n]!, join(dir, FETCH_IDENTITY), tmp)
        .then(() => fsp.rename(tmp, join(cache, n)))
        .then(
          () => fetched.add(n),
          (e) => {
            failed.add(n);
            deps.log(`lifeboat wal-fetch: prefetch of ${n} failed (PostgreSQL's own request will fetch it and report): ${errorMessage(e)}`);
            return fsp.rm(tmp, { force: true });
          },
        )
        .finally(() => {
          inflight.delete(n);
          return fsp.rm(claim, { force: true });
        });
    }
    await sleep(t.pollMs);
  }
  while (inflight.size) await sleep(t.pollMs);
}

/** Starts the prefetcher (`wal-fetch --dir DIR --prefetch`, detached) unless one is running. */
export async function ensurePrefetcher(dir: string): Promise<void> {
  const pidFile = join(dir, PREFETCH_PID);
  if (await claimAlive(pidFile)) return;
  const child = spawn(process.execPath, [process.argv[1]!, "wal-fetch", "--dir", dir, "--prefetch"], { detached: true, stdio: ["ignore", "ignore", "inherit"] });
  child.on("error", () => undefined);
  if (child.pid) await fsp.writeFile(pidFile, String(child.pid), { mode: 0o600 });
  child.unref();
}
