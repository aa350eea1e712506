/**
 * Restoring a backup with stock tools only (rclone, sha256sum, age, zstd, pg_restore/tar): the
 * single source of these commands. docs/runbook.md's `stock-restore` block is
 * {@link STOCK_RESTORE_SCRIPT} verbatim (test/components/runbook.test.ts checks it), the
 * generated runbook embeds {@link stockRestoreScript} for each source, and the end-to-end test
 * (test/runner/postgres.e2e.test.ts, "restores with stock tools alone") runs
 * `stockRestoreScript(...)` against a backup the runner made. Pure: no Pulumi.
 */
import { SourceKind } from "lifeboat-core";
import { shellValue } from "./shell";
import { restoreTargetField } from "../schedule/commands";

/**
 * Steps 0-2, the same for every kind: an rclone remote from the environment, the backup's key
 * (the newest complete one unless KEY names one), download of object and manifest, sha256 check.
 * Reads ENDPOINT, BUCKET, PREFIX, SOURCE, KEY (may be empty), AWS_REGION and the AWS_* keys.
 */
const STOCK_RCLONE = `# rclone talks to R2 and S3 alike; configure a remote from the environment
# (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). rclone 1.60 fails when AWS_CA_BUNDLE is set: unset it.
unset AWS_CA_BUNDLE
export RCLONE_CONFIG_LIFEBOAT_TYPE=s3
export RCLONE_CONFIG_LIFEBOAT_PROVIDER=Other
export RCLONE_CONFIG_LIFEBOAT_ENV_AUTH=true
export RCLONE_CONFIG_LIFEBOAT_ENDPOINT="$ENDPOINT"
export RCLONE_CONFIG_LIFEBOAT_REGION="\${AWS_REGION:-auto}"
`;

/** Step 2: download the backup KEY and its manifest, and check the sha256 against the manifest. */
const STOCK_DOWNLOAD = `# 2. Download the backup and its manifest, and check the sha256 against the manifest.
rclone cat "lifeboat:$BUCKET/$KEY.manifest.json" > manifest.json
rclone cat "lifeboat:$BUCKET/$KEY" > backup.age
expected=$(grep '"sha256"' manifest.json | sed 's/.*"sha256": *"\\([0-9a-f]*\\)".*/\\1/')
actual=$(sha256sum backup.age | cut -d' ' -f1)
test "$expected" = "$actual" || { echo "sha256 mismatch: $actual, manifest says $expected" >&2; exit 1; }
`;

export const STOCK_FETCH = `${STOCK_RCLONE}
# 1. Pick the backup: KEY if set, else the newest one that has a manifest (a backup without
#    its manifest is a failed run). Key names start with their UTC time, so they sort by time.
if [ -z "\${KEY:-}" ]; then
  newest=$(rclone lsf -R --fast-list --files-only "lifeboat:$BUCKET/$PREFIX/$SOURCE/" \\
    | awk -F/ '/\\.manifest\\.json$/ { print $NF "\\t" $0 }' | sort | tail -n 1 | cut -f2-)
  test -n "$newest" || { echo "no backup of $SOURCE under $BUCKET/$PREFIX/$SOURCE/" >&2; exit 1; }
  KEY="$PREFIX/$SOURCE/\${newest%.manifest.json}"
fi
echo "restoring $KEY" >&2

${STOCK_DOWNLOAD}`;

/**
 * Roles are cluster-wide and not in the dump: on a new server the dump's owners and grants name
 * roles it lacks. The manifest records them (never a password): psql creates the missing ones
 * and their memberships, as the runner does. Reads TARGET_URL and manifest.json.
 */
const STOCK_PG_ROLES = `# Create the roles the manifest records that the server lacks (without passwords: set one
# for each LOGIN role with ALTER ROLE ... PASSWORD), and their memberships. Needs CREATEROLE.
psql -X -q -v ON_ERROR_STOP=1 -d "$TARGET_URL" <<'SQL'
\\set manifest \`cat manifest.json\`
SELECT format('CREATE ROLE %I WITH %s %s %s %s %s %s %s CONNECTION LIMIT %s', r->>'name',
  CASE WHEN (r->>'login')::bool THEN 'LOGIN' ELSE 'NOLOGIN' END, CASE WHEN (r->>'superuser')::bool THEN 'SUPERUSER' ELSE 'NOSUPERUSER' END,
  CASE WHEN (r->>'createdb')::bool THEN 'CREATEDB' ELSE 'NOCREATEDB' END, CASE WHEN (r->>'createrole')::bool THEN 'CREATEROLE' ELSE 'NOCREATEROLE' END,
  CASE WHEN (r->>'inherit')::bool THEN 'INHERIT' ELSE 'NOINHERIT' END, CASE WHEN (r->>'replication')::bool THEN 'REPLICATION' ELSE 'NOREPLICATION' END,
  CASE WHEN (r->>'bypassrls')::bool THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END, r->>'connectionLimit')
FROM json_array_elements(coalesce(:'manifest'::json->'postgres'->'roles', '[]')) r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r->>'name') \\gexec
SELECT format('GRANT %I TO %I%s', m->>'role', r->>'name', CASE WHEN (m->>'admin')::bool THEN ' WITH ADMIN OPTION' ELSE '' END)
FROM json_array_elements(coalesce(:'manifest'::json->'postgres'->'roles', '[]')) r, json_array_elements(r->'memberOf') m
WHERE NOT EXISTS (SELECT 1 FROM pg_auth_members a WHERE a.member = to_regrole(quote_ident(r->>'name')) AND a.roleid = to_regrole(quote_ident(m->>'role'))) \\gexec
SQL
# Only a superuser can give objects to other roles: anyone else restores them as their own.
owner=--no-owner
test "$(psql -X -tA -d "$TARGET_URL" -c 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" = t && owner=
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
  postgres: `# 3. Decrypt and decompress, then restore into an EMPTY database (refused otherwise: restore
#    into a new one, nothing is dropped). One job: with -j, a trigger on a partitioned table can
#    be created mid-load and fire for restored rows. The password goes in PGPASSWORD (or
#    ~/.pgpass), not in TARGET_URL, where any local user could read it.
test "$(psql -X -tA -d "$TARGET_URL" -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'")" = 0 \\
  || { echo "$TARGET_URL is not empty: restore into a new, empty database" >&2; exit 1; }
age -d -i "$IDENTITY" backup.age | zstd -d -o backup.dump
${STOCK_PG_ROLES}pg_restore $owner --exit-on-error -d "$TARGET_URL" backup.dump
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

/**
 * Step 3 of getting back one table: `pg_restore --schema --table` from the decoded dump into a
 * database that does not hold the table (a staging one), then its row count against the
 * manifest's. Reads SCHEMA and TABLE besides TARGET_URL.
 */
export const STOCK_ONE_TABLE = `# 3. Decrypt and decompress, then restore one table's definition and rows into a database that
#    does not hold it (e.g. a staging one; refused otherwise, nothing is dropped or overwritten).
#    pg_restore -t brings no indexes, constraints, triggers, defaults or owned sequences: enough
#    to read or copy rows back (the runner's restore --table brings the table whole). A column
#    of a type the dump defines (an enum) needs that type first.
age -d -i "$IDENTITY" backup.age | zstd -d -o backup.dump
held=$(psql -X -tA -v ON_ERROR_STOP=1 -v s="$SCHEMA" -v t="$TABLE" -d "$TARGET_URL" <<'SQL'
SELECT to_regclass(format('%I.%I', :'s', :'t')) IS NOT NULL;
SQL
)
test "$held" = f || { echo "$TARGET_URL already holds $SCHEMA.$TABLE: restore into another database, or move it aside first (ALTER TABLE ... SET SCHEMA ...)" >&2; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -v s="$SCHEMA" -d "$TARGET_URL" <<'SQL'
SELECT format('CREATE SCHEMA IF NOT EXISTS %I', :'s') \\gexec
SQL
${STOCK_PG_ROLES}pg_restore $owner --exit-on-error -d "$TARGET_URL" --schema "$SCHEMA" --table "$TABLE" backup.dump
# 4. The restored rows against the manifest's count (taken in the dump's snapshot).
want=$(psql -X -tA -v ON_ERROR_STOP=1 -v s="$SCHEMA" -v t="$TABLE" -d "$TARGET_URL" <<'SQL'
\\set manifest \`cat manifest.json\`
SELECT x->>'rows' FROM json_array_elements(:'manifest'::json->'postgres'->'tables') x WHERE x->>'table' = :'s' || '.' || :'t';
SQL
)
got=$(psql -X -tA -v ON_ERROR_STOP=1 -v s="$SCHEMA" -v t="$TABLE" -d "$TARGET_URL" <<'SQL'
SELECT format('SELECT count(*) FROM ONLY %I.%I', :'s', :'t') \\gexec
SQL
)
test -z "$want" || test "$want" = "$got" || { echo "$SCHEMA.$TABLE: restored $got rows, the manifest says $want" >&2; exit 1; }
echo "restored $SCHEMA.$TABLE: $got rows" >&2
`;

/**
 * Step 3 of getting back one file (or a glob, or a directory) of a volume/directory archive.
 * Reads MEMBER (relative to the archive root) besides TARGET_DIR.
 */
export const STOCK_ONE_FILE = `# 3. Decrypt, decompress and unpack only MEMBER (a path inside the archive, shell wildcards
#    allowed; a directory brings everything under it) into TARGET_DIR, created with its parents.
#    A file already there is not overwritten: tar stops with "Cannot open: File exists".
mkdir -p "$TARGET_DIR"
age -d -i "$IDENTITY" backup.age | zstd -d \\
  | tar -x -C "$TARGET_DIR" --keep-old-files --numeric-owner --xattrs --xattrs-include='*' --acls --wildcards "./\${MEMBER#/}"
`;

/** The Postgres stock restore: docs/runbook.md's `stock-restore` block, verbatim. */
export const STOCK_RESTORE_SCRIPT = stockScriptBody("postgres");

/** The commands after the variables, for one kind. */
function stockScriptBody(kind: SourceKind): string {
  return `${STOCK_FETCH}\n${STOCK_DECODE[kind]}`;
}

const TARGET_VARIABLE = { targetUrl: "TARGET_URL", targetDir: "TARGET_DIR", targetFile: "TARGET_FILE" } as const;

/** The variable a kind restores into: the one for the runner flag it takes ({@link restoreTargetField}). */
export function stockTargetVariable(kind: SourceKind): "TARGET_URL" | "TARGET_DIR" | "TARGET_FILE" {
  return TARGET_VARIABLE[restoreTargetField(kind)];
}

/** The values of one stock restore. */
interface StockRestoreVars {
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
  /** Postgres: only this table (a database that lacks it, e.g. a staging one). */
  table?: { schema: string; name: string };
  /** Volume/directory: only this member (path inside the archive, wildcards allowed). */
  member?: string;
}

/** The lines every stock script opens with: strict bash, then where the backups are. */
function scriptHeader(v: { endpoint: string; region: string; bucket: string; prefix: string; source: string; key?: string }): string[] {
  return [
    "#!/usr/bin/env bash",
    "set -euo pipefail",
    `ENDPOINT=${shellValue(v.endpoint)}`,
    `export AWS_REGION=${shellValue(v.region)}`,
    `BUCKET=${shellValue(v.bucket)}`,
    `PREFIX=${shellValue(v.prefix.replace(/^\/+|\/+$/g, ""))}`,
    `SOURCE=${shellValue(v.source)}`,
    `KEY=${shellValue(v.key ?? "")}`,
  ];
}

/**
 * A complete bash script restoring one backup with stock tools: the variables, shell-quoted,
 * then {@link stockScriptBody} (with `table` or `member`: {@link STOCK_ONE_TABLE} or
 * {@link STOCK_ONE_FILE} as step 3). Save it to a file and run `bash FILE`.
 */
export function stockRestoreScript(v: StockRestoreVars): string {
  if (v.table && v.kind !== "postgres") throw new Error(`stockRestoreScript: table is for postgres, not ${v.kind}`);
  if (v.member && v.kind !== "volume" && v.kind !== "directory") throw new Error(`stockRestoreScript: member is for volumes and directories, not ${v.kind}`);
  const lines = [
    ...scriptHeader(v),
    `IDENTITY=${shellValue(v.identity)}`,
    `${stockTargetVariable(v.kind)}=${shellValue(v.target)}`,
    ...(v.table ? [`SCHEMA=${shellValue(v.table.schema)}`, `TABLE=${shellValue(v.table.name)}`] : []),
    ...(v.member ? [`MEMBER=${shellValue(v.member)}`] : []),
  ];
  const step3 = v.table ? STOCK_ONE_TABLE : v.member ? STOCK_ONE_FILE : STOCK_DECODE[v.kind];
  return `${lines.join("\n")}\n\n${STOCK_FETCH}\n${step3}`;
}

/**
 * Point-in-time recovery with stock tools: the base backup finished at or before AT (or KEY),
 * checked and unpacked into a new 0700 data directory, the WAL of its timeline from its start
 * on (each object checked against its manifest's sha256, one copy per segment, the newest
 * partial after the last completed segment), and the recovery settings; then the directory is
 * handed to the postgres user. docs/runbook.md's `stock-pitr` block is this text verbatim, and
 * test/runner/pitr.e2e.test.ts runs {@link stockPitrScript} and starts what it restored.
 * Reads ENDPOINT, BUCKET, PREFIX, SOURCE, KEY (may be empty), AT (a zoned time or `latest`),
 * IDENTITY, TARGET_DIR, AWS_REGION and the AWS_* keys.
 */
export const STOCK_PITR_SCRIPT = `${STOCK_RCLONE}export LC_ALL=C   # names sort by time and WAL position
SRC="lifeboat:$BUCKET/$PREFIX/$SOURCE"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 0. A new, empty data directory that only its owner may read (PostgreSQL refuses anything else).
mkdir -p "$TARGET_DIR"
test -z "$(ls -A "$TARGET_DIR")" || { echo "$TARGET_DIR is not empty" >&2; exit 1; }
chmod 700 "$TARGET_DIR"

# 1. The base backup: KEY if set, else the newest whose manifest says it finished at or before AT.
if [ "$AT" = latest ]; then at_ns=$(date -u +%s%N); else at_ns=$(date -u -d "$AT" +%s%N); fi
if [ -z "\${KEY:-}" ]; then
  for m in $(rclone lsf -R --files-only "$SRC/" | grep -E '^(daily|weekly|monthly|yearly)/[^/]+\\.base\\.tar\\.zst\\.age\\.manifest\\.json$' \\
      | awk -F/ '{ print $2 "\\t" $0 }' | sort -r | cut -f2-); do
    finished=$(rclone cat "$SRC/$m" | grep '"finishedAt"' | sed 's/.*"finishedAt": *"\\([^"]*\\)".*/\\1/')
    if [ "$(date -u -d "$finished" +%s%N)" -le "$at_ns" ]; then KEY="$PREFIX/$SOURCE/\${m%.manifest.json}"; break; fi
  done
  test -n "\${KEY:-}" || { echo "no base backup of $SOURCE finished at or before $AT" >&2; exit 1; }
fi
echo "base backup $KEY" >&2

${STOCK_DOWNLOAD}
# 3. Decrypt, decompress and unpack it; its backup_label names the first WAL segment replay needs.
age -d -i "$IDENTITY" backup.age | zstd -d | tar -x --no-same-owner -C "$TARGET_DIR"
rm backup.age
start=$(sed -n 's/^START WAL LOCATION: .* (file \\([0-9A-F]\\{24\\}\\))$/\\1/p' "$TARGET_DIR/backup_label")
tli=\${start:0:8}   # the base backup's timeline: only its WAL is fetched

# 4. WAL of that timeline from the start segment on, each object checked against its manifest.
#    Several objects of one segment (re-uploads) hold the same bytes: the first is enough.
W="$TARGET_DIR/lifeboat_wal"
mkdir -m 700 "$W"
all=$(rclone lsf --files-only "$SRC/wal/")
fetch_wal() {   # $1: object name under wal/, $2: the file name PostgreSQL asks for
  grep -Fxq "$1.manifest.json" <<<"$all" || return 0   # no manifest: an unfinished upload
  rclone cat "$SRC/wal/$1.manifest.json" > wal.json
  rclone cat "$SRC/wal/$1" > wal.age
  expected=$(grep '"sha256"' wal.json | sed 's/.*"sha256": *"\\([0-9a-f]*\\)".*/\\1/')
  actual=$(sha256sum wal.age | cut -d' ' -f1)
  test "$expected" = "$actual" || { echo "sha256 mismatch: wal/$1 is $actual, its manifest says $expected" >&2; exit 1; }
  age -d -i "$IDENTITY" wal.age | zstd -d > "$W/$2"
  rm wal.age
}
last=""
for k in $(grep -E "^$tli[0-9A-F]{16}\\.[0-9]{8}T" <<<"$all" | grep -v '\\.manifest\\.json$' | sort); do
  f=\${k:0:24}
  [[ "$f" < "$start" ]] && continue   # before the base backup's start
  [ -e "$W/$f" ] || fetch_wal "$k" "$f"
  [ -e "$W/$f" ] && last=$f
done
#    the newest partial of the segment after the last completed one, under the segment's name
p=$(grep -E "^$tli[0-9A-F]{16}\\.partial\\.[0-9]{8}T" <<<"$all" | grep -v '\\.manifest\\.json$' | sort | tail -n 1 || true)
if [ -n "$p" ] && [[ ! "\${p:0:24}" < "$start" ]] && [[ "\${p:0:24}" > "$last" ]]; then fetch_wal "$p" "\${p:0:24}"; fi
echo "$(ls "$W" | wc -l) WAL segment(s) of timeline $tli from $start" >&2

# 5. Recovery settings: recovery.signal, and a block at the end of postgresql.auto.conf that
#    removes itself when recovery ends (no recovery target is left behind for later backups).
#    Settings an earlier restore left in the base backup are commented out.
touch "$TARGET_DIR/postgresql.auto.conf"
sed -i -E 's/^[[:space:]]*(restore_command|recovery_target[a-z_]*|recovery_end_command)[[:space:]]*=/# disabled by the stock restore: &/' "$TARGET_DIR/postgresql.auto.conf"
{
  echo "# lifeboat-restore: recovery settings, removed at the end of recovery"
  echo "restore_command = 'cp \\"$W/%f\\" \\"%p\\"'"
  if [ "$AT" != latest ]; then echo "recovery_target_time = '$(date -u -d "$AT" '+%Y-%m-%d %H:%M:%S.%6N+00')'"; fi   # PostgreSQL's own format, microseconds kept
  echo "recovery_target_timeline = 'current'"
  echo "recovery_target_action = 'promote'"
  echo "recovery_end_command = 'sed -i ''/^# lifeboat-restore: recovery settings/,/^# lifeboat-restore: end\\$/d'' postgresql.auto.conf'"
  echo "# lifeboat-restore: end"
} >> "$TARGET_DIR/postgresql.auto.conf"
touch "$TARGET_DIR/recovery.signal"

# 6. PostgreSQL runs as the user that owns the data directory.
as_root chown -R postgres:postgres "$TARGET_DIR"
echo "restored into $TARGET_DIR; start it as the postgres user (see the runbook)" >&2
`;

/** The values of one stock point-in-time restore. */
interface StockPitrVars extends Omit<StockRestoreVars, "kind" | "target"> {
  /** A zoned time (`2026-01-31T22:59:59Z`) or `latest`. */
  at: string;
  /** The new data directory. */
  targetDir: string;
}

/** A complete bash script: the variables, shell-quoted, then {@link STOCK_PITR_SCRIPT}. */
export function stockPitrScript(v: StockPitrVars): string {
  const lines = [
    ...scriptHeader(v),
    `AT=${shellValue(v.at)}`,
    `IDENTITY=${shellValue(v.identity)}`,
    `TARGET_DIR=${shellValue(v.targetDir)}`,
  ];
  return `${lines.join("\n")}\n\n${STOCK_PITR_SCRIPT}`;
}
