// Small helpers shared by the bench scripts (bench/run.mjs, bench/backup-memory.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** `require` resolving from the repository root (pg, @aws-sdk/client-s3, the built dist/). */
export const requireFromRepo = createRequire(join(REPO, "package.json"));
export const MiB = 1024 * 1024;

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

export async function waitFor(what, check, ms = 30000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/** Throws naming the tool when a command-line tool is not on PATH. */
export function need(cmd) {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) throw new Error(`'${cmd}' is not installed`);
}

/** A PostgreSQL server binary from /usr/lib/postgresql/<version>/bin (newest version). */
export function pgBin(name) {
  const root = "/usr/lib/postgresql";
  const vs = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a) : [];
  for (const v of vs) if (existsSync(join(root, v, "bin", name))) return join(root, v, "bin", name);
  throw new Error(`PostgreSQL server binary ${name} not found under ${root}/*/bin`);
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Mebibytes with one decimal. */
export const mb = (b) => (b / MiB).toFixed(1);

/** The leading `//` comment block of a script, as its --help text. */
export function headerHelp(scriptUrl) {
  const lines = readFileSync(fileURLToPath(scriptUrl), "utf8").split("\n").slice(1);
  const out = [];
  for (const l of lines) {
    if (!l.startsWith("//")) break;
    out.push(l.replace(/^\/\/ ?/, ""));
  }
  return out.join("\n") + "\n";
}

/** "Machine: N cores (model), RAM, kernel, Node" for a results file. */
export function machineInfo() {
  const sh = (c) => spawnSync("sh", ["-c", c], { encoding: "utf8" }).stdout.trim();
  const cpu = (readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m) ?? [])[1] ?? "unknown CPU";
  const memKb = Number((readFileSync("/proc/meminfo", "utf8").match(/^MemTotal:\s+(\d+)/m) ?? [])[1] ?? 0);
  return {
    cores: Number(sh("nproc")),
    cpu,
    memGiB: Math.round(memKb / 1024 / 1024),
    kernel: sh("uname -r"),
    node: process.version,
    postgres: sh(`${pgBin("postgres")} --version`),
    tools: {
      zstd: sh("zstd --version").replace(/^\*+ |,.*$/g, ""),
      age: sh("age --version"),
      rclone: sh("rclone version 2>/dev/null | head -1"),
      restic: sh("restic version 2>/dev/null").replace(/ compiled.*$/, ""),
    },
  };
}

/** Total size in bytes of the regular files under `dir`. */
export function dirBytes(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += statSync(join(e.parentPath ?? e.path, e.name)).size;
  }
  return n;
}
