/**
 * Errors the runner reports to people. A UsageError names the flag or input that is wrong and
 * is raised before anything is read from a source or written to a destination (exit 2).
 * A RunError is a failed run (exit 1).
 */
export class UsageError extends Error {
  override name = "UsageError";
}

export class RunError extends Error {
  override name = "RunError";
}

/**
 * Exit codes: 0 ok, 1 failed run / unhealthy / mismatch (reported and alerted), 2 bad usage,
 * 3 degraded backup (stored and restorable, but a named file is missing or changed while read;
 * alerted), 70 a crash (an error the runner did not expect; EX_SOFTWARE from sysexits.h), so a
 * caller can tell a reported failure from Node's own exit 1 on an uncaught error.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_DEGRADED = 3;
export const EXIT_CRASH = 70;

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
