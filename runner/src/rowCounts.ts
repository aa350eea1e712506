/**
 * Row counts, as a manifest records them and a restore (or a drill) finds them: what differs is
 * what `restore` and `verify` report as a mismatch.
 */

/** Differences between the manifest's row counts and the restored ones, one line per table. */
export function compareCounts(expected: Array<{ table: string; rows: number }>, actual: Array<{ table: string; rows: number }>): string[] {
  const got = new Map(actual.map((t) => [t.table, t.rows]));
  const out: string[] = [];
  for (const t of expected) {
    const n = got.get(t.table);
    if (n === undefined) out.push(`${t.table}: expected ${t.rows} rows, table missing from the restore`);
    else if (n !== t.rows) out.push(`${t.table}: expected ${t.rows} rows, restored ${n}`);
  }
  const want = new Set(expected.map((t) => t.table));
  for (const t of actual) if (!want.has(t.table)) out.push(`${t.table}: restored ${t.rows} rows, table not in the manifest`);
  return out;
}
