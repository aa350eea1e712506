/**
 * The bucket source's pure decisions (runner/src/bucket/plan.ts, snapshot.ts): key order, the
 * streamed join, what a snapshot copies, the window rule against lifecycle, the ordered pool,
 * the manifest's line format and what a restore does per key.
 */
import fc from "fast-check";
import { compareKeys, entryLine, headerLine, parseSnapshotLine, summaryLine, SnapshotEntry, SnapshotHeader, SnapshotSummary } from "../../runner/src/bucket/snapshot";
import { decide, joinByKey, orderedPool, restoreAction, selected, Listed } from "../../runner/src/bucket/plan";
import { eventAction, JournalRecord } from "../../runner/src/bucket/events";
import { overlay } from "../../runner/src/bucket/restore";

const DAY = 86_400_000;

async function* from<T>(xs: T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const entry = (key: string, over: Partial<SnapshotEntry> = {}): SnapshotEntry => ({
  key,
  size: 10,
  etag: "abc",
  lastModified: "2026-11-01T00:00:00.000Z",
  sha256: "0".repeat(64),
  stored: { key: `p/media/objects/x-${key}.age`, at: "2026-11-01T00:00:00.000Z", bytes: 200, sha256: "1".repeat(64) },
  ...over,
});
const listed = (key: string, etag = "abc", size = 10): Listed => ({ key, etag, size, lastModified: new Date("2026-11-02T00:00:00Z") });

describe("compareKeys", () => {
  test("is S3's order: the UTF-8 byte order of the keys", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (a, b) => {
        expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))));
      }),
      { numRuns: 2000 },
    );
    // Where UTF-16 order and UTF-8 order disagree: U+FF5E (3 bytes) sorts before U+1F600 (4 bytes).
    expect(compareKeys("\uff5e", "😀")).toBeLessThan(0);
    expect("\uff5e" < "😀").toBe(false);
  });
});

describe("joinByKey", () => {
  const keySet = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6, unit: "grapheme" })).map((ks) => ks.sort(compareKeys));
  test("yields every key of either side once, in order, with the item of each side that has it", async () => {
    await fc.assert(
      fc.asyncProperty(keySet, keySet, async (as, bs) => {
        const out = await collect(joinByKey(from(as.map((key) => ({ key, side: "a" }))), from(bs.map((key) => ({ key, side: "b" })))));
        const union = [...new Set([...as, ...bs])].sort(compareKeys);
        expect(out.map((j) => j.key)).toEqual(union);
        for (const j of out) {
          expect(!!j.a).toBe(as.includes(j.key));
          expect(!!j.b).toBe(bs.includes(j.key));
        }
      }),
    );
  });
  test("holds one item of each side at a time: 100k keys on each side, never more than one read ahead", async () => {
    // Flat memory with the number of objects (issue #18) is this join's doing: the listing and the
    // previous snapshot are consumed as the join advances, never collected.
    let readA = 0;
    let readB = 0;
    let yielded = 0;
    let joined = 0;
    let maxHeld = 0;
    const N = 100_000;
    const key = (i: number) => `media/${String(i).padStart(7, "0")}.jpg`;
    async function* side(start: number, count: number, tick: () => void) {
      for (let i = start; i < start + count; i++) {
        tick();
        yield { key: key(i) };
      }
    }
    // The listing holds keys 0..N-1, the previous snapshot N/2..N/2+N-1: new, reused and deleted keys.
    for await (const j of joinByKey(side(0, N, () => readA++), side(N / 2, N, () => readB++))) {
      yielded++;
      joined += (j.a ? 1 : 0) + (j.b ? 1 : 0);
      maxHeld = Math.max(maxHeld, readA + readB - joined);
    }
    expect(yielded).toBe(N + N / 2);
    expect([readA, readB]).toEqual([N, N]);
    // Items read but not yet joined: at most the next one of each side.
    expect(maxHeld).toBeLessThanOrEqual(2);
  });
  test("a side out of order or with a repeated key is an error naming it", async () => {
    await expect(collect(joinByKey(from([{ key: "b" }, { key: "a" }]), from([]), ["the listing", "snapshot s"]))).rejects.toThrow(/the listing is not in key order: "a" after "b"/);
    await expect(collect(joinByKey(from([]), from([{ key: "a" }, { key: "a" }]), ["the listing", "snapshot s"]))).rejects.toThrow(/snapshot s is not in key order/);
  });
});

describe("decide", () => {
  const now = new Date("2026-12-01T00:00:00Z");
  test("new keys, other ETags or sizes and copies past the window are copied; the rest reuse the previous copy", () => {
    expect(decide(undefined, listed("a"), now, 30 * DAY)).toEqual({ copy: true, reason: "new" });
    expect(decide(entry("a"), listed("a", "abd"), now, 30 * DAY)).toEqual({ copy: true, reason: "changed" });
    expect(decide(entry("a"), listed("a", '"abc"', 11), now, 30 * DAY)).toEqual({ copy: true, reason: "changed" });
    expect(decide(entry("a"), listed("a", '"abc"'), now, 30 * DAY)).toEqual({ copy: false });
    expect(decide(entry("a"), listed("a"), now, 29 * DAY)).toEqual({ copy: true, reason: "stale" });
  });

  test("lifecycle never expires a copy a kept snapshot references (objects/ 2 x window, snapshots/ window)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.array(fc.integer({ min: 1, max: 40 * 24 }), { minLength: 1, maxLength: 60 }), (windowDays, gapsHours) => {
        const w = windowDays * DAY;
        let t = Date.parse("2026-01-01T00:00:00Z");
        let prev: SnapshotEntry | undefined;
        for (const g of gapsHours) {
          t += g * 3_600_000;
          const d = decide(prev, listed("k"), new Date(t), w);
          const cur: SnapshotEntry = d.copy ? entry("k", { stored: { ...entry("k").stored, at: new Date(t).toISOString() } }) : prev!;
          // The snapshot taken at t is kept until t + w; its copy lives until stored.at + 2w.
          expect(Date.parse(cur.stored.at) + 2 * w).toBeGreaterThanOrEqual(t + w);
          prev = cur;
        }
      }),
    );
  });
});

describe("orderedPool", () => {
  test("results come out in input order, with never more than `limit` jobs running", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 })), { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 10 }), async (items, limit, window) => {
        let running = 0;
        let peak = 0;
        const out: number[] = [];
        await orderedPool<readonly [number, boolean, number], number>(
          from(items.map((x, i) => [i, ...x] as const)),
          limit,
          window,
          ([i, job, ms]) =>
            job
              ? { run: async () => {
                  running++;
                  peak = Math.max(peak, running);
                  await new Promise((r) => setTimeout(r, ms));
                  running--;
                  return i;
                } }
              : { value: i },
          (i) => {
            out.push(i);
          },
        );
        expect(out).toEqual(items.map((_, i) => i));
        expect(peak).toBeLessThanOrEqual(limit);
      }),
      { numRuns: 50 },
    );
  });
  test("a failed job fails the pool after the jobs already started settle", async () => {
    let settled = 0;
    const p = orderedPool(
      from([0, 1, 2]),
      3,
      10,
      (i) => ({ run: async () => {
        await new Promise((r) => setTimeout(r, i === 0 ? 1 : 20));
        settled++;
        if (i === 0) throw new Error("object 0 unreadable");
        return i;
      } }),
      () => undefined,
    );
    await expect(p).rejects.toThrow("object 0 unreadable");
    expect(settled).toBe(3);
  });
});

describe("snapshot manifest lines", () => {
  const header: SnapshotHeader = {
    format: "lifeboat-bucket-snapshot",
    version: 1,
    source: "media",
    kind: "bucket",
    bucketUrl: "s3://app/media",
    startedAt: "2026-12-01T00:00:00.000Z",
    windowSeconds: 30 * 86400,
    encryption: { tool: "age", recipientFingerprints: ["0123456789abcdef"] },
    compression: "none",
    tools: { age: "1.1.1" },
  };
  const summary: SnapshotSummary = { finishedAt: "2026-12-01T00:01:00.000Z", objects: 2, bytes: 20, copied: 1, copiedBytes: 10, new: 1, changed: 0, stale: 0, reused: 1, deleted: 0, vanished: [] };
  test("each line parses back, and the whole document is one JSON value", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, unit: "grapheme" })), fc.dictionary(fc.stringMatching(/^[a-z0-9-]{1,20}$/), fc.string()), (keys, metadata) => {
        const es = keys.sort(compareKeys).map((k) => entry(k, { metadata, contentType: "image/png; x=\"y\"\n" }));
        const text = headerLine(header) + es.map((e, i) => entryLine(e, i === 0)).join("") + summaryLine(summary);
        const lines = text.split("\n").slice(0, -1);
        expect(lines).toHaveLength(es.length + 2);
        expect(parseSnapshotLine(lines[0]!, 1, "k")).toEqual({ header });
        es.forEach((e, i) => expect(parseSnapshotLine(lines[i + 1]!, i + 2, "k")).toEqual({ entry: e }));
        expect(parseSnapshotLine(lines[lines.length - 1]!, lines.length, "k")).toEqual({ summary });
        expect(JSON.parse(text)).toEqual({ snapshot: header, objects: es, summary });
      }),
    );
  });
  test("user metadata keeps every name, __proto__, constructor and tostring included; a value that is not text is an error", () => {
    // A name S3 allows and a plain object cannot hold as data: JSON.parse makes it an own key.
    const metadata = JSON.parse('{"__proto__":"p","constructor":"c","tostring":"t","hasownproperty":"h","plain":"x"}') as Record<string, string>;
    const line = entryLine(entry("a", { metadata }), true);
    const parsed = parseSnapshotLine(line, 2, "k");
    if (!("entry" in parsed)) throw new Error("not an entry line");
    expect(Object.entries(parsed.entry.metadata!)).toEqual(Object.entries(metadata));
    expect(JSON.parse(entryLine(parsed.entry, true)).metadata).toEqual(metadata);
    expect(Object.keys(JSON.parse(entryLine(parsed.entry, true)).metadata)).toContain("__proto__");
    const bad = line.replace('"plain":"x"', '"plain":7');
    expect(() => parseSnapshotLine(bad, 2, "snap.json")).toThrow(/snapshot manifest snap\.json line 2: metadata/);
  });

  test("a damaged line is an error naming the manifest and the line", () => {
    expect(() => parseSnapshotLine('{"key":"a"}', 2, "snap.json")).toThrow(/snapshot manifest snap\.json line 2: .*size/);
    expect(() => parseSnapshotLine("garbage", 1, "snap.json")).toThrow(/line 1: not a bucket snapshot header/);
  });
});

describe("restore decisions", () => {
  test("create what the target lacks, keep what is identical, overwrite what differs, delete what the snapshot lacks", () => {
    expect(restoreAction(entry("a"), undefined)).toBe("create");
    expect(restoreAction(entry("a"), { key: "a", etag: '"abc"', size: 10 })).toBe("unchanged");
    expect(restoreAction(entry("a"), { key: "a", etag: "abd", size: 10 })).toBe("overwrite");
    expect(restoreAction(entry("a"), { key: "a", etag: "abc", size: 9 })).toBe("overwrite");
    expect(restoreAction(undefined, { key: "a", etag: "abc", size: 10 })).toBe("delete");
  });
  test("a key selects only itself; a prefix what starts with it", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (k, p) => {
        expect(selected(k, { key: k })).toBe(true);
        expect(selected(k + "x", { key: k })).toBe(false);
        expect(selected(p + k, { prefix: p })).toBe(true);
        expect(selected(k, {})).toBe(true);
      }),
    );
  });
});

describe("events", () => {
  const ev = (action: string, key: string, bucket = "app") => ({ account: "a", action, bucket, object: { key }, eventTime: "2026-12-01T00:00:00.000Z" });
  test("creates and deletes under the source's prefix are acted on; everything else is skipped with its reason", () => {
    expect(eventAction(JSON.stringify(ev("PutObject", "up/a.png")), "app", "up")).toMatchObject({ op: "put", key: "a.png" });
    expect(eventAction(ev("CompleteMultipartUpload", "up/b/c.mp3"), "app", "up")).toMatchObject({ op: "put", key: "b/c.mp3" });
    expect(eventAction(ev("CopyObject", "x.png"), "app", "")).toMatchObject({ op: "put", key: "x.png" });
    expect(eventAction(ev("DeleteObject", "up/a.png"), "app", "up")).toMatchObject({ op: "delete", key: "a.png" });
    expect(eventAction(ev("PutObject", "upx/a.png"), "app", "up")).toEqual({ skip: "upx/a.png is outside up/" });
    expect(eventAction(ev("PutObject", "up/a.png", "other"), "app", "up")).toEqual({ skip: "bucket other, not app" });
    expect(eventAction("{", "app", "up")).toEqual({ skip: "not JSON" });
    expect(eventAction({ hello: 1 }, "app", "up")).toEqual({ skip: "not an R2 event notification" });
  });

  test("the journal laid over a snapshot: later puts replace or add entries, deletes remove them, key order kept", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 })),
        fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.boolean())),
        async (snapKeys, ops) => {
          const snap = [...snapKeys].sort(compareKeys).map((k) => entry(k));
          const journal = new Map<string, JournalRecord>();
          for (const [k, put] of ops) journal.set(k, { version: 1, source: "s", op: put ? "put" : "delete", key: k, eventTime: "t", action: put ? "PutObject" : "DeleteObject", ...(put ? { entry: entry(k, { etag: "new" }) } : {}) });
          const out = await collect(overlay(from(snap), journal));
          const want = new Map(snap.map((e) => [e.key, e]));
          for (const [k, r] of journal) {
            if (r.op === "put") want.set(k, entry(k, { etag: "new" }));
            else want.delete(k);
          }
          expect(out).toEqual([...want.keys()].sort(compareKeys).map((k) => want.get(k)));
        },
      ),
    );
  });
});
