/**
 * Restoring a backup with stock tools only (rclone, sha256sum, age, zstd, pg_restore/tar): the
 * single source of these commands. docs/runbook.md's `stock-restore` block is
 * {@link STOCK_RESTORE_SCRIPT} verbatim (test/components/runbook.test.ts checks it), the
 * generated runbook embeds {@link stockRestoreScript} for each source, and the end-to-end test
 * (test/runner/postgres.e2e.test.ts, "restores with stock tools alone") runs
 * `stockRestoreScript(...)` against a backup the runner made. Pure: no Pulumi.
 */
import { SourceKind } from "lifeboat-runner";
import { shellValue } from "./shell";

/**
 * Steps 0-2, the same for every kind: an rclone remote from the environment, the backup's key
 * (the newest complete one unless KEY names one), download of object and manifest, sha256 check.
 * Reads ENDPOINT, BUCKET, PREFIX, SOURCE, KEY (may be empty), AWS_REGION and the AWS_* keys.
 */
export const STOCK_FETCH = `# rclone talks to R2 and S3 alike; configure a remote from the environment
# (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). rclone 1.60 fails when AWS_CA_BUNDLE is set: unset it.
unset AWS_CA_BUNDLE
export RCLONE_CONFIG_LIFEBOAT_TYPE=s3
export RCLONE_CONFIG_LIFEBOAT_PROVIDER=Other
export RCLONE_CONFIG_LIFEBOAT_ENV_AUTH=true
export RCLONE_CONFIG_LIFEBOAT_ENDPOINT="$ENDPOINT"
export RCLONE_CONFIG_LIFEBOAT_REGION="\${AWS_REGION:-auto}"

# 1. Pick the backup: KEY if set, else the newest one that has a manifest (a backup without
#    its manifest is a failed run). Key names start with their UTC time, so they sort by time.
if [ -z "\${KEY:-}" ]; then
  newest=$(rclone lsf -R --fast-list --files-only "lifeboat:$BUCKET/$PREFIX/$SOURCE/" \\
    | awk -F/ '/\\.manifest\\.json$/ { print $NF "\\t" $0 }' | sort | tail -n 1 | cut -f2-)
  test -n "$newest" || { echo "no backup of $SOURCE under $BUCKET/$PREFIX/$SOURCE/" >&2; exit 1; }
  KEY="$PREFIX/$SOURCE/\${newest%.manifest.json}"
fi
echo "restoring $KEY" >&2

# 2. Download the backup and its manifest, and check the sha256 against the manifest.
rclone cat "lifeboat:$BUCKET/$KEY.manifest.json" > manifest.json
rclone cat "lifeboat:$BUCKET/$KEY" > backup.age
expected=$(grep '"sha256"' manifest.json | sed 's/.*"sha256": *"\\([0-9a-f]*\\)".*/\\1/')
actual=$(sha256sum backup.age | cut -d' ' -f1)
test "$expected" = "$actual" || { echo "sha256 mismatch: $actual, manifest says $expected" >&2; exit 1; }
`;

/** Step 3 for volumes and directories. */
const STOCK_UNPACK = `# 3. Decrypt, decompress and unpack into an empty or new directory (created with its parents),
#    with owners, modes, sparse files, xattrs and ACLs as archived.
mkdir -p "$TARGET_DIR"
test -z "$(ls -A "$TARGET_DIR")" || { echo "$TARGET_DIR is not empty" >&2; exit 1; }
age -d -i "$IDENTITY" backup.age | zstd -d | tar -x -C "$TARGET_DIR" --numeric-owner --xattrs --xattrs-include='*' --acls
`;

/** Step 3 per kind: decrypt (age), decompress (zstd) and put the data in place. */
export const STOCK_DECODE: Record<SourceKind, string> = {
  postgres: `# 3. Decrypt and decompress, then restore into an empty database. One job: with -j, a trigger
#    on a partitioned table can be created mid-load and fire for restored rows. The password
#    goes in PGPASSWORD (or ~/.pgpass), not in TARGET_URL, where any local user could read it.
age -d -i "$IDENTITY" backup.age | zstd -d -o backup.dump
pg_restore --clean --if-exists --no-owner -d "$TARGET_URL" backup.dump
`,
  volume: STOCK_UNPACK,
  directory: STOCK_UNPACK,
  redis: `# 3. Decrypt and decompress the RDB file (put it where redis-server's dir/dbfilename point, with redis stopped).
mkdir -p "$(dirname "$TARGET_FILE")"
age -d -i "$IDENTITY" backup.age | zstd -d -o "$TARGET_FILE"
`,
  sqlite: `# 3. Decrypt and decompress the database file, then check it.
mkdir -p "$(dirname "$TARGET_FILE")"
age -d -i "$IDENTITY" backup.age | zstd -d -o "$TARGET_FILE"
sqlite3 "$TARGET_FILE" 'PRAGMA integrity_check'
`,
  bucket: `# 3. One stored copy of one app object: decrypt it (no zstd: the runner stores media as is).
mkdir -p "$(dirname "$TARGET_FILE")"
age -d -i "$IDENTITY" backup.age > "$TARGET_FILE"
`,
};

/** The Postgres stock restore: docs/runbook.md's `stock-restore` block, verbatim. */
export const STOCK_RESTORE_SCRIPT = stockScriptBody("postgres");

/** The commands after the variables, for one kind. */
export function stockScriptBody(kind: SourceKind): string {
  return `${STOCK_FETCH}\n${STOCK_DECODE[kind]}`;
}

/** The variable a kind restores into. */
export function stockTargetVariable(kind: SourceKind): "TARGET_URL" | "TARGET_DIR" | "TARGET_FILE" {
  return kind === "postgres" ? "TARGET_URL" : kind === "volume" || kind === "directory" ? "TARGET_DIR" : "TARGET_FILE";
}

/** The values of one stock restore. */
export interface StockRestoreVars {
  kind: SourceKind;
  /** S3 API endpoint (R2's account endpoint, or `https://s3.REGION.amazonaws.com`). */
  endpoint: string;
  /** `auto` for R2. */
  region: string;
  bucket: string;
  /** Bucket-level key prefix, e.g. `backups`. */
  prefix: string;
  /** Source name. */
  source: string;
  /** An exact backup key; empty or unset: the newest backup of the source. */
  key?: string;
  /** age identity (private key) file; may start with `$HOME/`. */
  identity: string;
  /** Where to restore: a postgres URL (an empty database), a directory, or a file, per kind. */
  target: string;
}

/**
 * A complete bash script restoring one backup with stock tools: the variables, shell-quoted,
 * then {@link stockScriptBody}. Save it to a file and run `bash FILE`.
 */
export function stockRestoreScript(v: StockRestoreVars): string {
  const lines = [
    "#!/usr/bin/env bash",
    "set -euo pipefail",
    `ENDPOINT=${shellValue(v.endpoint)}`,
    `export AWS_REGION=${shellValue(v.region)}`,
    `BUCKET=${shellValue(v.bucket)}`,
    `PREFIX=${shellValue(v.prefix.replace(/^\/+|\/+$/g, ""))}`,
    `SOURCE=${shellValue(v.source)}`,
    `KEY=${shellValue(v.key ?? "")}`,
    `IDENTITY=${shellValue(v.identity)}`,
    `${stockTargetVariable(v.kind)}=${shellValue(v.target)}`,
  ];
  return `${lines.join("\n")}\n\n${stockScriptBody(v.kind)}`;
}
