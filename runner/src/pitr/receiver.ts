/**
 * Keeping exactly one pg_receivewal per spool and slot.
 *
 * A sidecar killed with SIGKILL cannot stop its pg_receivewal; left running, the orphan holds the
 * replication slot and every restart fails ("replication slot ... is active"). Two guards:
 * - the receiver is started under `setpriv --pdeathsig KILL` (util-linux), so the kernel kills it
 *   when the sidecar dies, however it dies;
 * - before each start, a receiver still running on this host for the same spool and slot (left
 *   by a sidecar that died before the first guard was armed, or run without setpriv) is stopped.
 */
import { readFileSync, readdirSync } from "node:fs";
import { toolVersion } from "../proc";

let setprivOk: boolean | undefined;

/** `cmd args` under `setpriv --pdeathsig KILL` when setpriv is available, else unchanged. */
export function dieWithParent(cmd: string, args: string[]): { cmd: string; args: string[]; guarded: boolean } {
  setprivOk ??= toolVersion("setpriv") !== undefined;
  return setprivOk ? { cmd: "setpriv", args: ["--pdeathsig", "KILL", "--", cmd, ...args], guarded: true } : { cmd, args, guarded: false };
}

/** True when `argv` is a pg_receivewal streaming into `spool` over `slot`. */
export function isReceiverFor(argv: string[], spool: string, slot: string): boolean {
  const exe = argv.findIndex((a) => /(^|\/)pg_receivewal$/.test(a));
  if (exe < 0) return false;
  const rest = argv.slice(exe + 1);
  const value = (flag: string) => {
    const i = rest.indexOf(flag);
    return i >= 0 ? rest[i + 1] : rest.find((a) => a.startsWith(flag + "="))?.slice(flag.length + 1);
  };
  return value("--directory") === spool && value("--slot") === slot && !rest.includes("--create-slot");
}

/** Processes on this host (visible in /proc) that are pg_receivewal for this spool and slot. */
export function findReceivers(spool: string, slot: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (isReceiverFor(argv, spool, slot)) out.push(Number(d));
    } catch {
      /* exited or not ours to read */
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
};

/** Stops stale receivers (SIGTERM: pg_receivewal writes out what it has; SIGKILL after 5 s). Returns their pids. */
export async function stopStaleReceivers(spool: string, slot: string): Promise<number[]> {
  const pids = findReceivers(spool, slot);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      /* gone */
    }
  }
  const end = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  return pids;
}
