/** Where the runbook's restores land, and the postgres URL helpers its commands need. */
import type { SourceKind } from "lifeboat-core";
import type { RunbookSource } from "./input";

/**
 * Where a restore of source `name` lands inside the DR target directory `dir`: the failover
 * restore job writes there, and the runbook's by-hand restores use the same place, so the two
 * never disagree. A directory per volume/directory source, one file per Redis/SQLite source,
 * so several sources can share one `drTargetPath`.
 */
export function drTargetIn(kind: Exclude<SourceKind, "postgres">, dir: string, name: string): string {
  const base = `${dir.replace(/\/+$/, "")}/${name}`;
  return kind === "redis" ? `${base}.rdb` : kind === "sqlite" ? `${base}.sqlite` : base;
}

/** A data directory to restore a PITR source into: new, on the host that will run it. */
export function pitrTargetDir(s: Pick<RunbookSource, "name">): string {
  return `/var/lib/postgresql/restored/${s.name}`;
}

/** Where one table of a Postgres source is restored: a staging database beside the default target. */
export function stagingTarget(s: RunbookSource): string {
  const t = defaultTarget(s);
  return t.replace(/\/([^/?]*)(\?.*)?$/, (_m, db: string, q?: string) => `/${db.replace(/_restored$/, "")}_staging${q ?? ""}`);
}

/** Where one file of a volume/directory source is restored: a new directory, never the live one. */
export function oneFileTarget(s: RunbookSource): string {
  return `/srv/restore/${s.name}-files`;
}

/** The default restore target of a source (a fresh place, never the live one). */
export function defaultTarget(s: RunbookSource): string {
  if (s.kind === "postgres") {
    return s.drTargetUrl ? withoutPassword(s.drTargetUrl) : `postgres://postgres@NEW-DB-HOST:5432/${s.name.replace(/[^A-Za-z0-9_]/g, "_")}_restored`;
  }
  // A DR target directory holds each source under its own name, where the failover restore job writes it.
  if (s.drTargetPath) return drTargetIn(s.kind, s.drTargetPath, s.name);
  switch (s.kind) {
    case "volume":
      return `/var/lib/docker/volumes/${s.volume ?? s.name}_restored/_data`;
    case "directory":
      return `${s.path ?? `/srv/${s.name}`}.restored`;
    case "redis":
      return `/srv/restore/${s.name}/dump.rdb`;
    case "sqlite":
      return `${s.path ?? `/srv/${s.name}.sqlite`}.restored`;
    case "bucket":
      return `s3://${s.name}-restored`;
  }
}

/**
 * A postgres URL without its password, for printing: the runbook's commands read the password
 * from PGPASSWORD or ~/.pgpass. (The runner's redactUrl masks secrets in log text instead.)
 */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "";
    return u.toString().replace(/^(\w+:\/\/[^:@/]+):@/, "$1@");
  } catch {
    return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1@");
  }
}

/** The same server's `postgres` maintenance database, for `createdb --maintenance-db`. */
export function adminUrl(url: string): string {
  try {
    const u = new URL(url);
    u.pathname = "/postgres";
    return u.toString();
  } catch {
    return url;
  }
}

/** The database a URL names (`restored` when it names none or cannot be parsed). */
export function dbName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, "")) || "restored";
  } catch {
    return "restored";
  }
}
