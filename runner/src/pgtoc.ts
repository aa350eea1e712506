/**
 * A parallel pg_restore (--jobs) makes each table's post-data items wait for that table's data,
 * but a trigger on a partitioned table depends on the parent, which has no data of its own: it
 * can be created while the partitions are still loading and then fires for restored rows (an
 * audit trigger on the parent writes log rows that the log table's own data then duplicates).
 * Restoring the triggers in a second pass, after all data, avoids that. `splitTriggers` turns
 * `pg_restore --list` output into the two `--use-list` files: lines of the other pass are
 * commented out (a leading ";"), so each file still lists every entry in the archive's order.
 */
export function splitTriggers(toc: string): { main: string; triggers: string; hasTriggers: boolean } {
  const lines = toc.split("\n");
  // An entry line: "<dump id>; <catalog oid> <object oid> <DESC> <schema> <name> <owner>".
  const isTrigger = (l: string) => /^\d+; \d+ \d+ TRIGGER /.test(l);
  const comment = (keep: (l: string) => boolean) => lines.map((l) => (/^\d+;/.test(l) && !keep(l) ? ";" + l : l)).join("\n");
  return { main: comment((l) => !isTrigger(l)), triggers: comment(isTrigger), hasTriggers: lines.some(isTrigger) };
}
