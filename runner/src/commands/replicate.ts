/**
 * `replicate`: copies backups (object first, manifest last) and verification records from the
 * source bucket to a replica bucket, for pairs without native replication (R2 -> R2, R2 <-> S3).
 *
 * What the replicator identity may do decides the design: it reads and lists the source, and
 * on the replica it may only list and put (never get, head or delete). So:
 * - what is already on the replica is known by LISTING the replica;
 * - every object is streamed from the source through a sha256 hasher and compared with the
 *   manifest's sha256 before the upload completes: a multipart upload is aborted, a small object
 *   is never sent, and the manifest (the thing that makes a backup exist) is not written;
 * - small objects go up in one PutObject that carries x-amz-checksum-sha256, so a store that
 *   checks it (S3, R2) verifies the bytes it received as well;
 * - every put is create-only (If-None-Match: *), nothing is ever deleted on the replica: the
 *   replica bucket's own lifecycle rules do retention.
 * The newest backup of each source must reach the replica within --max-lag (the RPO), else the
 * run alerts and exits 1.
 */
import { createHash } from "node:crypto";
import { Readable, Transform, TransformCallback, pipeline } from "node:stream";
import { Logger } from "pino";
import { ENV, humanDuration, joinKey, MANIFEST_SUFFIX, parseDuration, sourcePrefix, verificationPrefix } from "lifeboat-core";
import { BackupEntry, listBackups, listSourceNames } from "../catalog";
import { CommonOpts, StoreOpts, checkName, envIdentity, makeAlerts, makeStore, output, runDeadline, s3Bounds, s3Store } from "../context";
import { parseDest, S3Dest } from "../dest";
import { EXIT_FAILED, EXIT_OK, RunError, UsageError, errorMessage } from "../errors";
import { parseManifest, parseWalManifest, VerificationSchema } from "../manifest";
import { S3Flags, S3Store, Store, keyTaken } from "../store";
import { formatBytes } from "../progress";
import { listWal, WalObject, isPartialName, isCompletedWalFile } from "../pitr/wal";

export interface ReplicateOpts extends StoreOpts, CommonOpts {
  name?: string;
  all?: boolean;
  to?: string;
  toEndpoint?: string;
  toRegion?: string;
  maxLag: string;
  /** false with --no-copy: only list both sides and report (and alert on) lag. */
  copy: boolean;
}

export interface SourceReport {
  source: string;
  /** Backups (object + manifest) on the source. */
  backups: number;
  /** Of those, already on the replica (manifest listed there) before this run. */
  alreadyOnReplica: number;
  /** Source keys copied by this run (object and manifest). */
  copied: string[];
  /** Source keys whose object was already on the replica and whose manifest this run wrote. */
  manifestsCompleted: string[];
  /** Source keys not on the replica after this run. */
  missing: string[];
  verificationsCopied: number;
  /** WAL objects (point-in-time recovery) copied by this run: completed segments, history files, the newest partial. */
  walCopied: number;
  newest?: { key: string; time: string; ageSeconds: number; onReplica: boolean };
  lagging: boolean;
  problems: string[];
}

/** sha256 and length of the bytes passing through; fails at the end when they differ from the manifest's. */
class ManifestCheck extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;
  constructor(
    private readonly key: string,
    private readonly sha256: string,
    private readonly size: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.bytes > this.size) {
      cb(new RunError(`${this.key}: the source object is longer than the manifest's ${this.size} bytes (replaced or corrupted); not copied`));
      return;
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const { key, bytes, size, sha256 } = this;
    const got = this.hash.digest("hex");
    if (bytes !== size) cb(new RunError(`${key}: read ${bytes} bytes from the source, the manifest says ${size} (truncated or replaced); not copied`));
    else if (got !== sha256) cb(new RunError(`${key}: sha256 ${got} of the source bytes does not match the manifest's ${sha256} (corrupted); not copied`));
    else cb();
  }
}

/** The replica side's flags, for usage errors about its endpoint and region. */
const REPLICA_FLAGS: S3Flags = { endpoint: "--to-endpoint", region: "--to-region", endpointEnv: ENV.replicaEndpoint };

interface Ctx {
  o: ReplicateOpts;
  log: Logger;
  src: Store;
  replica: S3Store;
  to: S3Dest;
  partSizeBytes: number;
  maxLag: number;
  now: number;
}

const base = (prefix: string) => (prefix ? joinKey(prefix) + "/" : "");

function replicaKey(c: Ctx, srcKey: string): string {
  const b = base(c.src.prefix);
  if (!srcKey.startsWith(b)) throw new RunError(`${srcKey} is not under the source prefix ${b}`);
  return base(c.replica.prefix) + srcKey.slice(b.length);
}

/**
 * Streams one object from the source to the replica through the manifest check. At most one part
 * (bounded by --part-size, as one multipart part would be) is read whole and checked, and only
 * then sent, in one put carrying the manifest's sha256 for the server to check too. A larger one
 * goes up as a multipart upload fed through the check: a mismatch fails the stream before its end,
 * so the upload is never completed and S3Store aborts it.
 */
async function copyObject(c: Ctx, key: string, rkey: string, sha256: string, size: number): Promise<void> {
  const checked = pipeline(await c.src.get(key), new ManifestCheck(key, sha256, size), () => undefined) as Readable;
  if (size > c.partSizeBytes) {
    await c.replica.putStream(rkey, checked, { onWarning: (t) => c.log.warn(t), readBack: false });
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of checked) chunks.push(chunk as Buffer);
  await c.replica.putSmall(rkey, Buffer.concat(chunks), { readBack: false, sha256, contentType: "application/octet-stream", onWarning: (t) => c.log.warn(t) });
}

/** Writes the replica's manifest (the backup's key rewritten when the prefixes differ). */
async function putManifest(c: Ctx, srcKey: string, rkey: string, text: string): Promise<void> {
  let body = text;
  if (rkey !== srcKey) {
    const json = JSON.parse(text);
    json.key = rkey;
    body = JSON.stringify(json, null, 2) + "\n";
  }
  await c.replica.putSmall(rkey + MANIFEST_SUFFIX, body, { readBack: false }).catch((e) => {
    // Create-only: someone (a concurrent run) wrote it first; the backup is on the replica.
    if (!keyTaken(e)) throw e;
  });
}

async function copyVerifications(c: Ctx, name: string, warnings: string[]): Promise<number> {
  const [theirs, ours] = await Promise.all([
    c.src.list(verificationPrefix(c.src.prefix, name)),
    c.replica.list(verificationPrefix(c.replica.prefix, name)),
  ]);
  const have = new Set(ours.map((x) => x.key));
  let n = 0;
  for (const v of theirs) {
    if (!v.key.endsWith(".json")) continue;
    const rkey = base(c.replica.prefix) + v.key.slice(base(c.src.prefix).length);
    if (have.has(rkey)) continue;
    try {
      let text = await c.src.getText(v.key);
      const r = VerificationSchema.safeParse(JSON.parse(text));
      if (r.success && c.src.prefix !== c.replica.prefix && r.data.key.startsWith(base(c.src.prefix))) {
        text = JSON.stringify({ ...r.data, key: base(c.replica.prefix) + r.data.key.slice(base(c.src.prefix).length) }, null, 2) + "\n";
      }
      await c.replica.putSmall(rkey, text, { readBack: false }).catch((e) => {
        if (!keyTaken(e)) throw e;
      });
      n++;
    } catch (e) {
      warnings.push(`verification record ${v.key} not copied: ${errorMessage(e)}`);
    }
  }
  return n;
}

/**
 * The WAL a restore from the replica needs: every completed segment and history file, and for
 * segments not completed yet only the newest partial (older partials are superseded).
 */
export function walToReplicate(objs: WalObject[]): WalObject[] {
  const completed = new Set(objs.filter((o) => isCompletedWalFile(o.file)).map((o) => o.file));
  const newestPartial = new Map<string, WalObject>();
  for (const o of objs) if (isPartialName(o.file) && !completed.has(o.file.slice(0, 24))) newestPartial.set(o.file, o); // oldest first: the newest wins
  return [...objs.filter((o) => isCompletedWalFile(o.file)), ...newestPartial.values()];
}

/** Copies WAL objects missing on the replica (object checked against its manifest, manifest last). */
async function copyWal(c: Ctx, name: string, onReplica: Map<string, number>, problems: string[]): Promise<number> {
  let objs: WalObject[];
  try {
    objs = walToReplicate(await listWal(c.src, name));
  } catch (e) {
    problems.push(`${name}: cannot list the source's WAL: ${errorMessage(e)}`);
    return 0;
  }
  let n = 0;
  for (const w of objs) {
    const rkey = replicaKey(c, w.key);
    if (onReplica.has(rkey + MANIFEST_SUFFIX)) continue;
    try {
      const text = await c.src.getText(w.manifestKey);
      const m = parseWalManifest(text, w.manifestKey);
      if (m.key !== w.key) throw new RunError(`WAL manifest ${w.manifestKey} describes ${m.key}, not ${w.key}; not copied`);
      if (w.size !== m.storedBytes) throw new RunError(`${w.key}: listed size ${w.size} bytes, the manifest says ${m.storedBytes}; not copied`);
      const there = onReplica.get(rkey);
      if (there !== undefined && there !== m.storedBytes) throw new RunError(`s3://${c.to.bucket}/${rkey} is on the replica with ${there} bytes but the manifest says ${m.storedBytes}; not copied`);
      if (there === undefined) await copyObject(c, w.key, rkey, m.sha256, m.storedBytes);
      await putManifest(c, w.key, rkey, text);
      n++;
    } catch (e) {
      const msg = errorMessage(e);
      problems.push(msg.includes(w.key) ? msg : `${w.key}: ${msg}`);
      c.log.error({ key: w.key, err: msg }, `could not copy WAL ${w.key}: ${msg}`);
    }
  }
  return n;
}

async function replicateSource(c: Ctx, name: string, warnings: string[]): Promise<SourceReport> {
  const rep: SourceReport = {
    source: name,
    backups: 0,
    alreadyOnReplica: 0,
    copied: [],
    manifestsCompleted: [],
    missing: [],
    verificationsCopied: 0,
    walCopied: 0,
    lagging: false,
    problems: [],
  };
  let entries: BackupEntry[];
  try {
    entries = await listBackups(c.src, name);
  } catch (e) {
    rep.problems.push(`${name}: cannot list the source: ${errorMessage(e)}`);
    return rep;
  }
  rep.backups = entries.length;
  let onReplica: Map<string, number> | undefined;
  try {
    const objs = await c.replica.list(sourcePrefix(c.replica.prefix, name));
    onReplica = new Map(objs.map((x) => [x.key, x.size]));
  } catch (e) {
    rep.problems.push(`${name}: cannot list the replica: ${errorMessage(e)}`);
  }
  const done = new Set<string>();
  // Newest first: the newest backup is the one the RPO is about.
  for (const entry of [...entries].reverse()) {
    const rkey = replicaKey(c, entry.key);
    if (onReplica?.has(rkey + MANIFEST_SUFFIX)) {
      rep.alreadyOnReplica++;
      done.add(entry.key);
      continue;
    }
    if (!c.o.copy || !onReplica) {
      rep.missing.push(entry.key);
      continue;
    }
    try {
      const text = await c.src.getText(entry.manifestKey);
      const m = parseManifest(text, entry.manifestKey);
      if (m.key !== entry.key) throw new RunError(`manifest ${entry.manifestKey} describes ${m.key}, not ${entry.key}; not copied`);
      if (entry.size !== m.storedBytes) {
        throw new RunError(`${entry.key}: listed size ${entry.size} bytes, the manifest says ${m.storedBytes} (truncated or replaced); not copied`);
      }
      const there = onReplica.get(rkey);
      if (there !== undefined) {
        // A previous run uploaded (and checked) the object but could not write the manifest.
        if (there !== m.storedBytes) {
          throw new RunError(
            `s3://${c.to.bucket}/${rkey} is on the replica with ${there} bytes but the manifest says ${m.storedBytes}; puts are create-only, so remove it with an identity that may delete there and run again`,
          );
        }
        await putManifest(c, entry.key, rkey, text);
        rep.manifestsCompleted.push(entry.key);
      } else {
        const t0 = Date.now();
        await copyObject(c, entry.key, rkey, m.sha256, m.storedBytes);
        // The manifest last: until it is on the replica, the backup does not exist there.
        await putManifest(c, entry.key, rkey, text);
        rep.copied.push(entry.key);
        c.log.info({ key: entry.key, replicaKey: rkey, bytes: m.storedBytes, seconds: (Date.now() - t0) / 1000 }, `copied ${entry.key} (${formatBytes(m.storedBytes)})`);
      }
      done.add(entry.key);
    } catch (e) {
      const msg = errorMessage(e);
      rep.problems.push(msg.includes(entry.key) ? msg : `${entry.key}: ${msg}`);
      rep.missing.push(entry.key);
      c.log.error({ key: entry.key, err: msg }, `could not copy ${entry.key}: ${msg}`);
    }
  }
  if (c.o.copy && onReplica) {
    rep.walCopied = await copyWal(c, name, onReplica, rep.problems);
    rep.verificationsCopied = await copyVerifications(c, name, warnings).catch((e) => {
      warnings.push(`${name}: verification records not copied: ${errorMessage(e)}`);
      return 0;
    });
  }
  const newest = entries[entries.length - 1];
  if (newest) {
    const ageSeconds = Math.max(0, (c.now - newest.parts.time.getTime()) / 1000);
    const on = done.has(newest.key);
    rep.newest = { key: newest.key, time: newest.parts.time.toISOString(), ageSeconds, onReplica: on };
    rep.lagging = !on && ageSeconds > c.maxLag;
  }
  return rep;
}

function maxLagSeconds(text: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new UsageError(`--max-lag: ${(e as Error).message}`);
  }
}

export async function replicateCommand(o: ReplicateOpts, log: Logger): Promise<number> {
  if (o.all && o.name) throw new UsageError("--name and --all exclude each other");
  if (!o.all && !o.name) throw new UsageError("--name NAME or --all is required");
  const name = o.name ? checkName(o.name) : undefined;
  if (o.localDir) throw new UsageError("replicate copies between buckets: --local-dir is not supported (use --dest s3://...)");
  if (!o.to) throw new UsageError(`--to s3://BUCKET/PREFIX (or ${ENV.replicaDest}) is required`);
  const to = parseDest(o.to, "--to");
  const from = parseDest(o.dest);
  const maxLag = maxLagSeconds(o.maxLag);
  const sameEndpoint = (o.endpoint || "") === (o.toEndpoint || "");
  const nested = (a: string, b: string) => a === b || (a === "" || b === "") || a.startsWith(b + "/") || b.startsWith(a + "/");
  if (sameEndpoint && from.bucket === to.bucket && nested(from.prefix, to.prefix)) {
    throw new UsageError(`--to ${o.to}: the replica must not overlap the source ${o.dest}`);
  }
  const alerts = makeAlerts(o, log);
  const bounds = s3Bounds(o, runDeadline(o));
  const src = makeStore(o, { bounds });
  // Its own endpoint, region and (optionally) identity; without replica keys, the default chain
  // (AWS_* / task role): one identity for both sides.
  const credentials = envIdentity(ENV.replicaAccessKeyId, ENV.replicaSecretAccessKey, ENV.replicaSessionToken);
  const replica = s3Store({ dest: to, endpoint: o.toEndpoint, region: o.toRegion, flags: REPLICA_FLAGS, credentials }, bounds);
  const c: Ctx = { o, log, src, replica, to, partSizeBytes: bounds.partSizeBytes, maxLag, now: Date.now() };
  const fromText = src.description;
  const toText = replica.description;
  log.info({ from: fromText, to: toText, copy: o.copy }, `replicate ${fromText} -> ${toText}`);
  await alerts.ping("start");

  const problems: string[] = [];
  const warnings: string[] = [];
  const reports: SourceReport[] = [];
  let names: string[] = [];
  try {
    names = name ? [name] : await listSourceNames(src);
  } catch (e) {
    problems.push(`cannot list the sources under ${fromText}: ${errorMessage(e)}`);
  }
  for (const n of names) {
    const r = await replicateSource(c, n, warnings);
    reports.push(r);
    problems.push(...r.problems);
  }
  for (const w of warnings) log.warn(w);
  const lagging = reports.filter((r) => r.lagging);
  const lagLines = lagging.map(
    (r) => `newest backup of ${r.source} (${r.newest!.key}, ${humanDuration(r.newest!.ageSeconds)} old) is not on the replica (--max-lag ${humanDuration(maxLag)})`,
  );
  const ok = problems.length === 0 && lagging.length === 0;
  if (problems.length) await alerts.alert(`Lifeboat: replication from ${fromText} to ${toText} FAILED: ${problems.join("; ")}`);
  if (lagging.length) await alerts.alert(`Lifeboat: replica ${toText} LAGS behind ${fromText}: ${lagLines.join("; ")}`);
  if (ok) await alerts.ping("success");
  else await alerts.ping("fail", [...problems, ...lagLines].join("; "));

  const copied = reports.reduce((a, r) => a + r.copied.length + r.manifestsCompleted.length, 0);
  const human = [
    `replicate ${ok ? "ok" : "FAILED"}: ${fromText} -> ${toText}${o.copy ? "" : " (--no-copy: nothing copied)"}`,
    ...reports.map((r) => {
      const nw = r.newest
        ? `; newest ${r.newest.time} (${humanDuration(r.newest.ageSeconds)} ago) ${r.newest.onReplica ? "is" : "is NOT"} on the replica`
        : "; no backups";
      return `  ${r.source}: ${r.backups} backup(s), ${r.alreadyOnReplica} already on the replica, ${r.copied.length} copied${r.manifestsCompleted.length ? `, ${r.manifestsCompleted.length} manifest(s) completed` : ""}, ${r.missing.length} missing, ${r.verificationsCopied} verification record(s) copied${r.walCopied ? `, ${r.walCopied} WAL object(s) copied` : ""}${nw}`;
    }),
    ...lagLines.map((l) => `  LAG: ${l}`),
    ...problems.map((p) => `  PROBLEM: ${p}`),
    ...warnings.map((w) => `  warning: ${w}`),
  ].join("\n");
  output(o, { ok, from: fromText, to: toText, copy: o.copy, maxLagSeconds: maxLag, copied, sources: reports, lagging: lagging.map((r) => r.source), problems, warnings }, human);
  if (!ok) process.stderr.write(`lifeboat-runner replicate: ${[...problems, ...lagLines].join("; ")}\n`);
  return ok ? EXIT_OK : EXIT_FAILED;
}
