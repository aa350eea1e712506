/** Processes the end-to-end tests kill as a host loss would: whole process groups, and a server's children. */
import { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** SIGKILLs the child's process group (it was spawned detached, as a container's processes are) and waits for it to close. */
export function killGroup(child: ChildProcess): Promise<void> {
  const closed = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("close", () => r())));
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    /* already gone */
  }
  return closed;
}

/** The processes whose parent is `pid` (a PostgreSQL postmaster's backends), from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return out;
}
