import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FETCH_CACHE, FetchConfig, prefetchLoop, WANT_FILE } from "../../runner/src/pitr/walFetch";
import { Store } from "../../runner/src/store";

const seg = (i: number) => "00000001" + "00000000" + i.toString(16).toUpperCase().padStart(8, "0");

describe("the WAL prefetcher", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lifeboat-walfetch-"));
    mkdirSync(join(dir, FETCH_CACHE));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("never removes the file replay is asking for (the foreground may be moving it into place); removes what replay left behind; leaves failures to the foreground", async () => {
    const files = Object.fromEntries([1, 2, 3, 4, 5].map((i) => [seg(i), { key: `p/s/wal/${seg(i)}.k`, manifestKey: `p/s/wal/${seg(i)}.k.manifest.json` }]));
    const cfg: FetchConfig = { version: 1, source: "s", store: { maxAttempts: "1", timeout: "1", requestTimeout: "1" }, env: {}, prefetch: 2, segSize: 16 << 20, files };
    writeFileSync(join(dir, WANT_FILE), seg(3));
    writeFileSync(join(dir, FETCH_CACHE, seg(3)), "prefetched earlier");
    writeFileSync(join(dir, FETCH_CACHE, seg(1)), "behind replay");
    const offline = async () => {
      throw new Error("store offline");
    };
    const store = { get: offline, getText: offline } as unknown as Store;
    const logs: string[] = [];
    await prefetchLoop(dir, cfg, { store, log: (l) => logs.push(l) }, { concurrency: 2, pollMs: 10, idleMs: 150 });
    expect(existsSync(join(dir, FETCH_CACHE, seg(3)))).toBe(true);
    expect(existsSync(join(dir, FETCH_CACHE, seg(1)))).toBe(false);
    // The window after the wanted file was tried once each, failed, and was left (no retry loop, no claim left behind).
    expect(logs.sort()).toEqual([expect.stringContaining(`prefetch of ${seg(4)} failed`), expect.stringContaining(`prefetch of ${seg(5)} failed`)]);
    expect(logs[0]).toContain("store offline");
    expect(existsSync(join(dir, FETCH_CACHE, `${seg(4)}.claim`))).toBe(false);
  });
});
