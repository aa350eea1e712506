/**
 * wal-stream's sidecar hygiene, the pure parts: which processes are a stale receiver for this
 * spool and slot, and how `status --local` judges a heartbeat. (The process behaviour itself,
 * kill -9 and restart against a real server, is in pitr.e2e.test.ts.)
 */
import { isReceiverFor } from "../../runner/src/pitr/receiver";
import { Heartbeat, HEARTBEAT_STALE_MS, heartbeatProblems, withWalStreams } from "../../runner/src/pitr/heartbeat";

describe("isReceiverFor", () => {
  const spool = "/var/lib/lifeboat/wal-spool";
  test("matches pg_receivewal on this spool and slot, directly or under setpriv", () => {
    expect(isReceiverFor(["/usr/lib/postgresql/15/bin/pg_receivewal", "--directory", spool, "--slot", "lifeboat_app", "--dbname", "x"], spool, "lifeboat_app")).toBe(true);
    expect(isReceiverFor(["setpriv", "--pdeathsig", "KILL", "--", "pg_receivewal", "--slot=lifeboat_app", "--directory=" + spool], spool, "lifeboat_app")).toBe(true);
  });
  test("ignores other spools, other slots, slot creation and other programs", () => {
    expect(isReceiverFor(["pg_receivewal", "--directory", spool + "2", "--slot", "lifeboat_app"], spool, "lifeboat_app")).toBe(false);
    expect(isReceiverFor(["pg_receivewal", "--directory", spool, "--slot", "lifeboat_other"], spool, "lifeboat_app")).toBe(false);
    expect(isReceiverFor(["pg_receivewal", "--create-slot", "--if-not-exists", "--slot", "lifeboat_app", "--directory", spool], spool, "lifeboat_app")).toBe(false);
    expect(isReceiverFor(["vim", "pg_receivewal.c", "--directory", spool, "--slot", "lifeboat_app"], spool, "lifeboat_app")).toBe(false);
  });
});

describe("heartbeatProblems", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  const beat = (o: Partial<Heartbeat>): Heartbeat => ({
    version: 1,
    source: "app-db",
    pid: 42,
    at: new Date(now - 1000).toISOString(),
    streaming: true,
    coveredUntil: new Date(now - 2000).toISOString(),
    maxLagSeconds: 60,
    ...o,
  });
  test("a fresh heartbeat, streaming, within --max-lag: healthy", () => {
    expect(heartbeatProblems(beat({}), now)).toEqual([]);
  });
  test("a stale heartbeat: the sidecar is gone", () => {
    expect(heartbeatProblems(beat({ at: new Date(now - HEARTBEAT_STALE_MS - 1000).toISOString() }), now)).toEqual([expect.stringMatching(/heartbeat is 31s old \(pid 42\): the sidecar is not running/)]);
  });
  test("not streaming, and WAL older than --max-lag", () => {
    expect(heartbeatProblems(beat({ streaming: false, coveredUntil: new Date(now - 90_000).toISOString() }), now)).toEqual([
      "wal-stream: pg_receivewal is not streaming",
      expect.stringMatching(/WAL in the bucket is 90s behind, more than --max-lag 1m/),
    ]);
  });
  test("status --local: a source with only a heartbeat is judged by it; one with runs gets its problems added", () => {
    const noRun = { source: "app-db", healthy: false, problems: ["no run recorded in /x"] };
    expect(withWalStreams([noRun], [beat({})], now)).toEqual([{ source: "app-db", healthy: true, problems: [] }]);
    const withRun = { source: "app-db", healthy: true, problems: [], newest: { key: "k", takenAt: "t", ageSeconds: 1, storedBytes: 1, verified: "no" as const } };
    expect(withWalStreams([withRun], [beat({ streaming: false })], now)).toEqual([{ ...withRun, healthy: false, problems: ["wal-stream: pg_receivewal is not streaming"] }]);
  });
});
