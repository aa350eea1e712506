import { splitTriggers } from "../../runner/src/pgtoc";

// `pg_restore --list` of the pgapp fixture (trimmed): header comments, entries, a commented entry.
const TOC = `;
; Archive created at 2026-12-01 11:06:33 UTC
;     dbname: app
;
; Selected TOC Entries:
;
6; 2615 16390 SCHEMA - shop app
905; 1247 16392 TYPE shop order_status app
240; 1255 16420 FUNCTION shop log_order() app
226; 1259 16430 TABLE shop orders app
227; 1259 16436 TABLE shop orders_2025 app
3420; 0 16436 TABLE DATA shop orders_2025 app
3421; 0 16460 TABLE DATA shop order_log app
3260; 2606 16470 CONSTRAINT shop orders orders_pkey app
3270; 2620 16480 TRIGGER shop orders orders_log app
3271; 2620 16481 TRIGGER shop orders_2025 orders_log app
3272; 2620 16482 TRIGGER shop customers customers_touch app
;3273; 2620 16483 TRIGGER shop old trigger app
3280; 2606 16490 FK CONSTRAINT shop orders orders_customer_id_fkey app
3422; 0 16500 MATERIALIZED VIEW DATA shop revenue_by_status app
`;

const active = (list: string) => list.split("\n").filter((l) => /^\d+;/.test(l));

test("triggers go to the second list, everything else stays in the first, in archive order", () => {
  const s = splitTriggers(TOC);
  expect(s.hasTriggers).toBe(true);
  expect(active(s.triggers).map((l) => l.split(" ")[3] + " " + l.split(" ")[5])).toEqual(["TRIGGER orders", "TRIGGER orders_2025", "TRIGGER customers"]);
  expect(active(s.main).some((l) => / TRIGGER /.test(l))).toBe(false);
  expect(active(s.main)).toHaveLength(active(TOC).length - 3);
  // Each file keeps every line (the other pass's entries commented out), so nothing is lost or reordered.
  const original = TOC.split("\n");
  for (const list of [s.main, s.triggers]) {
    const lines = list.split("\n");
    expect(lines).toHaveLength(original.length);
    lines.forEach((l, i) => expect([original[i], ";" + original[i]]).toContain(l));
  }
  // An entry already commented out in the input stays out of both passes.
  expect(active(s.main).concat(active(s.triggers)).some((l) => l.includes("old trigger"))).toBe(false);
});

test("an archive without triggers needs no second pass", () => {
  const s = splitTriggers(TOC.split("\n").filter((l) => !l.includes("TRIGGER")).join("\n"));
  expect(s.hasTriggers).toBe(false);
  expect(active(s.triggers)).toEqual([]);
});
