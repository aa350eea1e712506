/**
 * `verify` of a base backup (manifest kind `pg-basebackup`): after the download has checked the
 * stored bytes against the manifest's sha256 and decrypted/decompressed them, the tar is
 * unpacked into a private temp directory under the work dir and checked with
 * `pg_verifybackup`.
 *
 * PostgreSQL 13+ writes a `backup_manifest` (a checksum and size per file, the WAL range the
 * backup needs); with `-Ft -D -` pg_basebackup injects it into the tar on stdout. pg_verifybackup
 * compares every file of the unpacked data directory with it (missing, extra, wrong size, wrong
 * CRC-32C) and, with `--wal-method fetch`, parses the WAL in pg_wal/ from the backup's start to
 * its end point with pg_waldump, which is what makes the backup consistent on its own.
 *
 * Then the WAL chain in the bucket: every segment from the backup's start segment to the newest
 * WAL uploaded must be there (across timeline switches), else replay from this base stops at the
 * first missing one; that segment is reported. This is an integrity check of the base and of the
 * chain, not a restore: it measures no RTO (a restore drill does).
 *
 * Why not start a throwaway server on it: the runner image carries the PostgreSQL client tools
 * only (pg_verifybackup and pg_waldump are among them), a server must match the backup's major
 * version exactly, and the backup's postgresql.conf is the source's (archive_command,
 * shared_preload_libraries, certificate paths) — a drill would depend on all of that and could
 * have side effects. pg_verifybackup reads files and nothing else, as any user, and its work is
 * bounded by the size of the backup.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { Logger } from "pino";
import { Download, Selected } from "../fetch";
import { RunError, errorMessage } from "../errors";
import { startProc } from "../proc";
import { pgTool } from "./pgtools";
import { parseLsn } from "./wal";
import { readWalFacts, walChain } from "./walHealth";
import { Store } from "../store";

/** The tools a base backup verification runs, for requireTools. */
export function baseVerifyTools(): Array<{ cmd: string; why: string }> {
  return [
    { cmd: "tar", why: "unpacks the base backup" },
    { cmd: pgTool("pg_verifybackup"), why: "checks the base backup against its backup_manifest" },
  ];
}

/** At most this many lines of pg_verifybackup's complaints become problems. */
const MAX_TOOL_PROBLEMS = 10;

interface BackupManifestFile {
  "PostgreSQL-Backup-Manifest-Version"?: number;
  Files?: Array<{ Path?: string; "Encoded-Path"?: string; Size?: number }>;
  "WAL-Ranges"?: Array<{ Timeline?: number; "Start-LSN"?: string; "End-LSN"?: string }>;
}

/**
 * Unpacks the decoded base backup into `workDir` and verifies it; appends what is wrong to
 * `problems` (each naming `sel.entry.key`) and returns what was checked. The temp directory is
 * removed whatever happens.
 */
export async function verifyBaseBackup(
  sel: Selected,
  dl: Download,
  workDir: string,
  problems: string[],
  rawCheck: () => void,
  log: Logger,
  store: Store,
): Promise<Record<string, unknown>> {
  const key = sel.entry.key;
  const m = sel.manifest;
  const dir = await fsp.mkdtemp(join(workDir, "lifeboat-verify-"));
  try {
    await fsp.chmod(dir, 0o700);
    const data = join(dir, "data");
    await fsp.mkdir(data, { mode: 0o700 });

    // 1. Unpack. A bad download (sha256, age, zstd) is reported as such, not as tar's complaint
    // about the garbage or the truncated stream it was fed: when tar gives up, the rest of the
    // object is still read (into nothing) so that its sha256 is checked all the same.
    const tar = startProc("tar", "tar", ["--extract", "--file=-", "--no-same-owner", "-C", data]);
    dl.out.pipe(tar.child.stdin!);
    tar.done.catch(() => {
      dl.out.unpipe();
      dl.out.resume();
    });
    dl.done.catch(() => tar.kill());
    const [downloaded, untarred] = await Promise.allSettled([dl.done, tar.done]);
    if (downloaded.status === "rejected") throw downloaded.reason;
    if (untarred.status === "rejected") throw new RunError(`${key}: the base backup does not unpack: ${errorMessage(untarred.reason)}`);
    rawCheck();

    // 2. backup_label: a pg_basebackup tar, starting where the manifest says.
    const label = await fsp.readFile(join(data, "backup_label"), "utf8").catch(() => undefined);
    if (label === undefined) {
      problems.push(`${key}: holds no backup_label: not a pg_basebackup tar`);
      return {};
    }
    const start = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)/.exec(label);
    const labelTli = /START TIMELINE: (\d+)/.exec(label)?.[1];
    const bb = m.basebackup;
    if (!start) problems.push(`${key}: backup_label names no start WAL location`);
    else if (bb && parseLsn(start[1]!) !== parseLsn(bb.startLsn)) {
      problems.push(`${key}: backup_label starts at ${start[1]}, the manifest says ${bb.startLsn} (not the backup the manifest describes)`);
    }
    if (bb && labelTli && Number(labelTli) !== bb.timeline) problems.push(`${key}: backup_label is on timeline ${labelTli}, the manifest says ${bb.timeline}`);

    // 3. backup_manifest and pg_verifybackup.
    const manifestPath = join(data, "backup_manifest");
    const text = await fsp.readFile(manifestPath, "utf8").catch(() => undefined);
    if (text === undefined) {
      problems.push(
        `${key}: holds no backup_manifest (taken with --no-manifest or from a server older than PostgreSQL 13), so its files cannot be checked; take base backups with lifeboat-runner basebackup from PostgreSQL 13 or newer`,
      );
      return { startWal: start?.[2] };
    }
    let bm: BackupManifestFile = {};
    try {
      bm = JSON.parse(text) as BackupManifestFile;
    } catch (e) {
      problems.push(`${key}: backup_manifest is not valid JSON: ${errorMessage(e)}`);
    }
    const files = bm.Files ?? [];
    const walRange = bm["WAL-Ranges"]?.[0];
    const parseWal = bb?.walMethod !== "none";
    // --exit-on-error: the first problem is enough to fail, and a badly damaged backup does not
    // produce pages of output; --quiet: nothing on success.
    const args = ["--quiet", "--exit-on-error", ...(parseWal ? [] : ["--no-parse-wal"]), data];
    const bin = pgTool("pg_verifybackup");
    log.info({ key, dir: data, files: files.length, parseWal }, `pg_verifybackup ${key}`);
    const pv = startProc("pg_verifybackup", bin, args, { stdinIgnore: true });
    const out: Buffer[] = [];
    pv.child.stdout!.on("data", (b: Buffer) => out.push(b));
    const verified = await pv.done.then(
      () => true,
      () => false,
    );
    if (!verified) {
      const lines = (pv.stderr.text() + Buffer.concat(out).toString("utf8"))
        .split("\n")
        .map((l) => l.replace(/^pg_verifybackup: (error: )?/, "").trim())
        .filter((l) => l && !/^(hint|detail): /i.test(l));
      const shown = lines.slice(0, MAX_TOOL_PROBLEMS);
      if (shown.length === 0) shown.push(`exited with code ${pv.child.exitCode ?? pv.child.signalCode}`);
      problems.push(...shown.map((l) => `${key}: pg_verifybackup: ${l}`));
    }
    const chain = start ? await checkWalChain(store, sel, start[2]!, problems) : undefined;
    return {
      verifiedWith: "pg_verifybackup",
      walChain: chain,
      files: files.length,
      fileBytes: files.reduce((a, f) => a + (f.Size ?? 0), 0),
      startWal: start?.[2],
      walRange: walRange ? `${walRange["Start-LSN"]}..${walRange["End-LSN"]} on timeline ${walRange.Timeline}` : undefined,
      wal: parseWal ? "parsed from start to end (inside the tar)" : "not parsed (wal-method none: replay needs wal-stream's WAL)",
    };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true }).catch((e) => log.warn(`could not remove ${dir}: ${errorMessage(e)}`));
  }
}

/**
 * Is the WAL in the bucket contiguous from `startFile` (this base's start segment) to the newest
 * WAL uploaded? Appends the first gap to `problems`; returns the chain in words for the report.
 */
async function checkWalChain(store: Store, sel: Selected, startFile: string, problems: string[]): Promise<string> {
  const key = sel.entry.key;
  const f = await readWalFacts(store, sel.manifest.source, sel.manifest);
  const chain = f.segSize ? walChain(f.objs, startFile, f.segSize) : { missing: 0, newestFile: undefined, gap: undefined };
  if (!chain.newestFile) {
    const text = `no WAL from ${startFile} on in the bucket: recovery from this base reaches only its end`;
    // A base taken with --wal-method none is not even consistent without wal-stream's WAL.
    if (sel.manifest.basebackup?.walMethod === "none") problems.push(`${key}: ${text}, and with --wal-method none it cannot be made consistent`);
    return text;
  }
  if (chain.gap) {
    problems.push(`${key}: WAL chain broken: ${chain.gap} is missing (first of ${chain.missing} missing segment(s) between ${startFile} and ${chain.newestFile}); replay from this base stops there`);
    return `${startFile} .. ${chain.newestFile}: first gap at ${chain.gap}`;
  }
  return `${startFile} .. ${chain.newestFile}: contiguous (${f.objs.length} WAL object(s))`;
}
