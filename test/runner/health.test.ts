/**
 * The pure rules `status` judges a source by (runner/src/health.ts), with plain data: what a
 * failed drill, lost rows, an unreadable manifest or an empty archive must make it say.
 */
import { BackupEntry } from "../../runner/src/catalog";
import fc from "fast-check";
import { evaluateSource, forecastNextDrill, HealthLimits, ReadBackup, readNewest, rtoProblem, statusLine } from "../../runner/src/health";
import { Manifest, Verification } from "../../runner/src/manifest";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const LIMITS: HealthLimits = { maxAge: 26 * 3600, shrink: 0.5, maxTableShrink: 0.5 };
const HOUR = 3600_000;

/** A postgres backup taken `hoursAgo`, with these table row counts. */
function backup(hoursAgo: number, tables: Record<string, number> = { orders: 1000 }, extra: Partial<Manifest> = {}): ReadBackup {
  const t = new Date(NOW - hoursAgo * HOUR);
  const key = `prod/app-db/daily/${t.toISOString().replace(/[-:]/g, "")}-abababababab.dump.zst.age`;
  const entry: BackupEntry = { key, manifestKey: key + ".manifest.json", parts: { source: "app-db", tier: "daily", time: t } as BackupEntry["parts"], size: 5 << 20, storedAt: t, flags: [] };
  const manifest = {
    version: 1, source: "app-db", kind: "postgres", tier: "daily", key, startedAt: t.toISOString(), finishedAt: t.toISOString(),
    rawBytes: 10 << 20, storedBytes: 5 << 20, sha256: "0".repeat(64), compression: { tool: "zstd", level: 3 },
    encryption: { tool: "age", recipientFingerprints: ["x"] }, tools: {},
    postgres: { serverVersion: "15", database: "app", tables: Object.entries(tables).map(([table, rows]) => ({ table, rows })) },
    ...extra,
  } as Manifest;
  return { entry, manifest };
}

function drill(of: ReadBackup, hoursAgo: number, ok: boolean): Verification {
  return { version: 1, key: of.entry.key, source: "app-db", ok, checkedAt: new Date(NOW - hoursAgo * HOUR).toISOString(), durationSeconds: 30, problems: ok ? [] : ["row counts differ: orders 1000 != 0"] };
}

const records = (...v: Verification[]) => new Map(v.map((r) => [r.key, r]));

describe("a failed drill", () => {
  const weekOld = backup(24 * 7);
  const prev = backup(2);
  const newest = backup(1);

  test("keeps the source unhealthy after newer, unverified backups land", () => {
    const h = evaluateSource("app-db", newest, prev, records(drill(weekOld, 24 * 6, false)), LIMITS, NOW);
    expect(h.healthy).toBe(false);
    expect(h.problems.join("\n")).toMatch(/verification failed .*row counts differ/);
    expect(h.problems.join("\n")).toContain(weekOld.entry.key);
  });

  test("stops counting once a newer drill passes", () => {
    const h = evaluateSource("app-db", newest, prev, records(drill(weekOld, 24 * 6, false), drill(prev, 1, true)), LIMITS, NOW);
    expect(h.problems).toEqual([]);
    expect(h.healthy).toBe(true);
  });

  test("an older passing drill does not clear a newer failure", () => {
    const h = evaluateSource("app-db", newest, prev, records(drill(prev, 1, false), drill(weekOld, 24 * 6, true)), LIMITS, NOW);
    expect(h.healthy).toBe(false);
  });
});

describe("rows lost per table", () => {
  // Measured in issue #17: three tables emptied, ~37k rows gone, the dump 3% smaller.
  const before = { orders: 120_000, customers: 20_000, audit_log: 15_000, sessions: 2_000, leads: 30_000 };

  test("emptied, vanished and shrunk tables are named even when the total barely moves", () => {
    const prev = backup(25, before);
    const newest = backup(1, { orders: 120_500, customers: 0, audit_log: 0, leads: 9_000 }, { rawBytes: Math.round((10 << 20) * 0.97) });
    const h = evaluateSource("app-db", newest, prev, new Map(), LIMITS, NOW);
    expect(h.healthy).toBe(false);
    const text = h.problems.join("\n");
    expect(text).toMatch(/customers.*emptied/);
    expect(text).toMatch(/audit_log.*emptied/);
    expect(text).toMatch(/sessions.*vanished/);
    expect(text).toMatch(/leads.*30000 → 9000/);
    expect(text).not.toMatch(/orders/);
  });

  test("a loss under the share passes; the share is the limit's", () => {
    const prev = backup(25, before);
    const newest = backup(1, { ...before, leads: 20_000 });
    expect(evaluateSource("app-db", newest, prev, new Map(), LIMITS, NOW).healthy).toBe(true);
    expect(evaluateSource("app-db", newest, prev, new Map(), { ...LIMITS, maxTableShrink: 0.2 }, NOW).problems.join("\n")).toMatch(/leads/);
  });

  test("a table that was already empty is not reported as emptied", () => {
    const prev = backup(25, { ...before, drafts: 0 });
    const newest = backup(1, { ...before, drafts: 0 });
    expect(evaluateSource("app-db", newest, prev, new Map(), LIMITS, NOW).healthy).toBe(true);
  });
});

describe("an unreadable manifest", () => {
  const older = backup(3);
  const prev = backup(2);
  const newest = backup(1);
  const byKey = new Map([older, prev, newest].map((b) => [b.entry.key, b.manifest]));
  const reader = (bad: Set<string>) => async (e: BackupEntry) => {
    if (bad.has(e.key)) throw new Error(`manifest ${e.manifestKey} is not valid JSON: Unexpected token`);
    return byKey.get(e.key)!;
  };

  test("is its own problem; newest and previous are the readable backups before it", async () => {
    const r = await readNewest([older.entry, prev.entry, newest.entry], reader(new Set([newest.entry.key])));
    expect(r.problems).toEqual([`unreadable manifest: manifest ${newest.entry.manifestKey} is not valid JSON: Unexpected token`]);
    expect(r.newest?.entry.key).toBe(prev.entry.key);
    expect(r.previous?.entry.key).toBe(older.entry.key);
  });

  test("with none readable, nothing is judged and the problems say why", async () => {
    const r = await readNewest([prev.entry, newest.entry], reader(new Set([prev.entry.key, newest.entry.key])));
    expect(r.newest).toBeUndefined();
    expect(r.problems).toHaveLength(2);
  });

  test("only the two newest readable manifests are read", async () => {
    const read = jest.fn(reader(new Set()));
    const r = await readNewest([older.entry, prev.entry, newest.entry], read);
    expect(r.problems).toEqual([]);
    expect(read).toHaveBeenCalledTimes(2);
  });
});

describe("how status shows times", () => {
  test("ages and limits in one human format, never raw seconds", () => {
    const old = backup(5_295_074 / 3600);
    const h = evaluateSource("app-db", old, undefined, new Map(), LIMITS, NOW);
    expect(h.problems[0]).toBe("overdue: newest backup is 61d 6h old, more than --max-age 1d 2h");
    expect(statusLine(h)).toMatch(/\(61d 6h ago\)/);
    expect(statusLine(evaluateSource("app-db", backup(1161 / 3600), undefined, new Map(), LIMITS, NOW))).toMatch(/\(19m 21s ago\)/);
  });

  test("a newest backup dated ahead of this host's clock says so instead of '1s ago'", () => {
    const h = evaluateSource("app-db", backup(-2 / 60), undefined, new Map(), LIMITS, NOW);
    expect(h.healthy).toBe(true);
    expect(statusLine(h)).toMatch(/\(2m ahead of this host's clock\)/);
  });

  test("age's bug-report banner stays out of status, even from records written before it was stripped", () => {
    const b = backup(1);
    const v = { ...drill(b, 0.5, false), problems: ["decrypt: age exited with code 1: age: error: no identity matched any of the recipients\nage: report unexpected or unhelpful errors at https://filippo.io/age/report"] };
    const line = statusLine(evaluateSource("app-db", b, undefined, records(v), LIMITS, NOW));
    expect(line).toMatch(/no identity matched/);
    expect(line).not.toMatch(/filippo|report unexpected/);
  });
});

describe("an archive with no files", () => {
  const archive = (files: number) => ({ kind: "volume" as const, postgres: undefined, archive: { files, fileBytes: files * 100, entries: files + 1, sqliteSnapshots: [] } });

  test("is flagged even as the first backup (a volume that was not mounted)", () => {
    const h = evaluateSource("n8n-data", backup(1, {}, archive(0)), undefined, new Map(), LIMITS, NOW);
    expect(h.healthy).toBe(false);
    expect(h.problems).toEqual([expect.stringMatching(/^empty: the archive holds no files/)]);
  });

  test("one file is enough", () => {
    expect(evaluateSource("n8n-data", backup(1, {}, archive(1)), undefined, new Map(), LIMITS, NOW).healthy).toBe(true);
  });
});

describe("the older backup a drill also restored", () => {
  const newest = backup(1);
  const prev = backup(2);
  test("failing makes the source unhealthy, naming its tier and key, though the newest backup passed", () => {
    const d: Verification = { ...drill(newest, 1, true), older: { key: "prod/app-db/yearly/20260101T030000Z-aa.dump.zst.age", tier: "yearly", ok: false, durationSeconds: 40, problems: ["cannot decrypt"], seed: 7 } };
    const h = evaluateSource("app-db", newest, prev, records(d), LIMITS, NOW);
    expect(h.healthy).toBe(false);
    expect(h.problems).toEqual([expect.stringMatching(/^verification of an older backup failed .*yearly backup prod\/app-db\/yearly\/20260101T030000Z-aa.*cannot decrypt/)]);
    expect(h.newest?.verified).toBe("ok");
  });
});

describe("restore drill times against the declared RTO", () => {
  const newest = backup(1);
  const prev = backup(2);
  /** Passing drills of the newest backup, a week apart, oldest first, taking these seconds. */
  const history = (seconds: number[]): Verification[] =>
    seconds.map((s, i) => ({ ...drill(newest, 24 * 7 * (seconds.length - i), true), durationSeconds: s }));
  const judge = (seconds: number[], rto: number) => {
    const h = history(seconds);
    return evaluateSource("app-db", newest, prev, records(...h), { ...LIMITS, rtoSeconds: rto }, NOW, undefined, h);
  };

  test("a steady rise is flagged before any drill crossed the RTO; one lucky fast drill does not hide it", () => {
    // 10m, 20m, 30m, 40m, then 30s: the next is forecast at 1h, over a 55m RTO none of them reached.
    const h = judge([600, 1200, 1800, 2400, 30], 3300);
    expect(h.problems).toEqual([expect.stringMatching(/^RTO at risk: restore drills are getting slower \(the last 5: 10m, 20m, 30m, 40m, 30s\); the next is forecast at 1h, more than the declared RTO 55m$/)]);
    expect(h.rtoTrend).toEqual({ rtoSeconds: 3300, recentSeconds: [600, 1200, 1800, 2400, 30], forecastSeconds: 3600 });
  });

  test("a flat history well under the RTO is healthy; over 80% and over the RTO are each said", () => {
    expect(judge([600, 620, 590, 610], 3600).problems).toEqual([]);
    expect(judge([600, 3000], 3600).problems).toEqual([expect.stringMatching(/^RTO at risk: the latest restore drill took 50m, 83% of the declared RTO 1h/)]);
    expect(judge([600, 4000], 3600).problems).toEqual([expect.stringMatching(/^RTO exceeded: the latest restore drill took 1h 6m/)]);
  });

  test("only the last 8 passing drills count, and failed drills' times are not restore times", () => {
    const old = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000];
    expect(judge([...old.slice(0, 2), ...Array(8).fill(100)], 1000).rtoTrend!.recentSeconds).toEqual(Array(8).fill(100));
    const h = [...history([100, 100, 100]), { ...drill(newest, 1, false), durationSeconds: 99999 }, ...history([100])];
    const r = evaluateSource("app-db", newest, prev, records(...h), { ...LIMITS, rtoSeconds: 1000 }, NOW, undefined, h);
    expect(r.rtoTrend!.recentSeconds).not.toContain(99999);
  });

  const durations = fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 12 });
  const rto = fc.double({ min: 1, max: 1e6, noNaN: true });

  test("property: a newest drill over the RTO is always a problem", () => {
    fc.assert(fc.property(durations, rto, (d, r) => !(d[d.length - 1]! > r) || rtoProblem(d, r)?.startsWith("RTO exceeded") === true));
  });

  test("property: drills that never got slower, all within 80% of the RTO, raise nothing", () => {
    fc.assert(
      fc.property(durations, rto, (d, r) => {
        const down = [...d].sort((a, b) => b - a).map((x) => (x / 1e6) * r * 0.8);
        return rtoProblem(down, r) === undefined;
      }),
    );
  });

  test("property: the verdict does not depend on the unit (times and RTO scaled together)", () => {
    fc.assert(fc.property(durations, rto, fc.integer({ min: 0, max: 20 }), (d, r, k) => {
      const s = 2 ** k; // scaling up by a power of two is exact in floating point
      return (rtoProblem(d, r) === undefined) === (rtoProblem(d.map((x) => x * s), r * s) === undefined);
    }));
  });

  test("property: slower by a constant everywhere never clears a problem", () => {
    fc.assert(fc.property(durations, rto, fc.double({ min: 0, max: 1e6, noNaN: true }), (d, r, c) => rtoProblem(d, r) === undefined || rtoProblem(d.map((x) => x + c), r) !== undefined));
  });

  test("property: the forecast stays within the drills' range stretched by their steepest step, n steps on", () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 3, maxLength: 12 }), (d) => {
      const f = forecastNextDrill(d)!;
      const steps = d.slice(1).map((x, i) => x - d[i]!);
      const n = d.length;
      const eps = 1e-6 * (1 + Math.max(...d));
      return f >= Math.min(...d) + Math.min(0, ...steps) * n - eps && f <= Math.max(...d) + Math.max(0, ...steps) * n + eps;
    }));
  });
});
