import type { SourceKind } from "lifeboat-core";

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
