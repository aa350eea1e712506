/**
 * Restoring a volume/directory archive without ever making things worse: extraction through
 * the {@link TarCounter} guard, staging on the target's own filesystem, and a swap that removes
 * nothing (what was in the target is kept aside under a printed name).
 */
import { promises as fsp } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { keyTimestamp } from "lifeboat-core";
import { startProc } from "./proc";
import { UsageError, RunError, errorMessage } from "./errors";
import { TarCounter, TarStats } from "./tarstats";

export interface Extracted {
  stats: TarStats;
  /** Members whose setuid/setgid bits were cleared (empty with allowSpecial). */
  stripped: string[];
}

/**
 * Writes into tar's stdin. tar exits once it read the end-of-archive marker, possibly before
 * the guard's last write reached it: a write that then fails (EPIPE) is not an error, because
 * the guard saw the marker pass and tar's own exit status says whether it extracted everything.
 */
class TarStdin extends Writable {
  private gone = false;
  constructor(
    private readonly stdin: Writable,
    private readonly archiveEnded: () => boolean,
  ) {
    super();
  }
  private settle(e: Error | null | undefined, cb: (e?: Error | null) => void): void {
    if (!e) return cb();
    if (this.archiveEnded()) {
      this.gone = true;
      return cb();
    }
    cb(e);
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.gone) return cb();
    this.stdin.write(chunk, (e) => this.settle(e, cb));
  }
  override _final(cb: (e?: Error | null) => void): void {
    if (this.gone) return cb();
    this.stdin.end(() => cb());
  }
}

/**
 * Extracts a tar stream into `dir` as GNU tar restores it for root: owners (numeric), modes,
 * sparse files, xattrs and ACLs. Without `allowSpecial`, device nodes/FIFOs fail the stream
 * before tar sees them, setuid/setgid bits are cleared, and file capabilities (the xattr that
 * grants privileges like setuid does) are not restored. `done` of the input is awaited too.
 */
export async function extractArchive(input: Readable, done: Promise<void>, dir: string, allowSpecial: boolean, members: string[] = []): Promise<Extracted> {
  const counter = new TarCounter({ allowSpecial });
  const args = ["--extract", "--file=-", "--numeric-owner", "--preserve-permissions", "--xattrs", "--xattrs-include=*", "--acls"];
  if (!allowSpecial) args.push("--xattrs-exclude=security.capability");
  // The guard reads the whole stream either way (sha256 and manifest counts cover the archive);
  // tar extracts only the members the patterns name, and exits 2 naming a pattern that matched nothing.
  if (members.length) args.push("--wildcards");
  const tar = startProc("tar", "tar", [...args, "-C", dir, ...(members.length ? ["--", ...members] : [])]);
  try {
    await Promise.all([pipeline(input, counter, new TarStdin(tar.child.stdin!, () => counter.ended)), done, tar.done]);
  } catch (e) {
    // tar stopping early breaks the pipe: its own exit status and diagnostics say why.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EPIPE" || code === "ERR_STREAM_DESTROYED") await tar.done;
    tar.kill();
    throw e;
  }
  return { stats: counter.stats, stripped: counter.stripped };
}

/**
 * `restore --path` patterns as tar member patterns: relative to the archive root (a leading
 * `/` or `./` is dropped, members are named `./REL`), shell wildcards, a directory selecting
 * everything under it. Throws a usage error naming the flag for an empty or `..` pattern.
 */
export function memberPatterns(paths: string[]): string[] {
  return paths.map((p) => {
    const rel = p.replace(/^(\.?\/)+/, "").replace(/\/+$/, "");
    if (!rel) throw new UsageError(`--path ${JSON.stringify(p)}: names the whole archive; leave --path out to restore everything`);
    if (rel.split("/").includes("..")) throw new UsageError(`--path ${JSON.stringify(p)}: must not contain '..' (patterns are relative to the archive root)`);
    return `./${rel}`;
  });
}

/** Regular files under `dir`: what a selective restore brought back. */
export async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) n += await countFiles(join(dir, e.name));
    else if (e.isFile()) n++;
  }
  return n;
}

/** True when `dir` (an existing directory) is a mount point: a filesystem's root or a bind mount. */
export async function isMountPoint(dir: string): Promise<boolean> {
  const real = await fsp.realpath(dir);
  const [st, up] = await Promise.all([fsp.stat(real), fsp.stat(join(real, ".."))]);
  if (st.dev !== up.dev || st.ino === up.ino) return true;
  // A bind mount of a directory on the same filesystem keeps st_dev: look it up in the mount table.
  const table = await fsp.readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return table.split("\n").some((l) => l.split(" ")[4] !== undefined && unescape(l.split(" ")[4]!) === real);
}

/** Where a restore of `target` stages and what it finds there; nothing is created yet. */
export interface DirPlan {
  target: string;
  /** The target is a mount point: staging and kept-aside copy live inside it (same filesystem). */
  mountPoint: boolean;
  /** What the target holds now (at a mount point, an empty `lost+found` does not count). */
  existing: string[];
  staging: string;
  /** Where the current contents go, when there are any. */
  aside: string;
}

/** Where `--force` keeps what a restore replaces: beside it, stamped with the UTC time. */
export function keptAsideName(path: string, now = new Date()): string {
  return `${path}.before-restore-${keyTimestamp(now)}`;
}

/** A fresh filesystem's `lost+found`: not data, and present on every freshly made ext4 disk. */
const LOST_FOUND = "lost+found";

async function isEmptyDir(p: string): Promise<boolean> {
  return (await fsp.readdir(p).catch(() => ["?"])).length === 0;
}

/**
 * Checks the target before anything is downloaded: a non-empty target needs `force`, and even
 * then nothing in it is removed, only moved aside.
 */
export async function planDirRestore(targetDir: string, force: boolean, now = new Date()): Promise<DirPlan> {
  const st = await fsp.stat(targetDir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  // A symlink to a directory: the directory it names is what gets restored (and kept aside).
  const target = st ? await fsp.realpath(targetDir) : resolve(targetDir);
  if (st && !st.isDirectory()) throw new UsageError(`--target-dir: ${target} exists and is not a directory`);
  const mountPoint = !!st && (await isMountPoint(target));
  let existing = st ? await fsp.readdir(target) : [];
  if (mountPoint && existing.includes(LOST_FOUND) && (await isEmptyDir(join(target, LOST_FOUND)))) existing = existing.filter((e) => e !== LOST_FOUND);
  const rand = randomBytes(4).toString("hex");
  const plan: DirPlan = mountPoint
    ? { target, mountPoint, existing, staging: join(target, `.lifeboat-restore-${rand}`), aside: join(target, keptAsideName("", now)) } // TARGET/.before-restore-TIME
    : { target, mountPoint, existing, staging: join(dirname(target), `.${basename(target)}.lifeboat-restore-${rand}`), aside: keptAsideName(target, now) };
  if (existing.length && !force) {
    throw new UsageError(
      `--target-dir ${target} is not empty; restore into an empty or new directory, or add --force (its current contents are then moved to ${plan.aside}, nothing is deleted)`,
    );
  }
  return plan;
}

/**
 * Runs `extract` into a staging directory on the target's filesystem, then swaps it in: the
 * target is touched only after `extract` resolved (the archive complete and checked). Returns
 * where the previous contents went, if anywhere.
 */
export async function restoreIntoDir(plan: DirPlan, extract: (staging: string) => Promise<void>): Promise<{ keptAside?: string }> {
  if (!plan.mountPoint) await fsp.mkdir(dirname(plan.target), { recursive: true });
  await fsp.mkdir(plan.staging, { mode: 0o700 });
  let swapped = false;
  try {
    await extract(plan.staging);
    swapped = true;
    return plan.mountPoint ? await swapIntoMount(plan) : await swapDir(plan);
  } catch (e) {
    // A failure mid-swap leaves the staged copy where it is (named), never deleted half-moved.
    if (swapped) throw new RunError(`${errorMessage(e)} (the restored copy is in ${plan.staging}${plan.existing.length ? `, the previous contents in ${plan.aside}` : ""})`);
    throw e;
  } finally {
    if (!swapped) await fsp.rm(plan.staging, { recursive: true, force: true });
  }
}

/** Not a mount point: the staged directory (owner and mode set by tar from the archive's root) replaces the target by rename. */
async function swapDir(plan: DirPlan): Promise<{ keptAside?: string }> {
  const exists = await fsp.stat(plan.target).then(() => true, () => false);
  // rename(2) replaces an empty directory; a non-empty one is renamed aside first.
  if (exists && plan.existing.length) await fsp.rename(plan.target, plan.aside);
  try {
    await fsp.rename(plan.staging, plan.target);
  } catch (e) {
    if (plan.existing.length) await fsp.rename(plan.aside, plan.target);
    throw e;
  }
  return plan.existing.length ? { keptAside: plan.aside } : {};
}

/**
 * A mount point cannot be renamed: its entries are moved aside into a directory inside it, the
 * staged entries moved in, and the archive root's owner, mode and times applied to the target.
 */
async function swapIntoMount(plan: DirPlan): Promise<{ keptAside?: string }> {
  const staged = await fsp.readdir(plan.staging);
  // Listed again now, not at planning time: a rename onto a file written during the download
  // would replace it silently. Whatever is there goes aside (an empty lost+found stays).
  const present: string[] = [];
  for (const e of await fsp.readdir(plan.target)) {
    if (join(plan.target, e) === plan.staging) continue;
    if (e === LOST_FOUND && (await isEmptyDir(join(plan.target, e)))) continue;
    present.push(e);
  }
  if (present.length) {
    await fsp.mkdir(plan.aside, { mode: 0o700 });
    for (const e of present) await fsp.rename(join(plan.target, e), join(plan.aside, e));
  }
  // An empty lost+found the archive also holds: removing it loses nothing.
  if (staged.includes(LOST_FOUND) && !present.includes(LOST_FOUND)) await fsp.rmdir(join(plan.target, LOST_FOUND)).catch(() => undefined);
  for (const e of staged) await fsp.rename(join(plan.staging, e), join(plan.target, e));
  const root = await fsp.stat(plan.staging);
  // Not root: tar could not give anything away either, and everything is ours already.
  if (process.getuid?.() === 0) await fsp.chown(plan.target, root.uid, root.gid);
  await fsp.chmod(plan.target, root.mode & 0o7777);
  await fsp.utimes(plan.target, root.atime, root.mtime);
  await fsp.rmdir(plan.staging);
  return present.length ? { keptAside: plan.aside } : {};
}
