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

/** Exit codes: 0 ok, 1 failed run / unhealthy / mismatch, 2 bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
