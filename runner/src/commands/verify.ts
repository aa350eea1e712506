import { randomBytes } from "node:crypto";
import { promises as fsp, createWriteStream } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { Logger } from "pino";
import { keyTimestamp, verificationPrefix } from "lifeboat-core";
import { CommonOpts, StoreOpts, checkName, makeAlerts, makeStore, output, workDir } from "../context";
import { EXIT_FAILED, EXIT_OK, UsageError, errorMessage } from "../errors";
import { identityProblem, download, Selected } from "../fetch";
import { BackupEntry, listBackups, listVerifications, parseAt, pickBackup, readManifest } from "../catalog";
import { BASEBACKUP_EXT, Manifest } from "../manifest";
import { baseVerifyTools, verifyBaseBackup } from "../pitr/verifyBase";
import { Verification } from "../manifest";
import { requireTools, run, startProc } from "../proc";
import { countRows, pgClient, pgEnv, pgTarget, quoteIdent } from "../sources/postgres";
import { withDatabase } from "../pgconn";
import { prepareRoles } from "../pgroles";
import { scrub } from "../redact";
import { extractArchive } from "../restoreDir";
import { compareCounts } from "./restore";
import { Store } from "../store";
import { Progress } from "../progress";
import { listSnapshots } from "../bucket/store";

export interface VerifyOpts extends StoreOpts, CommonOpts {
  name?: string;
  at?: string;
  key?: string;
  identity?: string;
  scratchUrl?: string;
  record: boolean;
}

const sink = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

export async function verifyCommand(o: VerifyOpts, log: Logger): Promise<number> {
  const name = checkName(o.name);
  const alerts = makeAlerts(o, log);
  const store = makeStore(o);
  // A bucket source: sample its snapshot's stored copies (bucket/verifyCommand.ts).
  const snapshots = await listSnapshots(store, name);
  if (snapshots.length) return (await import("../bucket/verifyCommand")).bucketVerifyCommand(o, store, name, snapshots, log);
  let entry: BackupEntry;
  try {
    entry = await pickForVerify(store, name, o.at, o.key);
  } catch (e) {
    // Nothing to verify (no backup, a listing that fails) is a failed verification too.
    if (!(e instanceof UsageError)) await alerts.failure(`Lifeboat: verification of ${name} FAILED: ${errorMessage(e)}`);
    throw e;
  }
  // From here on every finding, an unreadable manifest included, is recorded against the key.
  let m: Manifest | undefined;
  let unreadable: string | undefined;
  try {
    m = await readManifest(store, entry);
  } catch (e) {
    unreadable = errorMessage(e);
  }
  // An identity that cannot open the backup is the verifier's finding, not a usage error: a
  // backup nobody holding this key can decrypt must be recorded, alerted and shown by status.
  const cannotDecrypt = m && identityProblem(o.identity, m, entry.key);
  if (m && !cannotDecrypt) {
    if (m.kind === "pg-basebackup") requireTools(baseVerifyTools());
    if (m.kind === "postgres") {
      pgTarget(o.scratchUrl, "--scratch-url");
      requireTools([{ cmd: "pg_restore", why: "restores the dump into the scratch database" }]);
    }
    requireTools([
      { cmd: "age", why: "decrypts the backup" },
      { cmd: "zstd", why: "decompresses the backup" },
    ]);
  }
  const started = Date.now();
  const progress = new Progress(`verify ${name}`, log);
  const problems: string[] = [...entry.flags.map((f) => `${entry.key}: ${f}`), ...[unreadable, cannotDecrypt].filter((p): p is string => !!p)];
  let detail: Record<string, unknown> = {};
  if (m && !cannotDecrypt) {
    try {
      detail = await check(o, store, { entry, manifest: m }, problems, progress, log);
    } catch (e) {
      problems.push(errorMessage(e));
    }
  }
  progress.stop();
  const secs = (Date.now() - started) / 1000;
  const ok = problems.length === 0;
  const record: Verification = {
    version: 1,
    key: entry.key,
    source: name,
    ok,
    checkedAt: new Date().toISOString(),
    durationSeconds: secs,
    problems,
  };
  if (o.record) {
    const vkey = verificationPrefix(store.prefix, name) + `${keyTimestamp(new Date())}-${randomBytes(6).toString("hex")}.json`;
    await store.putSmall(vkey, JSON.stringify(record, null, 2) + "\n").catch((e) => {
      log.warn(`could not record the verification result: ${errorMessage(e)}`);
    });
  }
  const report = [
    `verify ${ok ? "ok" : "FAILED"}: ${entry.key}`,
    `  ${m ? `${m.kind}, taken ${m.startedAt}` : "manifest unreadable"}, checked in ${secs.toFixed(1)}s (restore time, RTO drill)`,
    ...Object.entries(detail).map(([k, v]) => `  ${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`),
    ...problems.map((p) => `  PROBLEM: ${p}`),
  ].join("\n");
  if (ok) {
    log.info({ key: entry.key, seconds: secs }, `verification of ${entry.key} passed`);
    await alerts.ping("success");
  } else {
    log.error({ key: entry.key, problems }, `verification of ${entry.key} failed`);
    await alerts.failure(`Lifeboat: verification of ${name} backup ${entry.key} FAILED: ${problems.join("; ")}`);
  }
  output(o, { ...record, ...detail }, report);
  return ok ? EXIT_OK : EXIT_FAILED;
}

/**
 * The backup to verify: `--key`, or the newest at or before `--at` (only those with a passing
 * record for `latest-verified`). A point-in-time source (one with base backups) is verified
 * through its base backups: its WAL objects under wal/ are never candidates, and pg_dump
 * backups it may hold from before PITR was enabled are not what a restore starts from.
 */
export async function pickForVerify(store: Store, name: string, at: string | undefined, key: string | undefined): Promise<BackupEntry> {
  const when = parseAt(at);
  let entries = await listBackups(store, name);
  if (!key && entries.some((e) => e.parts.ext === BASEBACKUP_EXT)) entries = entries.filter((e) => e.parts.ext === BASEBACKUP_EXT);
  if (when === "latest-verified" && !key) {
    const verified = await listVerifications(store, name);
    entries = entries.filter((e) => verified.get(e.key)?.ok === true);
  }
  return pickBackup(entries, name, when, key);
}

async function check(o: VerifyOpts, store: Store, sel: Selected, problems: string[], progress: Progress, log: Logger): Promise<Record<string, unknown>> {
  const m = sel.manifest;
  if (sel.entry.size !== m.storedBytes) {
    problems.push(`${sel.entry.key}: listed size ${sel.entry.size} bytes, manifest says ${m.storedBytes} (truncated or replaced)`);
  }
  const dl = await download(store, sel, o.identity!, (n) => progress.update(n));
  const rawCheck = () => {
    if (dl.rawBytes() !== m.rawBytes) problems.push(`${sel.entry.key}: decompressed to ${dl.rawBytes()} bytes, manifest says ${m.rawBytes}`);
  };
  if (m.kind === "postgres") return verifyPostgres(o, sel, dl, problems, rawCheck, log);
  if (m.kind === "pg-basebackup") return verifyBaseBackup(sel, dl, workDir(o), problems, rawCheck, log);
  if (m.kind === "volume" || m.kind === "directory") return verifyArchive(o, sel, dl, problems, rawCheck);
  if (m.kind === "redis") {
    let head = Buffer.alloc(0);
    dl.out.on("data", (c: Buffer) => {
      if (head.length < 9) head = Buffer.concat([head, c]).subarray(0, 9);
    });
    await Promise.all([pipeline(dl.out, sink()), dl.done]);
    rawCheck();
    if (!head.toString("latin1").startsWith("REDIS")) problems.push(`${sel.entry.key}: not a Redis RDB file (bad header)`);
    return { rdbVersion: head.toString("latin1").slice(5) };
  }
  // sqlite: decode into the work directory and run PRAGMA integrity_check.
  requireTools([{ cmd: "sqlite3", why: "checks the restored SQLite database" }]);
  const dir = await fsp.mkdtemp(join(workDir(o), "lifeboat-verify-"));
  try {
    const file = join(dir, "check.sqlite");
    await Promise.all([pipeline(dl.out, createWriteStream(file, { mode: 0o600 })), dl.done]);
    rawCheck();
    const r = (await run("sqlite3", "sqlite3", [file, "PRAGMA integrity_check;"])).trim();
    if (r !== "ok") problems.push(`${sel.entry.key}: SQLite integrity_check: ${r.slice(0, 500)}`);
    return { integrity: r.slice(0, 100) };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Extracts the archive into a scratch directory under --work-dir exactly as `restore` does (the
 * same guard and tar flags), so an archive restore would refuse (`..` members, symlink tricks,
 * device nodes, data after the end marker) fails verification too.
 */
async function verifyArchive(o: VerifyOpts, sel: Selected, dl: Awaited<ReturnType<typeof download>>, problems: string[], rawCheck: () => void): Promise<Record<string, unknown>> {
  requireTools([{ cmd: "tar", why: "extracts the archive into a scratch directory" }]);
  const dir = await fsp.mkdtemp(join(workDir(o), "lifeboat-verify-"));
  try {
    const { stats: got } = await extractArchive(dl.out, dl.done, dir, false).catch((e) => {
      dl.kill();
      throw e;
    });
    rawCheck();
    const want = sel.manifest.archive;
    if (want && (want.files !== got.files || want.fileBytes !== got.fileBytes || want.entries !== got.entries)) {
      problems.push(`${sel.entry.key}: archive holds ${got.files} files / ${got.fileBytes} bytes / ${got.entries} entries, manifest says ${want.files} / ${want.fileBytes} / ${want.entries}`);
    }
    return { files: got.files, bytes: got.fileBytes };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function verifyPostgres(
  o: VerifyOpts,
  sel: Selected,
  dl: Awaited<ReturnType<typeof download>>,
  problems: string[],
  rawCheck: () => void,
  log: Logger,
): Promise<Record<string, unknown>> {
  const admin = pgTarget(o.scratchUrl, "--scratch-url");
  const dbName = `lifeboat_verify_${randomBytes(5).toString("hex")}`;
  const scratch = withDatabase(admin, dbName);
  const scrubber = (s: string) => scrub(s, [admin.password]);
  const c = pgClient(admin);
  c.on("error", () => undefined);
  try {
    await c.connect();
  } catch (e) {
    dl.kill();
    throw new UsageError(`--scratch-url: cannot connect to ${admin.display}: ${scrubber(errorMessage(e))}`);
  }
  let created: string[] = [];
  try {
    // As restore does: the recorded roles the scratch cluster lacks are created (and dropped
    // again below), and owners and grants restored, so a dump whose grants name a role nobody
    // recorded fails here as it would on a new server.
    const roles = await prepareRoles(c, sel.manifest.postgres?.roles ?? [], true);
    created = roles.created;
    for (const n of roles.notes) log.info(n);
    await c.query(`CREATE DATABASE ${quoteIdent(dbName)}`);
    log.info({ database: dbName }, `created scratch database ${dbName}`);
    const restore = startProc(
      "pg_restore",
      "pg_restore",
      [...(roles.restoreOwners ? [] : ["--no-owner"]), "--exit-on-error", "--no-password", `--dbname=${scratch.url}`],
      { env: pgEnv(scratch), scrubber },
    );
    await Promise.all([pipeline(dl.out, restore.child.stdin!), dl.done, restore.done]).catch((e) => {
      dl.kill();
      restore.kill();
      throw e;
    });
    rawCheck();
    const sc = pgClient(scratch);
    sc.on("error", () => undefined);
    await sc.connect();
    let counts;
    try {
      counts = await countRows(sc);
    } finally {
      await sc.end().catch(() => undefined);
    }
    problems.push(...compareCounts(sel.manifest.postgres?.tables ?? [], counts).map((p) => `${sel.entry.key}: ${p}`));
    return { tables: counts.length, rows: counts.reduce((a, t) => a + t.rows, 0), scratchDatabase: dbName, rolesCreated: created };
  } finally {
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName)} WITH (FORCE)`).catch((e) => {
      log.warn(`could not drop scratch database ${dbName}: ${scrubber(errorMessage(e))}`);
    });
    // The roles verify created own nothing once the scratch database is gone.
    for (const r of created) {
      await c.query(`DROP ROLE IF EXISTS ${quoteIdent(r)}`).catch((e) => log.warn(`could not drop role ${r} created for verification: ${scrubber(errorMessage(e))}`));
    }
    await c.end().catch(() => undefined);
  }
}
