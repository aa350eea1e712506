import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { decode, decodeToFile, encode, parseZstdReport } from "../../runner/src/pipeline";
import { startProc } from "../../runner/src/proc";
import { FifoDir } from "../../runner/src/fifoDir";
import { FifoRaw } from "../../runner/src/sources/types";
import { download, Selected } from "../../runner/src/fetch";
import { Store } from "../../runner/src/store";
import { StoredBody } from "../../runner/src/storedBody";
import { REPO } from "../support/runner";

/** The encoded bytes, collected: each chunk copied before the next is asked for, as a store does (a body may reuse its buffer). */
async function collect(body: StoredBody): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

// One age key pair for every test in this file.
let dir: string;
let identity: string;
let recipient: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lifeboat-pipeline-"));
  identity = join(dir, "key.txt");
  execFileSync("age-keygen", ["-o", identity], { stdio: "ignore" });
  recipient = readFileSync(identity, "utf8").match(/public key: (age1[0-9a-z]+)/)![1]!;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pipeline: source | zstd | age connected by kernel pipes", () => {

  test("zstd's byte report, 1.5 (-vv) and 1.4 formats; the last report wins; none is undefined", () => {
    expect(parseZstdReport("Using stdin for input \n/*stdin*\\            :100.00%   (123456789 B => 123459625 B, /*stdout*\\) \n")).toEqual({ in: 123456789, out: 123459625 });
    expect(parseZstdReport("/*stdin*\\            :  (     0 B =>     13 B, /*stdout*\\) \n")).toEqual({ in: 0, out: 13 });
    expect(parseZstdReport("stdin                : 25.00%   (  4000 =>   1000 bytes, /*stdout*\\) \n")).toEqual({ in: 4000, out: 1000 });
    expect(parseZstdReport("(1 B => 2 B, a)\n(3 B => 4 B, b)")).toEqual({ in: 3, out: 4 });
    expect(parseZstdReport("zstd: error 70 : Write error : cannot write block : Broken pipe")).toBeUndefined();
  });

  test("a process source: exact raw bytes from zstd, and the stored bytes decode back to the source's output", async () => {
    const bytes = 5_000_123;
    const src = startProc("head", "sh", ["-c", `head -c ${bytes} /dev/urandom | tee ${join(dir, "raw.bin")}`], { stdinIgnore: true });
    const enc = encode(src.child.stdout!, [src], [recipient], 3, undefined, { direct: true });
    const stored = await collect(enc.body);
    await enc.done;
    expect(enc.procs.find((p) => p.name === "zstd")!.child.spawnargs).toContain("-vv"); // connected directly
    expect(enc.raw.bytes).toBe(bytes);
    expect(enc.hasher.bytes).toBe(stored.length);
    const out = join(dir, "decoded.bin");
    const dec = decodeToFile(Readable.from([stored]), identity, out);
    await dec.done;
    expect(dec.hasher.digest()).toBe(enc.hasher.digest());
    expect(readFileSync(out).equals(readFileSync(join(dir, "raw.bin")))).toBe(true);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  test("a source that fails after writing part of its output fails the stream: the body errors, never ends cleanly", async () => {
    const src = startProc("dumper", "sh", ["-c", "head -c 3000000 /dev/urandom; exit 3"], { stdinIgnore: true });
    const enc = encode(src.child.stdout!, [src], [recipient], 3, undefined, { direct: true });
    await expect(collect(enc.body)).rejects.toThrow(/dumper exited with code 3/);
    await expect(enc.done).rejects.toThrow(/dumper/);
  });

  test("a source that fails before anyone reads the body: no uncaught 'error', and the reader later gets the source's error", async () => {
    // The store attaches its reader after an await (a mkdir, a CreateMultipartUpload): a source
    // failing in that window destroyed the body with no 'error' listener, crashing the runner.
    const src = startProc("dumper", "sh", ["-c", "echo 'dumper: connection refused' >&2; exit 1"], { stdinIgnore: true });
    const enc = encode(src.child.stdout!, [src], [recipient], 3, undefined, { direct: true });
    await expect(enc.done).rejects.toThrow(/dumper exited with code 1: dumper: connection refused/);
    await new Promise((r) => setTimeout(r, 50));
    await expect(collect(enc.body)).rejects.toThrow(/dumper exited with code 1: dumper: connection refused/);
  });

  test("the stored bytes are read into one reused buffer, hashed on the way, and each chunk is whole until the next is asked for", async () => {
    // A pipe read as a Node stream allocates a new buffer per read: at 1 GB, ~265 MiB of garbage that
    // raised the runner's peak memory. Every chunk here is a view of the same memory.
    const src = startProc("head", "sh", ["-c", "head -c 6000000 /dev/urandom"], { stdinIgnore: true });
    const enc = encode(src.child.stdout!, [src], [recipient], 1, undefined, { direct: true });
    const views: Buffer[] = [];
    const copies: Buffer[] = [];
    for await (const c of enc.body) {
      views.push(c);
      copies.push(Buffer.from(c));
    }
    await enc.done;
    const stored = Buffer.concat(copies);
    expect(views.length).toBeGreaterThan(1);
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
    expect(enc.hasher.bytes).toBe(stored.length);
    expect(enc.hasher.digest()).toBe(createHash("sha256").update(stored).digest("hex"));
    const out = join(dir, "reused.bin");
    const dec = decodeToFile(Readable.from([stored]), identity, out);
    await dec.done;
    expect(statSync(out).size).toBe(6_000_000);
  });

  test.each([
    ["exits", "process.exit(0)"],
    ["is killed (SIGKILL: no exit handler runs)", 'process.kill(process.pid, "SIGKILL")'],
  ])("a runner that %s before its store read the stored bytes leaves no process behind", async (_how, end) => {
    // A writer that never opened its FIFO gets no broken pipe when node goes away: a run that ended
    // before its store read age's output left age's shell, and the zstd writing into it, waiting
    // forever (orphans seen after test runs). Node's end is opened at once, and an exit stops them.
    const script = `
      const { encode } = require(${JSON.stringify(join(REPO, "runner/dist/pipeline.js"))});
      const { startProc } = require(${JSON.stringify(join(REPO, "runner/dist/proc.js"))});
      const src = startProc("head", "sh", ["-c", "head -c 3000000 /dev/urandom"], { stdinIgnore: true });
      const enc = encode(src.child.stdout, [src], [${JSON.stringify(recipient)}], 3, undefined, { direct: true });
      enc.done.catch(() => undefined);
      setTimeout(() => { process.stdout.write(JSON.stringify(enc.procs.map((p) => p.child.pid)) + "\\n", () => ${end}); }, 500);`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    const out = r.stdout;
    const pids: number[] = JSON.parse(out.trim());
    expect(pids).toHaveLength(3);
    const alive = () => pids.filter((pid) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8")));
    for (let i = 0; i < 50 && alive().length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toEqual([]);
  }, 20_000);

  test("destroying the body of a stalled pipeline (a run's deadline) ends the read promptly and stops every process", async () => {
    // A read blocked on an empty FIFO cannot be interrupted from node: destroy must stop the writers.
    const src = startProc("stalled", "sh", ["-c", "exec sleep 60"], { stdinIgnore: true });
    const enc = encode(src.child.stdout!, [src], [recipient], 3, undefined, { direct: true });
    enc.done.catch(() => undefined);
    const reading = collect(enc.body);
    reading.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    enc.body.destroy(new Error("the run's deadline passed"));
    await expect(reading).rejects.toThrow(/deadline passed/);
    await expect(enc.done).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
    for (const p of enc.procs) expect(p.child.exitCode !== null || p.child.signalCode !== null).toBe(true);
  }, 20_000);

  test("raw bytes in a FIFO: a stage failing while node's read of the copy still waits to open settles the run, naming that stage", async () => {
    // The kernel tee can be stopped between opening the raw FIFO and opening the copy's: node's
    // open of the copy then waited forever for a writer, and the run with it.
    const fifos = new FifoDir(["raw", "copy"]);
    try {
      const src = startProc("source", "sh", ["-c", 'exec 3>"$0"; echo "source: gone" >&2; exit 1', fifos.path("raw")], { stdinIgnore: true });
      const raw: FifoRaw = { fifo: fifos.path("raw"), counted: { bytes: 0 }, done: fifos.drain("copy", () => undefined).then(() => undefined), release: () => fifos.dispose() };
      const enc = encode(raw, [src], [recipient], 3);
      await expect(enc.done).rejects.toThrow(/source exited with code 1: source: gone/);
      await expect(collect(enc.body)).rejects.toThrow(/source exited with code 1/);
    } finally {
      fifos.dispose();
    }
  }, 20_000);

  test("a node stream source still goes through node and is counted there", async () => {
    const enc = encode(Readable.from([Buffer.alloc(1000, 1), Buffer.alloc(234, 2)]), [], [recipient], 3, undefined, { direct: true });
    await collect(enc.body);
    await enc.done;
    expect(enc.raw.bytes).toBe(1234);
  });

  test("zstd dying makes the source fail instead of blocking on a full pipe", async () => {
    const src = startProc("dumper", "sh", ["-c", "cat /dev/zero"], { stdinIgnore: true });
    const enc = encode(src.child.stdout!, [src], [recipient], 3, undefined, { direct: true });
    const body = collect(enc.body);
    body.catch(() => undefined);
    setTimeout(() => enc.procs.find((p) => p.name === "zstd")!.child.kill("SIGKILL"), 300);
    await expect(enc.done).rejects.toThrow(/zstd was killed|dumper/);
    await expect(body).rejects.toThrow();
  }, 20_000);

  test("a corrupted chunk that age rejects mid-stream fails `done`, and a reader without an error listener survives it", async () => {
    // 8 MiB of incompressible bytes: many 64 KiB age chunks, so age fails long before the end.
    const raw = Buffer.alloc(8 << 20);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
    const src = startProc("cat", "cat", []);
    src.child.stdin!.end(raw);
    const enc = encode(src.child.stdout!, [src], [recipient], 1, undefined, { direct: true });
    const stored = await collect(enc.body);
    await enc.done;
    stored[Math.floor(stored.length / 10)]! ^= 0x01;

    const dec = decode(Readable.from([stored]), identity);
    // A slow reader that never listens for errors on `out`, as `pipe()` into tar does.
    const slow = new Writable({
      highWaterMark: 1024,
      write(_c, _e, cb) {
        setTimeout(cb, 1);
      },
    });
    dec.out.pipe(slow);
    await expect(dec.done).rejects.toThrow();
    // Give any stray 'error' event the chance to surface as an uncaught exception.
    await new Promise((r) => setTimeout(r, 200));
  });
});

describe("download: the decoded stream of a stored backup", () => {

  // The cause of the pitr.e2e "verify flipped byte" flake: verify pipe()s `out` into tar, and pipe()
  // listens for no 'error' on its source. When the download failed before `out` ended, `out` was
  // destroyed with the error, the 'error' event had no listener, and node crashed with exit 1 and no
  // report. Failing mid-stream every time: the stored body errors after its first chunk.
  test("a failure before the end is reported through done, never as an uncaught 'error' on out", async () => {
    const src = startProc("head", "head", ["-c", String(4 << 20), "/dev/urandom"], { stdinIgnore: true });
    const enc = encode(src.child.stdout!, [src], [recipient], 1, undefined, { direct: true });
    const stored = await collect(enc.body);
    await enc.done;
    const body = new Readable({ read() {} });
    body.push(stored.subarray(0, 256 << 10));
    const store = { get: async () => body } as unknown as Store;
    const sel = { entry: { key: "t/daily/x.age" }, manifest: { storedBytes: stored.length, sha256: "0".repeat(64) } } as unknown as Selected;
    const dl = await download(store, sel, identity);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    try {
      dl.out.pipe(new Writable({ write: (_c, _e, cb) => setTimeout(cb, 1) }));
      setTimeout(() => body.destroy(new Error("connection reset")), 50);
      await expect(dl.done).rejects.toThrow(/connection reset/);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});
