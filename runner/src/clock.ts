import { UsageError } from "./errors";

/**
 * When a backup run starts: the time its tier, key and object-lock retention are computed from.
 * `LIFEBOAT_NOW` (an ISO 8601 UTC time) replaces the wall clock so tests and drills can take a
 * Sunday, 1st-of-month or 1 January run on any day; production leaves it unset.
 */
export function runStart(env: NodeJS.ProcessEnv = process.env): Date {
  const text = env.LIFEBOAT_NOW;
  if (text === undefined || text === "") return new Date();
  const t = new Date(text);
  if (!/^\d{4}-\d\d-\d\dT/.test(text) || Number.isNaN(t.getTime())) {
    throw new UsageError(`LIFEBOAT_NOW: must be an ISO 8601 time such as 2026-01-01T03:00:00Z, got ${JSON.stringify(text)}`);
  }
  return t;
}
