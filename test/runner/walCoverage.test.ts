/**
 * wal-stream's coverage bookkeeping (what the bucket can recover up to) and its lag alerts.
 *
 * 1. `Coverage` (pure): coverage never reaches past a moment whose spool contents are not all in
 *    the bucket, whatever order uploads finish in (example + fast-check property).
 * 2. The streamer itself, with a stand-in pg_receivewal (the test writes the spool the way
 *    pg_receivewal does) and a local store the test can hold or fail uploads in: segment N
 *    completing between the completed-file pass and the partial pass, then never reaching the
 *    bucket (a host loss), must not let the upload of N+1's partial advance coverage.
 * 3. Lag is measured on a timer: with an upload that takes far longer than --max-lag, the alert
 *    reaches the webhook before the data at risk (now - covered) exceeds --max-lag.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StoredBody } from "../../runner/src/storedBody";
import fc from "fast-check";
import pino from "pino";
import { Coverage, walItem } from "../../runner/src/pitr/coverage";
import { WalStreamer } from "../../runner/src/commands/walStream";
import { LocalStore, Store } from "../../runner/src/store";
import { Alerts } from "../../runner/src/alerts";
import { pgTarget } from "../../runner/src/sources/postgres";
import { ageKey } from "../support/runner";
import { startWebhook, Hook } from "../support/webhook";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Coverage", () => {
  test("a partial uploaded before the completed segment it follows does not advance coverage until that segment is uploaded", () => {
    const c = new Coverage(0);
    c.snapshot(10, [walItem("000000010000000000000001.partial", "a")]);
    c.uploaded(walItem("000000010000000000000001.partial", "a"));
    expect(c.coveredAt).toBe(10);
    // Segment 1 completed, segment 2 is being written: both in the spool at 20.
    c.snapshot(20, [walItem("000000010000000000000001"), walItem("000000010000000000000002.partial", "b")]);
    c.uploaded(walItem("000000010000000000000002.partial", "b"));
    expect(c.coveredAt).toBe(10);
    c.uploaded(walItem("000000010000000000000001"));
    expect(c.coveredAt).toBe(20);
  });

  test("an unchanged partial already uploaded advances coverage to the new capture time", () => {
    const c = new Coverage(0);
    c.snapshot(10, [walItem("000000010000000000000001.partial", "a")]);
    c.uploaded(walItem("000000010000000000000001.partial", "a"));
    c.snapshot(30, [walItem("000000010000000000000001.partial", "a")]);
    expect(c.coveredAt).toBe(30);
  });

  test("property: coverage never passes a snapshot time whose items are not all uploaded, and reaches the newest fully uploaded one", () => {
    // A run: spool snapshots (taken in time order) and upload completions of any item, interleaved at random.
    const item = fc.integer({ min: 0, max: 9 }).map(String);
    const event = fc.oneof(
      fc.record({ snapshot: fc.uniqueArray(item, { maxLength: 4 }) }),
      fc.record({ upload: item }),
    );
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 30 }), (events) => {
        const c = new Coverage(0);
        const uploaded = new Set<string>();
        const taken: Array<{ at: number; items: string[] }> = [];
        events.forEach((e, i) => {
          if ("snapshot" in e) {
            taken.push({ at: (i + 1) * 10, items: e.snapshot });
            c.snapshot((i + 1) * 10, e.snapshot);
          } else {
            uploaded.add(e.upload);
            c.uploaded(e.upload);
          }
          const complete = (t: { items: string[] }) => t.items.every((x) => uploaded.has(x));
          // Sound: coverage sits at a snapshot (or the start) whose items are all in the bucket.
          const at = taken.filter((t) => t.at <= c.coveredAt).pop();
          if (at) expect(complete(at)).toBe(true);
          if (c.coveredAt > 0) expect(at?.at).toBe(c.coveredAt);
          // Live: the newest snapshot whose items are all in the bucket is covered.
          const full = taken.filter(complete).pop();
          if (full) expect(c.coveredAt).toBeGreaterThanOrEqual(full.at);
        });
      }),
    );
  });
});

/** A local store whose uploads of some WAL files the test can hold (gate) or fail. */
class TestStore implements Store {
  readonly description = "test store";
  readonly prefix = "";
  readonly uploaded: Array<{ file: string; at: number }> = [];
  hold: { file: string; reached: () => void; release: Promise<void> } | undefined;
  failing = new Set<string>();
  delayMs = 0;
  private readonly inner: LocalStore;
  constructor(dir: string) {
    this.inner = new LocalStore(dir);
  }
  private static file(key: string): string {
    return /wal\/([0-9A-F]{24}(?:\.partial)?)\./.exec(key)?.[1] ?? key;
  }
  async putStream(key: string, body: StoredBody): Promise<void> {
    const file = TestStore.file(key);
    if (this.hold?.file === file) {
      const h = this.hold;
      this.hold = undefined;
      h.reached();
      await h.release;
    }
    if (this.delayMs) await sleep(this.delayMs);
    if (this.failing.has(file)) {
      body.destroy();
      throw new Error(`test store: refusing ${file}`);
    }
    await this.inner.putStream(key, body);
  }
  async putSmall(key: string, body: string): Promise<void> {
    await this.inner.putSmall(key, body);
    this.uploaded.push({ file: TestStore.file(key), at: Date.now() });
  }
  get = (key: string) => this.inner.get(key);
  getText = (key: string) => this.inner.getText(key);
  list = (prefix: string) => this.inner.list(prefix);
}

const SEG = (n: number) => "00000001" + "00000000" + n.toString(16).toUpperCase().padStart(8, "0");

function harness(opts: { flushMs: number; maxLagMs?: number; webhook?: string; baseBackup?: () => Promise<number>; dir?: string }) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "lifeboat-walcov-"));
  const spool = join(dir, "spool");
  const fake = join(dir, "pg_receivewal");
  // Stands in for pg_receivewal: slot creation succeeds, streaming "starts" and idles; the test writes the spool.
  writeFileSync(fake, `#!/bin/sh\ncase " $* " in *" --create-slot "*) exit 0;; esac\necho "pg_receivewal: starting log streaming at 0/1000000 (timeline 1)" >&2\nexec sleep 600\n`);
  chmodSync(fake, 0o755);
  mkdirSync(spool, { recursive: true, mode: 0o700 });
  const store = new TestStore(join(dir, "bucket"));
  const log = pino({ level: "silent" });
  const streamer = new WalStreamer({
    name: "app-db",
    target: pgTarget("postgres://repl:pw@127.0.0.1:5432/app"),
    slot: "lifeboat_app_db",
    spool,
    recipients: [ageKey().recipient],
    zstdLevel: 1,
    flushMs: opts.flushMs,
    maxLagMs: opts.maxLagMs,
    statusInterval: 1,
    receivewal: fake,
    store,
    alerts: new Alerts({ webhook: opts.webhook }, log),
    log,
    statePath: join(dir, "state", "runner-state.json"),
    baseBackup: opts.baseBackup,
    heartbeatObjectMs: 1000,
  });
  const write = (name: string) => writeFileSync(join(spool, name), randomBytes(64));
  const complete = (n: number) => renameSync(join(spool, SEG(n) + ".partial"), join(spool, SEG(n)));
  return { dir, spool, store, streamer, write, complete };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("WalStreamer coverage", () => {
  test("segment N completing between the completed pass and the partial pass, then lost: N+1's partial is neither uploaded ahead of it nor advances coverage", async () => {
    const h = harness({ flushMs: 1000 });
    h.write(SEG(1) + ".partial");
    const running = h.streamer.run();
    try {
      await until("the first partial upload", () => h.store.uploaded.some((u) => u.file === SEG(1) + ".partial"));
      // Hold the upload of completed segment 1 so the streamer is inside its completed-file pass.
      let reached!: () => void;
      let release!: () => void;
      const atHold = new Promise<void>((r) => (reached = r));
      h.store.hold = { file: SEG(1), reached, release: new Promise<void>((r) => (release = r)) };
      const beforeSeg2 = Date.now();
      h.complete(1);
      h.write(SEG(2) + ".partial");
      await atHold;
      // Meanwhile segment 2 completes and 3 starts; segment 2 will never reach the bucket (host loss).
      h.store.failing.add(SEG(2));
      h.complete(2);
      h.write(SEG(3) + ".partial");
      await sleep(1200); // past the flush interval, so the partial pass follows the completed pass
      release();
      await sleep(3000); // several flush intervals
      expect(h.store.uploaded.some((u) => u.file === SEG(2))).toBe(false);
      expect(h.streamer.coveredUntil).toBeLessThan(beforeSeg2);
      // Nor is segment 3's partial uploaded ahead of segment 2: the bucket would hold 1, 3.partial (a hole).
      expect(h.store.uploaded.some((u) => u.file === SEG(3) + ".partial")).toBe(false);
      // Once segment 2 is in the bucket, coverage moves on past it, and the partial follows.
      h.store.failing.clear();
      const healed = Date.now();
      await until("coverage past segment 2", () => h.streamer.coveredUntil >= healed);
      const order = h.store.uploaded.map((u) => u.file);
      expect(order.indexOf(SEG(2))).toBeLessThan(order.indexOf(SEG(3) + ".partial"));
    } finally {
      h.streamer.stop("test done");
      await running;
    }
  });
});

describe("WalStreamer lag alerts", () => {
  let hook: Hook;
  beforeAll(async () => (hook = await startWebhook()));
  afterAll(() => hook.stop());

  test("a slow upload: the --max-lag alert is sent before the data at risk exceeds --max-lag, and caught up follows", async () => {
    const maxLagMs = 3000;
    const h = harness({ flushMs: 1000, maxLagMs, webhook: hook.url + "/slack" });
    h.write(SEG(1) + ".partial");
    const running = h.streamer.run();
    const writer = setInterval(() => h.write(SEG(1) + ".partial"), 200); // commits keep coming
    try {
      await until("the first partial upload", () => h.store.uploaded.length > 0);
      h.store.delayMs = 8000; // every upload from now on takes 8 s
      await until("the lag alert", () => hook.received.some((r) => /behind/.test(r.body)), 20_000);
      const alert = hook.received.find((r) => /behind/.test(r.body))!;
      const covered = h.streamer.coveredUntil;
      expect(alert.at - covered).toBeLessThanOrEqual(maxLagMs);
      expect(JSON.parse(alert.body).text).toMatch(/WAL of app-db is \d+s behind in test store \(--max-lag 3s\): uploads are behind/);
      h.store.delayMs = 0;
      await until("the caught-up message", () => hook.received.some((r) => /caught up/.test(r.body)), 20_000);
    } finally {
      clearInterval(writer);
      h.streamer.stop("test done");
      await running;
    }
  });
});

describe("WalStreamer on a new timeline", () => {
  let hook: Hook;
  beforeAll(async () => (hook = await startWebhook()));
  afterAll(() => hook.stop());

  test("WAL of a newer timeline than the last run saw: the history file is uploaded, an alert names the timeline and a base backup is taken once; a restart on that timeline takes none", async () => {
    let baseBackups = 0;
    const baseBackup = async () => {
      baseBackups++;
      return 0;
    };
    const first = harness({ flushMs: 500, webhook: hook.url + "/slack", baseBackup });
    first.write(SEG(1) + ".partial");
    let running = first.streamer.run();
    try {
      await until("timeline 1 WAL uploaded", () => first.store.uploaded.some((u) => u.file === SEG(1) + ".partial"));
      await sleep(1200); // the heartbeat records timeline 1
      expect(baseBackups).toBe(0);
      // Promotion: pg_receivewal writes the history file and streams timeline 2.
      writeFileSync(join(first.spool, "00000002.history"), "1\t0/1000000\tno recovery target specified\n");
      writeFileSync(join(first.spool, "000000020000000000000001.partial"), randomBytes(64));
      await until("the base backup on timeline 2", () => baseBackups === 1);
      await until("the new-timeline alert", () => hook.received.some((r) => /new timeline 2 \(was 1\)/.test(r.body)));
      expect(JSON.parse(hook.received.find((r) => /new timeline 2/.test(r.body))!.body).text).toMatch(/app-db is on a new timeline 2 \(was 1\): the server was promoted; taking a base backup on it now/);
      expect((await first.store.list("")).some((o) => /\/wal\/00000002\.history\./.test(o.key))).toBe(true);
    } finally {
      first.streamer.stop("test done");
      await running;
    }
    // Restart on timeline 2 (pg_receivewal fetches the history file again into the emptied spool).
    const again = harness({ flushMs: 500, webhook: hook.url + "/slack", baseBackup, dir: first.dir });
    writeFileSync(join(again.spool, "00000002.history"), "1\t0/1000000\tno recovery target specified\n");
    running = again.streamer.run();
    try {
      await until("the history file uploaded again", () => !existsSync(join(again.spool, "00000002.history")));
      await sleep(1000);
      expect(baseBackups).toBe(1);
    } finally {
      again.streamer.stop("test done");
      await running;
    }
  });
});
