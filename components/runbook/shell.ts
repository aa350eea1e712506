/** Shell quoting for the commands the runbook prints. Pure. */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** `$NAME` or `${NAME}`: a reference to a shell variable the runbook sets beforehand. */
const VARIABLE = /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$/;

/** One word for POSIX shells: bare when safe, else single-quoted. */
export function shellQuote(s: string): string {
  if (s !== "" && SAFE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A command line from argv. An argument that is exactly a variable reference (`$TARGET_URL`)
 * becomes `"$TARGET_URL"`, so secrets stay in the environment and out of the runbook; every
 * other argument is quoted with {@link shellQuote}.
 */
export function shellJoin(argv: readonly string[]): string {
  return argv.map((a) => (VARIABLE.test(a) ? `"${a}"` : shellQuote(a))).join(" ");
}

/** A value for an assignment: like {@link shellQuote}, but a path under `$HOME/` keeps `$HOME` expandable. */
export function shellValue(s: string): string {
  const m = /^\$HOME(\/[A-Za-z0-9_@%+=:,.\/-]*)?$/.exec(s);
  return m ? `"$HOME${m[1] ?? ""}"` : shellQuote(s);
}
