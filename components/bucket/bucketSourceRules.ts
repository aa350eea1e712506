import { joinKey, sourcePrefix } from "lifeboat-core";
import { BUCKET_SOURCE_DIRS } from "../access/iamDocuments";
import { PrefixRule } from "./rules";

/** One `bucket` source of the backup bucket and its restore window. */
export interface BucketSourceWindow {
  name: string;
  /** Snapshots are kept this many days. */
  windowDays: number;
}

/**
 * The lifecycle and lock rules of `bucket` sources, appended to {@link bucketRules}' rules.
 *
 * Why 2 × window for stored copies: each snapshot references copies younger than the window,
 * because the runner re-copies (from the app's bucket) any object whose stored copy is older. A
 * snapshot taken at t is kept until t + window; a copy it references was made after t − window and
 * lives until after t + window. So no kept snapshot ever references an expired copy, with copies
 * kept no longer than that bound needs (test/config/bucketSourceRules.property.test.ts).
 *
 * Locks (R2 bucket-lock rules; on S3 the runner sets each object's retain-until from `--window`):
 * every prefix for `window` days, so that nothing a kept snapshot (or the journal between two
 * snapshots) needs can be deleted or overwritten by a leaked token before it is due.
 */
export function bucketSourceRules(prefix: string, sources: readonly BucketSourceWindow[]): PrefixRule[] {
  return sources.flatMap((s) => {
    const own = sourcePrefix(prefix, s.name);
    const rule = (dir: string, expireDays: number): PrefixRule => ({
      id: `${s.name}-${dir}`,
      prefix: joinKey(own, dir) + "/",
      expireDays,
      lockDays: s.windowDays,
    });
    return [
      rule(BUCKET_SOURCE_DIRS.snapshots, s.windowDays),
      rule(BUCKET_SOURCE_DIRS.journal, s.windowDays),
      rule(BUCKET_SOURCE_DIRS.objects, 2 * s.windowDays),
    ];
  });
}
