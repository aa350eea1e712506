/**
 * The pure rules `status` judges a source by (runner/src/health.ts), with plain data: what a
 * failed drill, lost rows, an unreadable manifest or an empty archive must make it say.
 */
import { BackupEntry } from "../../runner/src/catalog";
import { evaluateSource, HealthLimits, ReadBackup, readNewest, statusLine } from "../../runner/src/health";
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
