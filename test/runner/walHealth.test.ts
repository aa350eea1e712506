/**
 * Remote WAL health (pure): the chain from the newest base backup's start (gaps, across a
 * timeline switch), the dead-sidecar rules (heartbeat object age, lag, not streaming, no
 * heartbeat and old WAL), the new-timeline demand, and the text line status and list print.
 */
import fc from "fast-check";
import { judgeWal, newestHeartbeatKey, heartbeatObjectKey, walChain, walLine, WalFacts } from "../../runner/src/pitr/walHealth";
import { WalObject } from "../../runner/src/pitr/wal";
import type { Heartbeat } from "../../runner/src/pitr/heartbeat";
import type { Manifest } from "../../runner/src/manifest";

const SEG = 16 * 1024 * 1024;
const NOW = Date.parse("2026-12-01T12:00:00Z");
const seg = (tli: number, n: number) => tli.toString(16).toUpperCase().padStart(8, "0") + "00000000" + n.toString(16).toUpperCase().padStart(8, "0");
const obj = (file: string, agoSeconds = 0): WalObject => ({ key: `p/s/wal/${file}`, manifestKey: `p/s/wal/${file}.manifest.json`, file, time: new Date(NOW - agoSeconds * 1000), size: 1 });
const base = (tli: number, startLsn: string) => ({ basebackup: { startLsn, timeline: tli, walMethod: "fetch" } }) as unknown as Manifest;
const beat = (over: Partial<Heartbeat>): Heartbeat => ({
  version: 1,
  source: "s",
  pid: 1,
  at: new Date(NOW - 10_000).toISOString(),
  streaming: true,
  coveredUntil: new Date(NOW - 12_000).toISOString(),
  maxLagSeconds: 30,
  flushIntervalSeconds: 2,
  everySeconds: 60,
  ...over,
});

describe("walChain", () => {
  test("contiguous: no gap; the newest partial is the end", () => {
    const c = walChain([obj(seg(1, 3)), obj(seg(1, 4)), obj(seg(1, 5) + ".partial")], seg(1, 3), SEG);
    expect(c).toEqual({ newestFile: seg(1, 5) + ".partial", missing: 0 });
  });

  test("a missing completed segment is the gap, even when its partial was uploaded", () => {
    const c = walChain([obj(seg(1, 3)), obj(seg(1, 4) + ".partial"), obj(seg(1, 5)), obj(seg(1, 6) + ".partial")], seg(1, 3), SEG);
    expect(c.gap).toBe(seg(1, 4));
    expect(c.missing).toBe(1);
  });

  test("across a promotion: timeline 2 continues at the switch segment; WAL before the start is ignored", () => {
    const objs = [obj(seg(1, 1)), obj(seg(1, 3)), obj(seg(1, 4)), obj(seg(1, 5) + ".partial"), obj("00000002.history"), obj(seg(2, 5)), obj(seg(2, 6) + ".partial")];
    expect(walChain(objs, seg(1, 3), SEG)).toEqual({ newestFile: seg(2, 6) + ".partial", missing: 0 });
    expect(walChain(objs.filter((o) => o.file !== seg(2, 5)), seg(1, 3), SEG).gap).toBe(seg(1, 5));
  });

  test("property: the gap is the first absent position below the newest, and missing counts them", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 30 }), (present) => {
        const c = walChain(present.map((n) => obj(seg(1, 10 + n))), seg(1, 10), SEG);
        const max = Math.max(...present);
        const absent = Array.from({ length: max }, (_, i) => i).filter((i) => !present.includes(i));
        expect(c.missing).toBe(absent.length);
        expect(c.gap).toBe(absent.length ? seg(1, 10 + absent[0]!) : undefined);
      }),
    );
  });
});

describe("judgeWal", () => {
  const facts = (over: Partial<WalFacts>): WalFacts => ({ objs: [obj(seg(1, 3), 300), obj(seg(1, 4) + ".partial", 300)], base: base(1, "0/3000028"), segSize: SEG, ...over });

  test("an idle server with a live sidecar: old WAL, fresh heartbeat, healthy", () => {
    const r = judgeWal(facts({ heartbeat: beat({}) }), NOW);
    expect(r.problems).toEqual([]);
    expect(r.report.lagSeconds).toBe(12);
    expect(r.report.maxLagSeconds).toBe(30);
  });

  test("a dead sidecar: its last heartbeat is older than max lag + heartbeat interval + flush", () => {
    const r = judgeWal(facts({ heartbeat: beat({ at: new Date(NOW - 93_000).toISOString(), coveredUntil: new Date(NOW - 95_000).toISOString() }) }), NOW);
    expect(r.problems.join("\n")).toMatch(/wal-stream stopped: its last heartbeat in the bucket is 1m 33s old/);
    // Just inside the slack: not yet.
    expect(judgeWal(facts({ heartbeat: beat({ at: new Date(NOW - 91_000).toISOString(), coveredUntil: new Date(NOW - 91_000).toISOString() }) }), NOW).problems).toEqual([]);
  });

  test("a live sidecar that cannot keep up, or is not streaming", () => {
    const lag = judgeWal(facts({ heartbeat: beat({ coveredUntil: new Date(NOW - 200_000).toISOString() }) }), NOW);
    expect(lag.problems.join("\n")).toMatch(/WAL lag: .* more than the max lag 30s/);
    const down = judgeWal(facts({ heartbeat: beat({ streaming: false }) }), NOW);
    expect(down.problems.join("\n")).toMatch(/pg_receivewal is not streaming/);
  });

  test("--max-wal-lag overrides the sidecar's own", () => {
    expect(judgeWal(facts({ heartbeat: beat({}) }), NOW, 3600).report.maxLagSeconds).toBe(3600);
    expect(judgeWal(facts({ heartbeat: beat({ coveredUntil: new Date(NOW - 200_000).toISOString() }) }), NOW, 3600).problems).toEqual([]);
  });

  test("no heartbeat: WAL older than max lag + interval reads as a stopped sidecar (or an idle server, said so)", () => {
    const r = judgeWal(facts({}), NOW, 60);
    expect(r.problems.join("\n")).toMatch(/no WAL uploaded for 5m .*stopped uploading, or the database is idle/);
    expect(judgeWal(facts({ objs: [obj(seg(1, 3), 30)] }), NOW, 60).problems).toEqual([]);
  });

  test("no WAL at all beside base backups is a problem", () => {
    expect(judgeWal(facts({ objs: [] }), NOW).problems.join("\n")).toMatch(/no WAL under wal\//);
  });

  test("a gap from the base's start is a problem and is in the text line", () => {
    const r = judgeWal(facts({ heartbeat: beat({}), objs: [obj(seg(1, 3)), obj(seg(1, 5)), obj(seg(1, 6) + ".partial")] }), NOW);
    expect(r.problems.join("\n")).toMatch(new RegExp(`WAL gap: ${seg(1, 4)} is missing`));
    expect(walLine(r.report)).toMatch(new RegExp(`GAP at ${seg(1, 4)} \\(1 missing\\)`));
  });

  test("WAL on a newer timeline than the newest base backup demands a base backup", () => {
    const r = judgeWal(facts({ heartbeat: beat({}), objs: [obj(seg(1, 3)), obj("00000002.history"), obj(seg(2, 4) + ".partial")] }), NOW);
    expect(r.problems.join("\n")).toMatch(/new timeline 2 .* newest base backup is on timeline 1: take a base backup now/);
    expect(walLine(r.report)).toMatch(/timeline 2 \(base backup on 1\)/);
    expect(judgeWal(facts({ heartbeat: beat({}), base: base(2, "0/4000028"), objs: [obj(seg(2, 4))] }), NOW).problems).toEqual([]);
  });
});

test("newestHeartbeatKey picks the newest heartbeat object, ignoring WAL and foreign keys", () => {
  const a = heartbeatObjectKey("p", "s", new Date(NOW - 60_000));
  const b = heartbeatObjectKey("p", "s", new Date(NOW));
  expect(newestHeartbeatKey("p", "s", [b, "p/s/wal/" + seg(1, 3) + ".x.zst.age", a, "p/s/wal/heartbeat/junk.json"])).toBe(b);
  expect(newestHeartbeatKey("p", "s", ["p/s/wal/" + seg(1, 3)])).toBeUndefined();
});
