import { hostname } from "node:os";
import { z } from "zod";
import { SOURCE_KINDS, Tier, TIERS } from "lifeboat-core";
import { recipientFingerprint } from "./age";


/**
 * Kinds a manifest in the tier layout can describe: the `backup --source` kinds plus
 * `pg-basebackup` (written by `basebackup`, the base of point-in-time recovery).
 */
export const MANIFEST_KINDS = [...SOURCE_KINDS, "pg-basebackup"] as const;
export type ManifestKind = (typeof MANIFEST_KINDS)[number];

/** Extension of a `basebackup` object: the pg_basebackup tar (base.tar with pg_wal when fetched). */
export const BASEBACKUP_EXT = "base.tar.zst.age";

export const TableCount = z.object({ table: z.string(), rows: z.number().int().nonnegative() });

/** A cluster role as a Postgres backup records it (see pgroles.ts): attributes and memberships, never a password. */
export const PgRole = z.object({
  name: z.string(),
  login: z.boolean(),
  superuser: z.boolean(),
  createdb: z.boolean(),
  createrole: z.boolean(),
  inherit: z.boolean(),
  replication: z.boolean(),
  bypassrls: z.boolean(),
  connectionLimit: z.number().int(),
  /** Roles this role is a member of (predefined pg_* roles included). */
  memberOf: z.array(z.object({ role: z.string(), admin: z.boolean() })),
});
export type PgRole = z.infer<typeof PgRole>;

export const ManifestSchema = z.object({
  version: z.literal(1),
  /** The source name (`--name`). */
  source: z.string(),
  kind: z.enum(MANIFEST_KINDS),
  tier: z.enum(TIERS),
  key: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  /** Bytes the source produced, before compression and encryption. */
  rawBytes: z.number().int().nonnegative(),
  /** Bytes stored in the object. */
  storedBytes: z.number().int().nonnegative(),
  /** sha256 (hex) of the stored object. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  compression: z.object({ tool: z.literal("zstd"), level: z.number().int() }),
  encryption: z.object({ tool: z.literal("age"), recipientFingerprints: z.array(z.string()).min(1) }),
  tools: z.record(z.string(), z.string()),
  host: z.string().optional(),
  /**
   * Postgres only: the server version and exact per-table row counts taken in the dump's snapshot,
   * and the cluster's roles (absent in backups made before roles were recorded).
   */
  postgres: z
    .object({ serverVersion: z.string(), database: z.string(), tables: z.array(TableCount), roles: z.array(PgRole).optional() })
    .optional(),
  /** Archives (volume/directory): what the tar holds. */
  archive: z
    .object({
      files: z.number().int().nonnegative(),
      fileBytes: z.number().int().nonnegative(),
      entries: z.number().int().nonnegative(),
      sqliteSnapshots: z.array(z.string()),
    })
    .optional(),
  /**
   * A degraded backup: stored and restorable, but these named files are missing from it, changed
   * while read, or archived as is instead of as a consistent snapshot. Absent when clean.
   */
  warnings: z.array(z.string()).optional(),
  /** Single-file kinds (redis, sqlite): the original file name, used by restore --target-dir. */
  file: z.object({ name: z.string() }).optional(),
  /** pg-basebackup only: where WAL replay starts and the backup becomes consistent. */
  basebackup: z
    .object({
      startLsn: z.string(),
      endLsn: z.string().optional(),
      timeline: z.number().int().positive(),
      /** `fetch`: the WAL from start to end is inside the tar (consistent on its own); `none`: it comes from wal-stream. */
      walMethod: z.enum(["fetch", "none"]),
    })
    .optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** What a finished run knows about the object it stored. */
export interface BackupFacts {
  source: string;
  kind: ManifestKind;
  tier: Tier;
  key: string;
  started: Date;
  finished: Date;
  rawBytes: number;
  storedBytes: number;
  sha256: string;
  zstdLevel: number;
  /** age public keys it was encrypted to (recorded as fingerprints). */
  recipients: string[];
  /** Tool versions, the runner's included. */
  tools: Record<string, string>;
}

/** The manifest fields every backup records about its object; each kind adds its own facts. */
export function storedObjectManifest(o: BackupFacts): Manifest {
  return {
    version: 1,
    source: o.source,
    kind: o.kind,
    tier: o.tier,
    key: o.key,
    startedAt: o.started.toISOString(),
    finishedAt: o.finished.toISOString(),
    rawBytes: o.rawBytes,
    storedBytes: o.storedBytes,
    sha256: o.sha256,
    compression: { tool: "zstd", level: o.zstdLevel },
    encryption: { tool: "age", recipientFingerprints: o.recipients.map(recipientFingerprint) },
    tools: o.tools,
    host: hostname(),
  };
}

export function parseManifest(text: string, key: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`manifest ${key} is not valid JSON: ${(e as Error).message}`);
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) throw new Error(`manifest ${key} is invalid: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

/** A verification record under `<prefix>/_verifications/<source>/`. */
export const VerificationSchema = z.object({
  version: z.literal(1),
  key: z.string(),
  source: z.string(),
  ok: z.boolean(),
  checkedAt: z.string(),
  durationSeconds: z.number(),
  problems: z.array(z.string()),
  /* Fields below were added for drills that prove more (#17); records written before lack them. */
  /** The verified backup's tier. */
  tier: z.enum(TIERS).optional(),
  /** Seconds each stage added to `durationSeconds` (see {@link DrillStages}). */
  stages: z.lazy(() => DrillStages).optional(),
  /** The declared RTO in seconds the drill was run against (`--rto`), when given. */
  rtoSeconds: z.number().optional(),
  /** Postgres: the freshness check's column, window, the newest value found and the backup's time. */
  freshness: z
    .object({ column: z.string(), withinSeconds: z.number(), newest: z.string().nullable(), backupTime: z.string(), ok: z.boolean() })
    .optional(),
  /** Postgres: each SQL assertion by name and whether it held. */
  assertions: z.array(z.object({ name: z.string(), ok: z.boolean() })).optional(),
  /**
   * The older backup the same drill restored besides `key` (a randomly chosen other tier when one
   * exists), so old tiers and old keys are proven too. It has its own `ok` and `problems`: the
   * fields above are `key`'s alone (so `latest-verified` still trusts a good newest backup, and
   * `durationSeconds` stays the newest backup's restore time, the RTO). The drill failed when
   * either failed.
   */
  older: z
    .object({
      key: z.string(),
      tier: z.enum(TIERS),
      ok: z.boolean(),
      durationSeconds: z.number(),
      stages: z.lazy(() => DrillStages).optional(),
      problems: z.array(z.string()),
      /** The seed the choice was drawn with: `verify --seed N` repeats it against the same listing. */
      seed: z.number().int(),
    })
    .optional(),
});
export type Verification = z.infer<typeof VerificationSchema>;

/**
 * A drill streams download -> age -> zstd -> restore, so the stages overlap: each figure is the
 * time from the end of the previous stage to the end of this one (download: until the last stored
 * byte arrived; decrypt: until age and zstd had finished; restore: until the restore tool exited;
 * checks: row counts, freshness and assertions). They add up to the drill's duration.
 */
export const DrillStages = z.object({
  downloadSeconds: z.number().nonnegative(),
  decryptSeconds: z.number().nonnegative(),
  restoreSeconds: z.number().nonnegative(),
  checksSeconds: z.number().nonnegative(),
});
export type DrillStages = z.infer<typeof DrillStages>;

/**
 * The manifest of one WAL object under `<prefix>/<source>/wal/`, written by `wal-stream` after
 * the object: a completed segment, a partial segment flushed on the interval, or a timeline
 * history file.
 */
export const WalManifestSchema = z.object({
  version: z.literal(1),
  source: z.string(),
  kind: z.literal("wal"),
  key: z.string(),
  /** The file name PostgreSQL asks restore_command for (`000000010000000000000003`, `00000002.history`). */
  file: z.string(),
  timeline: z.number().int().positive(),
  /** A partial segment: the segment as far as it was written when flushed (zero-padded). */
  partial: z.boolean(),
  /** When the runner read the file (for a partial: the recovery point it carries). */
  capturedAt: z.string(),
  uploadedAt: z.string(),
  rawBytes: z.number().int().nonnegative(),
  /** sha256 (hex) of the WAL file itself. */
  rawSha256: z.string().regex(/^[0-9a-f]{64}$/),
  storedBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  compression: z.object({ tool: z.literal("zstd"), level: z.number().int() }),
  encryption: z.object({ tool: z.literal("age"), recipientFingerprints: z.array(z.string()).min(1) }),
  host: z.string().optional(),
});
export type WalManifest = z.infer<typeof WalManifestSchema>;

export function parseWalManifest(text: string, key: string): WalManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`WAL manifest ${key} is not valid JSON: ${(e as Error).message}`);
  }
  const r = WalManifestSchema.safeParse(json);
  if (!r.success) throw new Error(`WAL manifest ${key} is invalid: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}
