/**
 * What a runner container may do on its host, as a pure function of what it mounts. Every job
 * drops every capability and cannot gain privileges (setuid binaries, file capabilities); only
 * the jobs that touch other users' files run as root, with the one or three capabilities that
 * takes. Root without capabilities has no power over files beyond its uid and gid 0.
 */

/** The container's `user`, capabilities and security options. */
interface JobPrivileges {
  /** uid:gid to run as; undefined keeps the image's user (`node`, uid 1000). */
  user?: string;
  capabilities: { drops: string[]; adds: string[] };
  securityOpts: string[];
}

/**
 * Reading volumes or directories (`mounts`; a host's backup scheduler runs every backup of the
 * host, so it gets this as soon as one source is a volume or directory): root with DAC_READ_SEARCH, which lets tar open any
 * file and list any directory (root-owned 0700 session directories, other users' 0600 files)
 * and nothing else: it cannot write, chown or signal anything it does not own.
 * Restoring files (`targetMount`): root with CHOWN (give each file its original owner),
 * DAC_OVERRIDE (keep writing into a directory once it belongs to another user or is read-only)
 * and FOWNER (set modes and times on files it no longer owns). Each is needed: GNU tar
 * extracting a 0550 directory of another user's 0400 files fails without any one of them.
 * Everything else (databases and Redis over the network, verification, replication, status)
 * runs as the image's unprivileged user with no capability at all.
 */
export function jobPrivileges(job: { mounts?: unknown[]; targetMount?: unknown }): JobPrivileges {
  const base = { drops: ["ALL"], securityOpts: ["no-new-privileges"] };
  if (job.targetMount !== undefined) {
    return { user: "0:0", capabilities: { drops: base.drops, adds: ["CHOWN", "DAC_OVERRIDE", "FOWNER"] }, securityOpts: base.securityOpts };
  }
  if (job.mounts?.length) {
    return { user: "0:0", capabilities: { drops: base.drops, adds: ["DAC_READ_SEARCH"] }, securityOpts: base.securityOpts };
  }
  return { capabilities: { drops: base.drops, adds: [] }, securityOpts: base.securityOpts };
}
