/**
 * The runner's own bookkeeping under real processes: the state file under concurrent writers,
 * crash exit codes, and the pure rules that decide which backup's time can be trusted.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { requireBuiltRunner, REPO } from "../support/runner";

const DIST = join(REPO, "runner/dist");
let work: string;

beforeAll(() => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-honest-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function node(script: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["-e", script], { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b) => (stdout += b));
    child.stderr!.on("data", (b) => (stderr += b));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("state file", () => {
  test("8 processes each recording 15 runs at once: no run is lost", async () => {
    const file = join(work, "concurrent", "state.json");
    const procs = Array.from({ length: 8 }, (_, p) =>
      node(`
        const { recordRun } = require(${JSON.stringify(join(DIST, "state.js"))});
        (async () => {
          for (let i = 0; i < 15; i++) {
            const t = new Date().toISOString();
            await recordRun(${JSON.stringify(file)}, "src-${p}-" + i, { ok: true, startedAt: t, finishedAt: t, key: "k" + i });
          }
        })().catch((e) => { console.error(e); process.exit(1); });
      `),
    );
    const results = await Promise.all(procs);
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: "" });
    const state = JSON.parse(readFileSync(file, "utf8"));
    expect(Object.keys(state.sources).sort()).toEqual(Array.from({ length: 8 }, (_, p) => Array.from({ length: 15 }, (_, i) => `src-${p}-${i}`)).flat().sort());
  });

  test("a lock left by a killed process does not block the next run", async () => {
    const file = join(work, "stale", "state.json");
    const dead = await node("process.stdout.write(String(process.pid))");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(join(work, "stale"));
    writeFileSync(`${file}.lock`, dead.stdout);
    const { recordRun } = require(join(DIST, "state.js"));
    const t = new Date().toISOString();
    await recordRun(file, "db", { ok: true, startedAt: t, finishedAt: t });
    expect(Object.keys(JSON.parse(readFileSync(file, "utf8")).sources)).toEqual(["db"]);
  });

  test("the default path is per user", () => {
    const { defaultStatePath } = require(join(DIST, "state.js"));
    const saved = { ...process.env };
    try {
      process.env.XDG_STATE_HOME = "/x/state";
      expect(defaultStatePath()).toBe("/x/state/lifeboat/runner-state.json");
      delete process.env.XDG_STATE_HOME;
      expect(defaultStatePath()).toMatch(new RegExp(`^${require("node:os").homedir()}/\\.local/state/lifeboat/`));
    } finally {
      process.env = saved;
    }
  });
});

describe("a crash is not a reported failure (exit 70, not 1)", () => {
  test.each([
    ["an uncaught exception", "setImmediate(() => { throw new Error('boom at postgres://app:hunter2@db/x'); });"],
    ["an unhandled rejection", "Promise.reject(new Error('boom at postgres://app:hunter2@db/x'));"],
  ])("%s", async (_label, crash) => {
    const r = await node(`require(${JSON.stringify(join(DIST, "cli.js"))}).installCrashHandlers(); ${crash}`);
    expect(r.code).toBe(70);
    expect(r.stderr).toMatch(/internal error \(exit 70\).*boom/);
    expect(r.stderr).not.toContain("hunter2");
  });

  test("--help documents the exit codes", async () => {
    const r = await node(`process.argv = ["node", "lifeboat-runner", "--help"]; require(${JSON.stringify(join(DIST, "cli.js"))}).main(process.argv);`);
    expect(r.stdout).toMatch(/Exit codes: 0 ok; 1 failed run.*\n3 degraded.*\n70 internal error/);
  });
});

describe("storeTimeFlags: only the store's own times are trusted", () => {
  const { storeTimeFlags, CLOCK_TOLERANCE_MS, MAX_RUN_MS } = require(join(DIST, "catalog.js"));
  const T0 = Date.parse("2026-11-20T03:00:00Z");
  const at = (ms: number) => new Date(T0 + ms);

  test("an honest backup (key time, then object, then manifest, within a run; host clock off by up to the tolerance) is never flagged", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_RUN_MS - CLOCK_TOLERANCE_MS }),
        fc.integer({ min: 0, max: MAX_RUN_MS - CLOCK_TOLERANCE_MS }),
        fc.integer({ min: -CLOCK_TOLERANCE_MS, max: CLOCK_TOLERANCE_MS }),
        fc.integer({ min: 0, max: 1e9 }),
        (a, b, skew, later) => {
          const [obj, man] = a <= b ? [a, b] : [b, a];
          return storeTimeFlags({ keyTime: at(skew), objectStoredAt: at(obj), manifestStoredAt: at(man), now: at(man + later) }).length === 0;
        },
      ),
    );
  });

  test("a key dated after the store received it is flagged, whatever the margin beyond the tolerance", () => {
    fc.assert(
      fc.property(fc.integer({ min: CLOCK_TOLERANCE_MS + 1, max: 100 * 365 * 24 * 3600_000 }), (ahead) => {
        const flags: string[] = storeTimeFlags({ keyTime: at(ahead), objectStoredAt: at(0), manifestStoredAt: at(1000), now: at(2000) });
        return flags.some((f) => /after the store received the object/.test(f));
      }),
    );
  });

  test("an object replaced after its manifest, and a manifest long after its key time, are flagged", () => {
    expect(storeTimeFlags({ keyTime: at(0), objectStoredAt: at(60_000), manifestStoredAt: at(10_000), now: at(70_000) }).join()).toMatch(/after its manifest/);
    expect(storeTimeFlags({ keyTime: at(0), objectStoredAt: at(MAX_RUN_MS + 1), manifestStoredAt: at(MAX_RUN_MS + 1), now: at(MAX_RUN_MS + 2) }).join()).toMatch(/backdated or overwritten/);
    expect(storeTimeFlags({ keyTime: at(CLOCK_TOLERANCE_MS + 1), objectStoredAt: at(CLOCK_TOLERANCE_MS + 1), manifestStoredAt: at(CLOCK_TOLERANCE_MS + 1), now: at(0) }).join()).toMatch(/in the future/);
  });
});

describe("classifyTarExit: GNU tar 1.34's own diagnostics, decided per file", () => {
  const { classifyTarExit } = require(join(DIST, "tarstats.js"));
  const isDir = (p: string) => p === ".";

  test("exit 0 is clean", () => {
    expect(classifyTarExit(0, "")).toEqual({ failures: [], warnings: [] });
  });
  test("a file that shrank (zero-padded member) is a failure", () => {
    const o = classifyTarExit(1, "tar: ./0big: File shrank by 9900000 bytes; padding with zeros\n", isDir);
    expect(o.failures).toEqual([expect.stringMatching(/^0big: shrank .*padded it with zeros/)]);
  });
  test("a file that changed or vanished is a named warning; the directory that changed with it is not", () => {
    const o = classifyTarExit(1, "tar: ./zsmall: File removed before we read it\ntar: .: file changed as we read it\ntar: ./0big: file changed as we read it\n", isDir);
    expect(o).toEqual({ failures: [], warnings: [expect.stringMatching(/^zsmall: removed/), expect.stringMatching(/^0big: changed/)] });
  });
  test("a file tar cannot open (exit 2) is a named warning, the rest of the archive stands", () => {
    const o = classifyTarExit(2, "tar: ./closed: Cannot open: Permission denied\ntar: Exiting with failure status due to previous errors\n", isDir);
    expect(o).toEqual({ failures: [], warnings: ["closed: not archived: cannot open: Permission denied"] });
  });
  test("a read error, an unknown message, a silent exit 1 or another exit code is a failure", () => {
    expect(classifyTarExit(2, "tar: ./disk.img: Read error at byte 0, while reading 10240 bytes: Input/output error\n").failures).toHaveLength(1);
    expect(classifyTarExit(1, "tar: something new\n").failures).toEqual(["tar: something new"]);
    expect(classifyTarExit(1, "").failures).toEqual([expect.stringMatching(/code 1 and no diagnostic/)]);
    expect(classifyTarExit(1, "", isDir).failures).toHaveLength(1);
    expect(classifyTarExit(64, "tar: ./x: file changed as we read it\n").failures[0]).toMatch(/code 64/);
  });
});

describe("partialIsStale: local-mode partial files", () => {
  const { partialIsStale } = require(join(DIST, "store.js"));
  const started = Date.parse("2026-12-01T10:00:00Z");
  const alive = (pid: number) => pid === 4242;
  test("a partial whose writer is alive is kept, whatever its age; a dead writer's is stale", () => {
    expect(partialIsStale("k.tar.zst.age.partial-4242-0123abcd", new Date(0), alive, started)).toBe(false);
    expect(partialIsStale("k.tar.zst.age.partial-4243-0123abcd", new Date(started + 1000), alive, started)).toBe(true);
  });
  test("an old-format (pid-less) partial is stale once it predates this process; other files never are", () => {
    expect(partialIsStale("k.tar.zst.age.partial-0123abcd", new Date(started - 1), alive, started)).toBe(true);
    expect(partialIsStale("k.tar.zst.age.partial-0123abcd", new Date(started + 1), alive, started)).toBe(false);
    expect(partialIsStale("k.tar.zst.age", new Date(0), alive, started)).toBe(false);
    expect(partialIsStale("k.tar.zst.age.manifest.json", new Date(0), alive, started)).toBe(false);
  });
});

describe("a corrupted backup read by a consumer that only pipes it", () => {
  test("is a rejected `done` (a reported verify failure), not an uncaught error (exit 70)", async () => {
    const { ageKey, runner } = await import("../support/runner");
    const { writeFileSync, mkdirSync, readdirSync } = await import("node:fs");
    const src = join(work, "flip-src");
    mkdirSync(src);
    const big = Buffer.alloc(3_000_000);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 3)) >>> 0, i);
    writeFileSync(join(src, "blob.bin"), big);
    const key = ageKey(work);
    const local = join(work, "flip-store");
    const b = await runner(["backup", "--source", "directory", "--name", "flip", "--path", src, "--recipient", key.recipient, "--no-upload", "--local-dir", local, "--state-file", join(work, "flip-state.json")]);
    expect(b.code).toBe(0);
    const dir = join(local, "flip", readdirSync(join(local, "flip"))[0]!);
    const obj = join(dir, readdirSync(dir).find((f) => f.endsWith(".tar.zst.age"))!);
    const bytes = readFileSync(obj);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(obj, bytes);
    const r = await node(`
      require(${JSON.stringify(join(DIST, "cli.js"))}).installCrashHandlers();
      const { LocalStore } = require(${JSON.stringify(join(DIST, "store.js"))});
      const { download } = require(${JSON.stringify(join(DIST, "fetch.js"))});
      const { listBackups, readManifest } = require(${JSON.stringify(join(DIST, "catalog.js"))});
      const { Writable } = require("node:stream");
      (async () => {
        const store = new LocalStore(${JSON.stringify(local)});
        const [entry] = await listBackups(store, "flip");
        const dl = await download(store, { entry, manifest: await readManifest(store, entry) }, ${JSON.stringify(key.file)});
        dl.out.pipe(new Writable({ write(c, e, cb) { setTimeout(cb, 1); } }));
        await dl.done.then(() => console.log("ok"), (e) => console.log("rejected: " + e.message));
        await new Promise((res) => setTimeout(res, 300));
      })();
    `);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/^rejected: .*\(corrupted\)/);
  });
});
