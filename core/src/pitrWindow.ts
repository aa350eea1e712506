/**
 * How long a point-in-time-recovery source's WAL is kept (and locked) for its PITR window.
 *
 * A time T can be restored from the newest base backup that *finished* before T plus the WAL
 * from that base backup's *start* up to T. For every time in the window [now - window, now] to
 * stay restorable, the WAL from the start of the base backup before `now - window` must still
 * be there: that base backup started at most one base-backup interval, plus its own run time,
 * before the window opens. Runs are bounded by the runner's run timeout (6 h by default), so a
 * day covers it.
 */

/** A base backup's own run time, rounded up to whole days (the runner's default run bound is 6 h). */
export const BASE_BACKUP_RUN_DAYS = 1;

/**
 * Days WAL must be kept for a `windowDays` PITR window when base backups run at most
 * `baseIntervalSeconds` apart: the window, plus one interval rounded up to whole days, plus
 * {@link BASE_BACKUP_RUN_DAYS}. Lifecycle rules expire WAL after this many days and locks hold it
 * as long; base backups must be kept at least as long (they are the starting points).
 */
export function walRetentionDays(windowDays: number, baseIntervalSeconds: number): number {
  if (!Number.isInteger(windowDays) || windowDays < 1) throw new RangeError(`walRetentionDays: the window must be a whole number of days >= 1, got ${windowDays}`);
  if (!(baseIntervalSeconds > 0)) throw new RangeError(`walRetentionDays: the base-backup interval must be positive, got ${baseIntervalSeconds}`);
  return windowDays + Math.ceil(baseIntervalSeconds / 86_400) + BASE_BACKUP_RUN_DAYS;
}
