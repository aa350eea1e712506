import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * A PostgreSQL client/server tool: the newest `/usr/lib/postgresql/<version>/bin/<name>`
 * (Debian/Ubuntu and the PGDG images keep the version-matched binaries there), else the bare
 * name resolved on PATH.
 */
export function pgTool(name: string): string {
  const root = "/usr/lib/postgresql";
  let versions: string[] = [];
  try {
    versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  } catch {
    versions = [];
  }
  for (const v of versions) {
    const p = join(root, v, "bin", name);
    if (existsSync(p)) return p;
  }
  return name;
}
