// Wall time and peak memory of a process and everything it starts, sampled from /proc.
//
// "root" is the spawned process's VmHWM (the kernel's own peak-RSS counter, exact up to the
// last sample before exit); "tree" is the largest sum of VmRSS over the root and all its
// descendants (found through the ppid field of /proc/*/stat) seen in one sample: a lower bound
// on the true simultaneous peak. Servers the tree talks to (PostgreSQL backends, s3rver) are not
// its descendants and are not counted.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export function statusKb(pid, field) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function descendants(root) {
  const kids = new Map();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(e));
    } catch {
      /* exited */
    }
  }
  const out = [];
  const stack = [...(kids.get(root) ?? [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}

export function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

/**
 * Runs `cmd args` (stdin ignored), sampling memory every `ms` (and once right after spawn).
 * Resolves with `{wall, code, stdout, stderr, peak: {rootHwm, rootRss, tree, perTool}}`;
 * rejects when the command exits non-zero (unless `allowFail`), with the tail of its stderr.
 */
export function measure(cmd, args, { env = process.env, cwd, ms = 50, allowFail = false } = {}) {
  return new Promise((resolveRun, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr = (stderr + b).slice(-8000)));
    const peak = { rootHwm: 0, rootRss: 0, tree: 0, perTool: {} };
    const sample = () => {
      const hwm = statusKb(child.pid, "VmHWM");
      const rss = statusKb(child.pid, "VmRSS");
      if (hwm > peak.rootHwm) peak.rootHwm = hwm;
      if (rss > peak.rootRss) peak.rootRss = rss;
      let tree = rss;
      for (const d of descendants(child.pid)) {
        const r = statusKb(d, "VmRSS");
        tree += r;
        const c = comm(d);
        if (r > (peak.perTool[c] ?? 0)) peak.perTool[c] = r;
      }
      if (tree > peak.tree) peak.tree = tree;
    };
    const first = setTimeout(sample, 5);
    const timer = setInterval(sample, ms);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(first);
      clearInterval(timer);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0 && !allowFail) return reject(new Error(`${cmd} ${args.join(" ").slice(0, 300)} exited ${code}: ${stderr}`));
      resolveRun({ wall, code, peak, stdout, stderr });
    });
  });
}
