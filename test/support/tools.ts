import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Throws, naming the tool, when a command-line tool the tests need is not installed. */
export function requireTool(cmd: string, pkg: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`test prerequisite missing: '${cmd}' is not installed (Debian package: ${pkg})`);
}

/** A PostgreSQL server binary from /usr/lib/postgresql/<version>/bin (newest version). */
export function pgBin(name: string): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const p = join(root, v, "bin", name);
    if (existsSync(p)) return p;
  }
  throw new Error(`test prerequisite missing: PostgreSQL server binary '${name}' not found under ${root}/*/bin (Debian package: postgresql)`);
}
