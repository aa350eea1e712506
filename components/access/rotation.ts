/**
 * Credential rotation on a fixed period, without a window of failed backups.
 *
 * Time is cut into whole periods of `periodDays` counted from the Unix epoch (1970-01-01 UTC);
 * each period is labelled by the UTC date it starts on. The label depends only on the clock
 * and the period, so every `pulumi up` within a period computes the same label (no diff), and
 * the first `pulumi up` after a boundary computes a new one.
 *
 * How `BackupAccess` uses it (create the new key before deleting the old):
 * - the credential (an IAM user with its one access key, or a `cloudflare.AccountToken`) is
 *   named {@link rotatingName}`(base, epoch)`, and the current and the previous period's
 *   credentials are both declared: a new period creates the new one first, the scheduled
 *   containers and task definitions move to it in the same deployment, and the credential two
 *   periods old is deleted at the end of the update. A job still running with the previous
 *   key keeps working for a whole period;
 * - one IAM user per period, each with a single key, because IAM allows two keys per user and
 *   old + previous + new would be three during the update;
 * - the resources keep the default `deleteBeforeReplace: false` (never set it to true).
 */

const DAY_MS = 86_400_000;

function periodMs(periodDays: number): number {
  if (!Number.isInteger(periodDays) || periodDays < 1) {
    throw new Error(`rotation period must be a whole number of days >= 1, got ${periodDays}`);
  }
  return periodDays * DAY_MS;
}

function checkTime(now: Date): number {
  const t = now.getTime();
  if (Number.isNaN(t)) throw new Error("rotation: invalid date");
  return t;
}

/** The current rotation period: its label, when it started and when the next one starts. */
interface RotationWindow {
  /** Label of the period: the UTC date (`YYYY-MM-DD`) it started on. */
  epoch: string;
  startsAt: Date;
  /** First instant of the next period: the first `pulumi up` at or after it rotates the keys. */
  rotatesAt: Date;
}

/** The rotation period containing `now`, for periods of `periodDays` whole days counted from 1970-01-01 UTC. */
export function rotationWindow(now: Date, periodDays: number): RotationWindow {
  const len = periodMs(periodDays);
  const start = Math.floor(checkTime(now) / len) * len;
  return {
    epoch: new Date(start).toISOString().slice(0, 10),
    startsAt: new Date(start),
    rotatesAt: new Date(start + len),
  };
}

/** Stable label for the rotation period containing `now`: the UTC date the period started, e.g. `2026-01-15`. */
export function rotationEpoch(now: Date, periodDays: number): string {
  return rotationWindow(now, periodDays).epoch;
}

/** Pulumi resource name for a key of the given period, e.g. `prod-writer-key-2026-01-15`. */
export function rotatingName(base: string, epoch: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(epoch)) throw new Error(`not a rotation epoch: ${JSON.stringify(epoch)}`);
  return `${base}-${epoch}`;
}
