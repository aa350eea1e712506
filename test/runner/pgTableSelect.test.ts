import fc from "fast-check";
import { closeOver, editDistance, notRestored, parseToc, prerequisites, selectTables, useList } from "../../runner/src/pgTableSelect";

// `pg_restore --list --verbose` of a real PostgreSQL 15 dump: a serial table with a unique
// constraint and an expression index, a partitioned table with an index, a view, and in schema
// sales an identity table with an enum column, a trigger, a comment, a grant and a foreign key.
const TOC = `; Selected TOC Entries:
;
3383; 0 0 ENCODING - ENCODING 
3384; 0 0 STDSTRINGS - STDSTRINGS 
3385; 0 0 SEARCHPATH - SEARCHPATH 
3386; 1262 16384 DATABASE - s postgres
6; 2615 16385 SCHEMA - sales postgres
845; 1247 16387 TYPE sales st postgres
;\tdepends on: 6
222; 1255 16414 FUNCTION sales tf() postgres
;\tdepends on: 6
216; 1259 16392 TABLE public customers postgres
215; 1259 16391 SEQUENCE public customers_id_seq postgres
;\tdepends on: 216
3387; 0 0 SEQUENCE OWNED BY public customers_id_seq postgres
;\tdepends on: 215
219; 1259 16416 TABLE public p postgres
220; 1259 16419 TABLE public p1 postgres
;\tdepends on: 219
221; 1259 16424 VIEW public v postgres
;\tdepends on: 216 216
218; 1259 16404 TABLE sales orders postgres
;\tdepends on: 845 6
3388; 0 0 COMMENT sales TABLE orders postgres
;\tdepends on: 218
3389; 0 0 ACL sales TABLE orders postgres
;\tdepends on: 218
217; 1259 16403 SEQUENCE sales orders_id_seq postgres
;\tdepends on: 6 218
3219; 0 0 TABLE ATTACH public p1 postgres
;\tdepends on: 220 219
3220; 2604 16395 DEFAULT public customers id postgres
;\tdepends on: 216 215 216
3377; 0 16392 TABLE DATA public customers postgres
;\tdepends on: 216
3380; 0 16419 TABLE DATA public p1 postgres
;\tdepends on: 220
3379; 0 16404 TABLE DATA sales orders postgres
;\tdepends on: 218
3390; 0 0 SEQUENCE SET public customers_id_seq postgres
;\tdepends on: 215
3391; 0 0 SEQUENCE SET sales orders_id_seq postgres
;\tdepends on: 217
3223; 2606 16401 CONSTRAINT public customers customers_name_key postgres
;\tdepends on: 216
3225; 2606 16399 CONSTRAINT public customers customers_pkey postgres
;\tdepends on: 216
3227; 2606 16408 CONSTRAINT sales orders orders_pkey postgres
;\tdepends on: 218
3221; 1259 16402 INDEX public cn postgres
;\tdepends on: 216 216
3228; 1259 16422 INDEX public p_id_idx postgres
;\tdepends on: 219
3229; 1259 16423 INDEX public p1_id_idx postgres
;\tdepends on: 220 3228 220
3230; 0 0 INDEX ATTACH public p1_id_idx postgres
;\tdepends on: 3229 3228 220 219
3232; 2620 16415 TRIGGER sales orders t1 postgres
;\tdepends on: 222 218
3231; 2606 16409 FK CONSTRAINT sales orders orders_c_fkey postgres
;\tdepends on: 3225 216 218
`;

const entries = parseToc(TOC);
const names = (ids: Set<number>) => entries.filter((e) => ids.has(e.id)).map((e) => `${e.desc} ${e.schema}.${e.name}`);

test("parses multi-word descs, tags with spaces and dependency lines", () => {
  expect(entries).toHaveLength(33);
  expect(entries.find((e) => e.id === 3232)).toEqual({ id: 3232, desc: "TRIGGER", schema: "sales", name: "orders t1", deps: [222, 218] });
  expect(entries.find((e) => e.id === 3387)).toEqual({ id: 3387, desc: "SEQUENCE OWNED BY", schema: "public", name: "customers_id_seq", deps: [215] });
  expect(entries.find((e) => e.id === 6)).toEqual({ id: 6, desc: "SCHEMA", schema: "", name: "sales", deps: [] });
});

test("one table brings its owned sequence and value, default, constraints, indexes and data; the view and the other table's foreign key stay out, reported", () => {
  const s = selectTables(entries, ["customers"], []);
  expect(s.tables).toEqual([{ schema: "public", name: "customers" }]);
  expect(names(s.ids).sort()).toEqual(
    [
      "ENCODING .ENCODING", "STDSTRINGS .STDSTRINGS", "SEARCHPATH .SEARCHPATH",
      "TABLE public.customers", "SEQUENCE public.customers_id_seq", "SEQUENCE OWNED BY public.customers_id_seq",
      "DEFAULT public.customers id", "TABLE DATA public.customers", "SEQUENCE SET public.customers_id_seq",
      "CONSTRAINT public.customers customers_name_key", "CONSTRAINT public.customers customers_pkey", "INDEX public.cn",
    ].sort(),
  );
  expect(notRestored(entries, s.ids).sort()).toEqual(["FK CONSTRAINT sales.orders orders_c_fkey", "VIEW public.v"]);
  expect(prerequisites(entries, s.ids)).toEqual([]);
});

test("with --schema: the identity sequence, trigger, comment and grant come along; the schema, enum and trigger function are prerequisites", () => {
  const s = selectTables(entries, ["orders"], ["sales"]);
  expect(names(s.ids)).toEqual(expect.arrayContaining(["SEQUENCE sales.orders_id_seq", "SEQUENCE SET sales.orders_id_seq", "TRIGGER sales.orders t1", "COMMENT sales.TABLE orders", "ACL sales.TABLE orders", "CONSTRAINT sales.orders orders_pkey"]));
  expect(notRestored(entries, s.ids)).toEqual(["FK CONSTRAINT sales.orders orders_c_fkey"]);
  expect(prerequisites(entries, s.ids).map((e) => e.id)).toEqual([6, 222, 845]);
  // The target lacks them: they come along, and nothing else in schema sales does for it.
  const withOther = parseToc(TOC + "250; 1259 16600 TABLE sales notes postgres\n;\tdepends on: 6\n251; 0 16600 TABLE DATA sales notes postgres\n;\tdepends on: 250\n");
  const t = selectTables(withOther, ["orders"], ["sales"]);
  for (const p of prerequisites(withOther, t.ids)) t.ids.add(p.id);
  closeOver(withOther, t.ids);
  expect(t.ids.has(250)).toBe(false);
  expect(notRestored(withOther, t.ids)).toEqual(["FK CONSTRAINT sales.orders orders_c_fkey"]);
  // Both tables: the foreign key between them comes along too.
  const both = selectTables(entries, ["orders", "customers"], []);
  expect(names(both.ids)).toContain("FK CONSTRAINT sales.orders orders_c_fkey");
  expect(notRestored(entries, both.ids)).toEqual(["VIEW public.v"]);
});

test("--schema alone selects every table in it; --table without --schema matches the name in any schema", () => {
  expect(selectTables(entries, [], ["public"]).tables).toEqual([
    { schema: "public", name: "customers" }, { schema: "public", name: "p" }, { schema: "public", name: "p1" },
  ]);
  expect(selectTables(entries, ["orders"], []).tables).toEqual([{ schema: "sales", name: "orders" }]);
});

test("a partitioned table brings its partitions, their data, ATTACH and the partition index with its ATTACH", () => {
  const s = selectTables(entries, ["p"], []);
  expect(s.tables).toEqual([{ schema: "public", name: "p" }, { schema: "public", name: "p1" }]);
  expect(names(s.ids)).toEqual(expect.arrayContaining(["TABLE ATTACH public.p1", "TABLE DATA public.p1", "INDEX public.p_id_idx", "INDEX public.p1_id_idx", "INDEX ATTACH public.p1_id_idx"]));
  // The partition alone: its data, not the parent's index.
  const p1 = selectTables(entries, ["p1"], []);
  expect(names(p1.ids)).toEqual(expect.arrayContaining(["TABLE public.p1", "TABLE DATA public.p1"]));
  expect(notRestored(entries, p1.ids).sort()).toEqual(["INDEX ATTACH public.p1_id_idx", "INDEX public.p1_id_idx", "TABLE ATTACH public.p1"]);
});

test("a sequence the table does not own (a default nextval of a shared sequence, as Pagila's payment has) is a prerequisite; once added, its value comes with it", () => {
  const toc = parseToc(`; Selected TOC Entries:
230; 1259 16500 SEQUENCE public payment_payment_id_seq postgres
231; 1259 16510 TABLE public payment postgres
;\tdepends on: 230
232; 1259 16520 TABLE public payment_p2022_01 postgres
;\tdepends on: 231 230
3500; 0 0 TABLE ATTACH public payment_p2022_01 postgres
;\tdepends on: 232 231
3501; 0 16520 TABLE DATA public payment_p2022_01 postgres
;\tdepends on: 232
3502; 0 0 SEQUENCE SET public payment_payment_id_seq postgres
;\tdepends on: 230
3503; 0 0 ACL public TABLE payment_payment_id_seq postgres
;\tdepends on: 230
`);
  const s = selectTables(toc, ["payment"], []);
  expect([...s.ids].sort()).toEqual([231, 232, 3500, 3501]);
  expect(prerequisites(toc, s.ids).map((e) => e.id)).toEqual([230]);
  // The target lacks it: the sequence, its value and its grant come along.
  s.ids.add(230);
  closeOver(toc, s.ids);
  expect([...s.ids].sort()).toEqual([230, 231, 232, 3500, 3501, 3502, 3503]);
  expect(notRestored(toc, s.ids)).toEqual([]);
});

test("an unknown table or schema is a usage error naming it and the close matches", () => {
  expect(() => selectTables(entries, ["customer"], [])).toThrow(/--table customer: the dump holds no table customer; close matches: customers/);
  expect(() => selectTables(entries, ["orders"], ["public"])).toThrow(/--table orders: the dump holds no table orders in schema public; close matches: .*sales\.orders/);
  expect(() => selectTables(entries, [], ["sale"])).toThrow(/--schema sale: .*close matches: sales/);
  expect(() => selectTables(entries, ["zzzzzzzzzz"], [])).toThrow(/holds no similar name/);
});

test("useList comments out exactly the unselected entries, keeping every line in order", () => {
  const s = selectTables(entries, ["customers"], []);
  const out = useList(TOC, s.ids).split("\n");
  const orig = TOC.split("\n");
  expect(out).toHaveLength(orig.length);
  out.forEach((l, i) => expect(l).toBe(/^\d+;/.test(orig[i]!) && !s.ids.has(Number(orig[i]!.split(";")[0])) ? ";" + orig[i] : orig[i]));
});

test("editDistance is a metric: symmetric, zero only for equal strings, triangle inequality", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b, c) => {
      expect(editDistance(a, b)).toBe(editDistance(b, a));
      expect(editDistance(a, b) === 0).toBe(a === b);
      expect(editDistance(a, c)).toBeLessThanOrEqual(editDistance(a, b) + editDistance(b, c));
    }),
  );
});
