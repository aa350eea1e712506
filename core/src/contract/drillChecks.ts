/**
 * The drill checks as the stack config writes them and `verify` reads them (`--freshness-column`,
 * `--assert NAME=SQL`): config validation and the runner's flag parsing share these forms.
 */
const IDENT = String.raw`(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))`;
const COLUMN_RE = new RegExp(`^${IDENT}\\.${IDENT}\\.${IDENT}$`);
/** What a freshness column must look like. */
export const COLUMN_FORM = "schema.table.column, e.g. public.messages.created_at";

/** `schema.table.column` (each part a plain or double-quoted identifier) → its three parts; undefined when it is not one. */
export function splitColumn(text: string): { schema: string; table: string; column: string } | undefined {
  const m = COLUMN_RE.exec(text.trim());
  if (!m) return undefined;
  const part = (q: string | undefined, plain: string | undefined) => (q !== undefined ? q.replace(/""/g, '"') : plain!);
  return { schema: part(m[1], m[2]), table: part(m[3], m[4]), column: part(m[5], m[6]) };
}

/** An assertion's name: what its problem and the record show (no `=`, which ends it in `--assert NAME=SQL`). */
export const ASSERTION_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,99}$/;

