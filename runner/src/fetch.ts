import { Readable } from "node:stream";
import { BackupEntry, UnreadableManifest, listBackups, listVerifications, parseAt, pickBackup, readManifest } from "./catalog";
import { Manifest } from "./manifest";
import { Store } from "./store";
import { identityRecipients, recipientFingerprint } from "./age";
import { RunError, UsageError, errorMessage } from "./errors";
import { ByteCounter, Hasher, decode, decodeToFile } from "./pipeline";
import { Proc } from "./proc";

export interface Selected {
  entry: BackupEntry;
  manifest: Manifest;
}

/**
 * Finds the backup to restore: `--key`, or the newest at or before `--at`. A newer backup whose
 * manifest cannot be trusted (not JSON, not a manifest, about another object) is skipped for the
 * one before it, and `skipped` names each such manifest and what is wrong with it: one damaged
 * object must not stand between a restore and the previous good backup. `--key` never falls back.
 * A manifest that cannot be fetched at all (the store failing) is not skipped: that is an error.
 */
export async function selectBackup(
  store: Store,
  name: string,
  at: string | undefined,
  key: string | undefined,
): Promise<Selected & { skipped: string[] }> {
  const when = parseAt(at);
  let entries = await listBackups(store, name);
  if (when === "latest-verified" && !key) {
    const verified = await listVerifications(store, name);
    entries = entries.filter((e) => verified.get(e.key)?.ok === true);
  }
  const skipped: string[] = [];
  for (;;) {
    let entry: BackupEntry;
    try {
      entry = pickBackup(entries, name, when, key);
    } catch (e) {
      if (!skipped.length) throw e;
      throw new RunError(`${errorMessage(e)}; skipped ${skipped.length} backup(s) with an unreadable manifest: ${skipped.join("; ")}`);
    }
    try {
      return { entry, manifest: await readManifest(store, entry), skipped };
    } catch (e) {
      if (key || !(e instanceof UnreadableManifest)) throw e;
      skipped.push(e.message);
      entries = entries.filter((x) => x !== entry);
    }
  }
}

/**
 * Why `identity` cannot decrypt the backup, or undefined when it holds a private key for one of
 * the backup's recipients. A missing or unreadable identity file is a UsageError (the flag is wrong).
 */
export function identityProblem(identity: string | undefined, manifest: Manifest, key: string): string | undefined {
  const mine = identityRecipients(identity).map(recipientFingerprint);
  const theirs = manifest.encryption.recipientFingerprints;
  if (mine.some((f) => theirs.includes(f))) return undefined;
  return `--identity ${identity} cannot decrypt ${key}: it was encrypted to recipient fingerprint(s) ${theirs.join(", ")}, and this identity's public key has fingerprint ${mine.join(", ")}`;
}

/** {@link identityProblem} before a restore downloads anything: a UsageError that says what is wrong. */
export function checkIdentity(identity: string | undefined, manifest: Manifest, key: string): void {
  const problem = identityProblem(identity, manifest, key);
  if (problem) throw new UsageError(problem);
}

export interface Download {
  /** Decrypted, decompressed bytes. */
  out: Readable;
  /** Resolves once every byte was read, decrypted and decompressed, and the sha256 and sizes match the manifest. */
  done: Promise<void>;
  /** Resolves once the last stored byte was downloaded and handed to age (for drill stage times). */
  downloaded: Promise<void>;
  procs: Proc[];
  kill(): void;
  rawBytes(): number;
}

/** Downloads a backup and decodes it on the fly, checking the stored bytes against the manifest. */
export async function download(store: Store, sel: Selected, identity: string, onRawBytes?: (n: number) => void): Promise<Download> {
  const body = await store.get(sel.entry.key);
  const dec = decode(body, identity);
  // A counting transform, not a 'data' listener: the consumer may attach later without losing bytes.
  const counter = new ByteCounter(onRawBytes);
  // The failure is reported through `done`; a consumer that only pipes `out` (pg_verifybackup's
  // tar) adds no 'error' listener, and without this one age rejecting a corrupted chunk crashed
  // the process with an uncaught RunError instead of a recorded, alerted verify failure.
  counter.on("error", () => undefined);
  dec.out.on("error", (e) => counter.destroy(e));
  dec.out.pipe(counter);
  const done = checked(sel, dec);
  return { out: counter, done, downloaded: dec.hashed, procs: dec.procs, kill: dec.kill, rawBytes: () => counter.bytes };
}

/**
 * Downloads a backup and lets zstd write the decoded bytes to `file` (which must not exist): the
 * decoded bytes never pass through node. `done` resolves once every stored byte was read, decrypted
 * and decompressed and the sha256 and size match the manifest; until then the file is not to be
 * trusted. Progress counts stored bytes.
 */
export async function downloadToFile(
  store: Store,
  sel: Selected,
  identity: string,
  file: string,
  onStoredBytes?: (n: number) => void,
): Promise<{ done: Promise<void>; procs: Proc[]; kill(): void }> {
  const body = await store.get(sel.entry.key);
  const dec = decodeToFile(body, identity, file);
  if (onStoredBytes) {
    let n = 0;
    body.on("data", (c: Buffer) => onStoredBytes((n += c.length)));
  }
  return { done: checked(sel, dec), procs: dec.procs, kill: dec.kill };
}

/** `dec.done`, then the stored bytes' size and sha256 against the manifest; errors say "corrupted" or "truncated" when the bytes tell us so. */
function checked(sel: Selected, dec: { done: Promise<void>; hashed: Promise<void>; hasher: Hasher }): Promise<void> {
  const done = dec.done.then(
    () => {
      const problems = integrityProblems(sel, dec.hasher.bytes, dec.hasher.digest());
      if (problems.length) throw new RunError(problems.join("; "));
    },
    async (e) => {
      // Say "corrupted" or "truncated" rather than only "age failed" when the bytes tell us so.
      await dec.hashed.catch(() => undefined);
      const problems = dec.hasher.bytes > 0 || sel.manifest.storedBytes === 0 ? integrityProblems(sel, dec.hasher.bytes, dec.hasher.digest()) : [];
      throw new RunError([...problems, describeDecodeError(sel.entry.key, e)].join("; "));
    },
  );
  done.catch(() => undefined);
  return done;
}

export function integrityProblems(sel: Selected, bytes: number, sha256: string): string[] {
  const out: string[] = [];
  const m = sel.manifest;
  if (bytes !== m.storedBytes) out.push(`${sel.entry.key}: stored size is ${bytes} bytes, manifest says ${m.storedBytes} (truncated or replaced)`);
  if (sha256 !== m.sha256) out.push(`${sel.entry.key}: sha256 ${sha256} does not match the manifest's ${m.sha256} (corrupted)`);
  return out;
}

export function describeDecodeError(key: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/no identity matched/i.test(msg)) return `${key}: the identity cannot decrypt this backup (${msg})`;
  return `${key}: ${msg}`;
}
