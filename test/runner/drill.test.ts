/**
 * The pure decisions of a restore drill (runner/src/drill.ts): which older backup it restores
 * besides the newest, how its stage times add up, and what freshness and assertions accept.
 */
import fc from "fast-check";
import { Tier, TIERS } from "lifeboat-core";
import { BackupEntry } from "../../runner/src/catalog";
import { assertionHeld, freshnessProblem, parseAssertion, parseColumn, pickOlder, seededRandom, stageSeconds } from "../../runner/src/drill";

const DAY = 86_400_000;
const T0 = Date.parse("2026-12-01T03:00:00Z");

function entry(tier: Tier, daysAgo: number, flags: string[] = []): BackupEntry {
  const time = new Date(T0 - daysAgo * DAY);
  const key = `prod/db/${tier}/${time.toISOString().replace(/[-:]/g, "").replace(".000", "")}-${String(daysAgo).padStart(6, "0")}.dump.zst.age`;
  return { key, manifestKey: `${key}.manifest.json`, parts: { prefix: "prod", source: "db", tier, time, random: "ab", ext: "dump.zst.age" }, size: 1, storedAt: time, flags };
}

describe("the older backup a drill also restores", () => {
  const newest = entry("daily", 0);
  const dailies = Array.from({ length: 29 }, (_, i) => entry("daily", i + 1));
  const all = [...dailies, entry("weekly", 9), entry("monthly", 40), entry("yearly", 340), newest];

  test("is of another tier when one exists, each tier as likely however many dailies there are", () => {
    const seen = new Map<string, number>();
    for (let seed = 0; seed < 600; seed++) {
      const o = pickOlder(all, newest, seededRandom(seed))!;
      seen.set(o.parts.tier, (seen.get(o.parts.tier) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(["monthly", "weekly", "yearly"]);
    for (const n of seen.values()) expect(n).toBeGreaterThan(150);
  });

  test("is the same for the same seed, and an older daily when there is no other tier", () => {
    expect(pickOlder(all, newest, seededRandom(42))).toBe(pickOlder(all, newest, seededRandom(42)));
    expect(pickOlder([...dailies, newest], newest, seededRandom(1))!.parts.tier).toBe("daily");
    expect(pickOlder([newest], newest, seededRandom(1))).toBeUndefined();
  });

  test("property: always a trusted backup taken before the primary, never the primary", () => {
    const arb = fc.array(fc.record({ tier: fc.constantFrom(...TIERS), days: fc.integer({ min: -30, max: 4000 }), bad: fc.boolean() }), { maxLength: 30 });
    fc.assert(fc.property(arb, fc.integer({ min: 0, max: 2 ** 32 - 1 }), (specs, seed) => {
      const es = specs.map((s) => entry(s.tier, s.days, s.bad ? ["untrusted"] : []));
      const o = pickOlder([...es, newest], newest, seededRandom(seed));
      const eligible = es.filter((e) => !e.flags.length && e.parts.time < newest.parts.time);
      if (!eligible.length) return o === undefined;
      return !!o && eligible.includes(o) && (eligible.every((e) => e.parts.tier === newest.parts.tier) || o.parts.tier !== newest.parts.tier);
    }));
  });
});

test("stage times add up to the drill's duration; an unmarked stage takes none of its own", () => {
  expect(stageSeconds(0, { download: 4000, decrypt: 4500, restore: 9000 }, 10_000)).toEqual({ downloadSeconds: 4, decryptSeconds: 0.5, restoreSeconds: 4.5, checksSeconds: 1 });
  expect(stageSeconds(0, { download: 2000, decrypt: 3000 }, 5000)).toEqual({ downloadSeconds: 2, decryptSeconds: 1, restoreSeconds: 0, checksSeconds: 2 });
  fc.assert(fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 1e6 })), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 1e6 }), ([d, c, r], end) => {
    const s = stageSeconds(0, { ...(d !== null ? { download: d } : {}), ...(c !== null ? { decrypt: c } : {}), ...(r !== null ? { restore: r } : {}) }, end);
    const sum = s.downloadSeconds + s.decryptSeconds + s.restoreSeconds + s.checksSeconds;
    return Math.abs(sum - end / 1000) < 1e-9 && Object.values(s).every((x) => x >= 0);
  }));
});

describe("freshness", () => {
  const backupTime = new Date("2026-12-01T03:00:00Z");
  const f = { label: "public.messages.created_at", withinSeconds: 86_400 };
  const fmt = (s: number) => `${Math.round(s / 3600)}h`;
  test("a newest value within the window passes; a stale or empty table fails, naming the column", () => {
    expect(freshnessProblem(f, new Date("2026-12-01T01:00:00Z"), backupTime, fmt)).toBeUndefined();
    expect(freshnessProblem(f, new Date("2026-11-28T03:00:00Z"), backupTime, fmt)).toMatch(/^freshness: newest public.messages.created_at is 2026-11-28T03:00:00.000Z, 72h before the backup was taken .*more than 24h: a stale database/);
    expect(freshnessProblem(f, null, backupTime, fmt)).toMatch(/public.messages.created_at has no value/);
  });
  test("the column is schema.table.column, quoted identifiers allowed; anything else names the flag", () => {
    expect(parseColumn("public.messages.created_at", "--freshness-column")).toEqual({ schema: "public", table: "messages", column: "created_at" });
    expect(parseColumn('app."Chat ""Log""".at', "--freshness-column")).toEqual({ schema: "app", table: 'Chat "Log"', column: "at" });
    expect(() => parseColumn("messages.created_at", "--freshness-column")).toThrow(/^--freshness-column: must be schema.table.column/);
    expect(() => parseColumn("a.b.c; drop table x", "--freshness-column")).toThrow(/--freshness-column/);
  });
});

describe("SQL assertions", () => {
  test("NAME=SQL, the SQL may hold '='", () => {
    expect(parseAssertion("users exist=SELECT count(*) = 3 FROM users", "--assert")).toEqual({ name: "users exist", sql: "SELECT count(*) = 3 FROM users" });
    expect(() => parseAssertion("=SELECT true", "--assert")).toThrow(/^--assert: must be NAME=SQL/);
    expect(() => parseAssertion("name only", "--assert")).toThrow(/^--assert: must be NAME=SQL/);
  });
  test("hold on exactly one row whose first value is not false or NULL", () => {
    expect(assertionHeld([{ ok: true }])).toEqual({ ok: true });
    expect(assertionHeld([{ id: 7 }])).toEqual({ ok: true });
    expect(assertionHeld([{ ok: false }])).toEqual({ ok: false, why: "returned false" });
    expect(assertionHeld([{ ok: null }])).toEqual({ ok: false, why: "returned null" });
    expect(assertionHeld([])).toEqual({ ok: false, why: "returned 0 rows, expected one" });
    expect(assertionHeld([{ a: 1 }, { a: 2 }])).toEqual({ ok: false, why: "returned 2 rows, expected one" });
  });
});
