/**
 * `restore --table/--schema`: which entries of a dump's table of contents bring back the chosen
 * tables whole. `pg_restore -t` alone restores only the table's definition and data, none of
 * its indexes, constraints, triggers, owned sequences or grants. Here the selection starts
 * from the chosen TABLE entries and follows the dependencies pg_dump recorded
 * (`pg_restore --list --verbose` prints them as `;\tdepends on: ID ...`): an entry that depends
 * on a selected relation comes along when every relation it depends on is selected (an index,
 * a constraint, a partition and its ATTACH, a trigger, a grant, a comment, a sequence the table
 * owns and its value); one that also needs a relation outside the selection (a foreign key to
 * an unselected table, a view) is reported as not restored. What the selected entries need that
 * is not a relation (a schema, a type, a function) is a prerequisite: restored only when the
 * target lacks it (see {@link prerequisites}). Pure: no I/O.
 */
import { UsageError } from "./errors";

export interface TocEntry {
  id: number;
  desc: string;
  /** "" for objects outside any schema (the TOC prints "-"). */
  schema: string;
  /** pg_dump's tag: a table's name, "TABLE name" for its ACL/COMMENT, "table constraint" for a constraint. */
  name: string;
  deps: number[];
}

/** Every pg_dump TOC `desc` with a space in it; the others are one word. */
const MULTIWORD = [
  "BLOB DATA",
  "BLOB METADATA",
  "CHECK CONSTRAINT",
  "DATABASE PROPERTIES",
  "DEFAULT ACL",
  "EVENT TRIGGER",
  "FK CONSTRAINT",
  "FOREIGN DATA WRAPPER",
  "FOREIGN SERVER",
  "FOREIGN TABLE",
  "INDEX ATTACH",
  "LARGE OBJECT",
  "MATERIALIZED VIEW DATA",
  "MATERIALIZED VIEW",
  "OPERATOR CLASS",
  "OPERATOR FAMILY",
  "PROCEDURAL LANGUAGE",
  "PUBLICATION TABLES IN SCHEMA",
  "PUBLICATION TABLE",
  "ROW SECURITY",
  "SECURITY LABEL",
  "SEQUENCE OWNED BY",
  "SEQUENCE SET",
  "SHELL TYPE",
  "TABLE ATTACH",
  "TABLE DATA",
  "TEXT SEARCH CONFIGURATION",
  "TEXT SEARCH DICTIONARY",
  "TEXT SEARCH PARSER",
  "TEXT SEARCH TEMPLATE",
  "USER MAPPING",
].sort((a, b) => b.length - a.length);

const ENTRY = /^(\d+); \d+ \d+ (.*)$/;
const DEPENDS = /^;\tdepends on:((?: \d+)*)\s*$/;

/**
 * The entries of `pg_restore --list --verbose` output: "ID; CATALOG OID DESC SCHEMA TAG OWNER",
 * each followed by its dependency line when it has dependencies. The owner is the last word and
 * the schema the first after DESC (names with spaces are found in the tag, not in those).
 */
export function parseToc(list: string): TocEntry[] {
  const out: TocEntry[] = [];
  for (const line of list.split("\n")) {
    const d = DEPENDS.exec(line);
    if (d && out.length) {
      out[out.length - 1]!.deps.push(...d[1]!.trim().split(/\s+/).filter(Boolean).map(Number));
      continue;
    }
    const m = ENTRY.exec(line);
    if (!m) continue;
    const rest = m[2]!;
    const desc = MULTIWORD.find((w) => rest.startsWith(w + " ")) ?? rest.split(" ")[0]!;
    const words = rest.slice(desc.length + 1).split(" ");
    const schema = words[0] === "-" ? "" : words[0]!;
    out.push({ id: Number(m[1]), desc, schema, name: words.slice(1, -1).join(" "), deps: [] });
  }
  return out;
}

/**
 * Relations: an entry depending on one outside the selection cannot come along. A sequence is
 * not among them: one the table does not own (a column default `nextval('shared_seq')`) is a
 * prerequisite like a type, restored with its value when the target lacks it.
 */
const RELATIONS = new Set(["TABLE", "TABLE DATA", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE", "INDEX", "CONSTRAINT", "FK CONSTRAINT"]);
/** What comes along with a selected table when all the relations it depends on are selected. */
const DEPENDENTS = new Set([
  "TABLE", // a partition (or inheritance child) of a selected table
  "TABLE DATA",
  "TABLE ATTACH",
  "SEQUENCE", // owned by a selected table (serial, identity)
  "SEQUENCE OWNED BY",
  "SEQUENCE SET",
  "DEFAULT",
  "CONSTRAINT",
  "CHECK CONSTRAINT",
  "FK CONSTRAINT",
  "INDEX",
  "INDEX ATTACH",
  "TRIGGER",
  "RULE",
  "POLICY",
  "ROW SECURITY",
  "STATISTICS",
  "COMMENT",
  "SECURITY LABEL",
  "ACL",
]);
/** Session settings every restore script starts with. */
const SETTINGS = new Set(["ENCODING", "STDSTRINGS", "SEARCHPATH"]);

export interface TableSelection {
  /** Entry ids to restore (prerequisites not yet added: see {@link prerequisites} and {@link closeOver}). */
  ids: Set<number>;
  /** The TABLE entries restored: the chosen tables and their partitions. */
  tables: Array<{ schema: string; name: string }>;
}

/**
 * The entries that restore `tables` (names; all tables when empty) in `schemas` (any schema
 * when empty), as `pg_restore -t/-n` match them: exact names. Throws a UsageError naming each
 * table (or schema) the dump does not hold, with the closest names it does hold.
 */
export function selectTables(entries: TocEntry[], tables: string[], schemas: string[]): TableSelection {
  const all = entries.filter((e) => e.desc === "TABLE");
  const inSchema = (e: TocEntry) => !schemas.length || schemas.includes(e.schema);
  for (const s of schemas) {
    if (!all.some((e) => e.schema === s)) throw new UsageError(`--schema ${s}: the dump holds no table in schema ${s}${closest(s, [...new Set(all.map((e) => e.schema))])}`);
  }
  for (const t of tables) {
    if (!all.some((e) => e.name === t && inSchema(e))) {
      const where = schemas.length ? ` in schema ${schemas.join(", ")}` : "";
      throw new UsageError(`--table ${t}: the dump holds no table ${t}${where}${closest(t, all.filter(inSchema).map((e) => e.name), all.map((e) => `${e.schema}.${e.name}`))}`);
    }
  }
  const chosen = all.filter((e) => inSchema(e) && (!tables.length || tables.includes(e.name)));
  const ids = new Set(chosen.map((e) => e.id));
  for (const e of entries) if (SETTINGS.has(e.desc)) ids.add(e.id);
  closeOver(entries, ids);
  return { ids, tables: entries.filter((e) => e.desc === "TABLE" && ids.has(e.id)).map((e) => ({ schema: e.schema, name: e.name })) };
}

/**
 * Whether `e` belongs to the selected tables through the selected entry `dep`: a table (a
 * partition) or a sequence (an owned one) through a selected table; anything else through a
 * selected relation or sequence. Never through a schema, type or function: every table in a
 * restored schema, or using a restored sequence in its default, is not thereby selected.
 */
function belongsVia(e: TocEntry, dep: TocEntry | undefined): boolean {
  if (!dep) return false;
  if (e.desc === "TABLE" || e.desc === "SEQUENCE") return dep.desc === "TABLE";
  return RELATIONS.has(dep.desc) || dep.desc === "SEQUENCE";
}

/**
 * Adds to `ids`, until nothing changes, every dependent entry that belongs to a selected one
 * (see belongsVia) and depends on no relation outside the selection (a partition's index joins
 * once the parent's has; a sequence's value once the sequence has).
 */
export function closeOver(entries: TocEntry[], ids: Set<number>): void {
  const byId = new Map(entries.map((e) => [e.id, e]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const e of entries) {
      if (ids.has(e.id) || !DEPENDENTS.has(e.desc)) continue;
      const belongs = e.deps.some((d) => ids.has(d) && belongsVia(e, byId.get(d)));
      if (belongs && e.deps.every((d) => ids.has(d) || !RELATIONS.has(byId.get(d)?.desc ?? ""))) {
        ids.add(e.id);
        changed = true;
      }
    }
  }
}

/** Entries that belong to a selected one but cannot come along (they need a relation outside the selection), described. */
export function notRestored(entries: TocEntry[], ids: Set<number>): string[] {
  const byId = new Map(entries.map((e) => [e.id, e]));
  return entries
    .filter((e) => !ids.has(e.id) && (RELATIONS.has(e.desc) || DEPENDENTS.has(e.desc)) && e.deps.some((d) => ids.has(d) && belongsVia(e, byId.get(d))))
    .map(describeEntry);
}

/** The entries the selected ones depend on that are neither selected nor relations: the schemas, types, functions, ... they need. */
export function prerequisites(entries: TocEntry[], ids: Set<number>): TocEntry[] {
  const byId = new Map(entries.map((e) => [e.id, e]));
  const need = new Map<number, TocEntry>();
  for (const e of entries) {
    if (!ids.has(e.id)) continue;
    for (const d of e.deps) {
      const p = byId.get(d);
      if (p && !ids.has(d) && !RELATIONS.has(p.desc)) need.set(d, p);
    }
  }
  return [...need.values()].sort((a, b) => a.id - b.id);
}

/** `pg_restore --use-list` contents: the `--list` output with every entry not in `ids` commented out. */
export function useList(list: string, ids: Set<number>): string {
  return list
    .split("\n")
    .map((l) => {
      const m = ENTRY.exec(l);
      return m && !ids.has(Number(m[1])) ? ";" + l : l;
    })
    .join("\n");
}

export function describeEntry(e: TocEntry): string {
  return `${e.desc} ${e.schema ? e.schema + "." : ""}${e.name}`;
}

/** "; close matches: a, b" from `names` (and `qualified`, schema.name forms), nearest first, or "". */
function closest(want: string, names: string[], qualified: string[] = []): string {
  const scored = [...new Set([...names, ...qualified])]
    .map((n) => ({ n, d: editDistance(want.toLowerCase(), n.toLowerCase()) }))
    .filter(({ n, d }) => d <= Math.max(2, Math.floor(want.length / 3)) || n.toLowerCase().includes(want.toLowerCase()) || want.toLowerCase().includes(n.toLowerCase()))
    .sort((a, b) => a.d - b.d || a.n.localeCompare(b.n))
    .slice(0, 5)
    .map(({ n }) => n);
  return scored.length ? `; close matches: ${scored.join(", ")}` : "; it holds no similar name";
}

/** Levenshtein distance (a few names, short strings: no dependency is worth it in the runner image). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
