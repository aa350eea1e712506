/**
 * The kernel tee (runner/src/kernelTee.ts) and the FIFO pipeline a Postgres backup runs through
 * where it works (runner/src/sources/pgDumpStream.ts): bytes arrive whole on both sides, a stage
 * that fails is the one named, nothing waits forever on a FIFO whose other end never opened, and
 * where the tee cannot run (no perl or mkfifo on PATH) the backup takes the node copy with the
 * same result.
 */
import { randomBytes, createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs } from "lifeboat-core";
import { kernelTeeUnsupported, TEE_SCRIPT } from "../../runner/src/kernelTee";
import { FifoDir } from "../../runner/src/fifoDir";
import { startProc } from "../../runner/src/proc";
import { startPostgres, PgServer } from "../support/postgres";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";

jest.setTimeout(120_000);

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Runs `producer | tee | cat > out` through FIFOs, node draining the tee's copy. */
async function teeThrough(input: Buffer, dir: string) {
  const fifos = new FifoDir(["in", "copy"]);
  const src = join(dir, "input.bin");
  const out = join(dir, "out.bin");
  writeFileSync(src, input);
  try {
    const feed = startProc("cat", "cat", [src], { stdinIgnore: true, redirect: { stdout: fifos.path("in") } });
    const tee = startProc("kernel tee", "perl", ["-e", TEE_SCRIPT], { stdinIgnore: true, redirect: { stdin: fifos.path("in"), stdout: out, fd3: fifos.path("copy") } });
    const chunks: Buffer[] = [];
    const copied = await fifos.drain("copy", (c) => chunks.push(Buffer.from(c)));
    await Promise.all([feed.done, tee.done]);
    return { copy: Buffer.concat(chunks), copied, out: readFileSync(out) };
  } finally {
    fifos.dispose();
  }
}

describe("the kernel tee", () => {
  let dir: string;
  beforeAll(() => {
    // This machine and CI run Linux with perl: the tee must be available here, not skipped.
    expect(kernelTeeUnsupported()).toBeUndefined();
    dir = mkdtempSync(join(tmpdir(), "lifeboat-tee-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    ["nothing", 0],
    ["one byte", 1],
    ["just under a pipe's default size", 65535],
    ["12 MiB and a bit (many 1 MiB moves)", 12 * 1024 * 1024 + 7],
  ])("%s: the output and node's copy are the input, byte for byte", async (_what, size) => {
    const input = randomBytes(size);
    const r = await teeThrough(input, dir);
    expect(r.copied).toBe(size);
    expect(sha(r.copy)).toBe(sha(input));
    expect(sha(r.out)).toBe(sha(input));
  });

  test("a reader that is gone fails the tee instead of blocking it", async () => {
    const fifos = new FifoDir(["in", "copy"]);
    try {
      const feed = startProc("head", "head", ["-c", String(8 * 1024 * 1024), "/dev/zero"], { stdinIgnore: true, redirect: { stdout: fifos.path("in") } });
      const tee = startProc("kernel tee", "perl", ["-e", TEE_SCRIPT], { stdinIgnore: true, redirect: { stdin: fifos.path("in"), stdout: "/dev/null", fd3: fifos.path("copy") } });
      // Node reads one chunk of the copy, then closes it.
      let first = true;
      await fifos
        .drain("copy", () => {
          if (first) {
            first = false;
            throw new Error("stop reading");
          }
        })
        .catch((e: Error) => expect(e.message).toBe("stop reading"));
      await expect(tee.done).rejects.toThrow(/kernel tee (was killed by SIGPIPE|exited with code)/);
      await feed.done.catch(() => undefined);
    } finally {
      fifos.dispose();
    }
  });

  test("dispose releases a read whose writer never opened, and removes the directory", async () => {
    const fifos = new FifoDir(["never"]);
    const read = fifos.drain("never", () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    fifos.dispose();
    await expect(read).resolves.toBe(0);
    expect(existsSync(fifos.dir)).toBe(false);
  });

  test("a command that is not there is named as missing, through the shell that opens its FIFOs", async () => {
    const p = startProc("zstd", "zstd-that-is-not-installed", ["-q"], { stdinIgnore: true, redirect: { stdout: "/dev/null" } });
    await expect(p.done).rejects.toThrow("zstd: command not found (zstd-that-is-not-installed); install it or put it on PATH");
  });
});

describe("a Postgres backup through the FIFO pipeline", () => {
  let pg: PgServer;
  let dir: string;
  let key: AgeKey;
  beforeAll(async () => {
    requireBuiltRunner();
    pg = await startPostgres();
    await pg.query("postgres", "CREATE DATABASE tee");
    await pg.query("tee", "CREATE TABLE a (x text); INSERT INTO a SELECT repeat(md5(g::text), 40) FROM generate_series(1, 20000) g; CREATE TABLE b (y int); INSERT INTO b VALUES (1), (2)");
    dir = mkdtempSync(join(tmpdir(), "lifeboat-teepg-"));
    mkdirSync(join(dir, "tmp"));
    key = ageKey(dir);
  });
  afterAll(async () => {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A directory on PATH first, with `name` as a script that answers --version as the real one and otherwise runs `script`. */
  function failing(name: string, script: string): string {
    const bin = join(dir, `bin-${name}`);
    mkdirSync(bin, { recursive: true });
    const real = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    writeFileSync(join(bin, name), `#!/bin/sh\n[ "$1" = --version ] && exec "${real}" "$@"\n${script}\n`);
    chmodSync(join(bin, name), 0o755);
    return `${bin}:${process.env.PATH}`;
  }

  // The runner's temp directory is this suite's own, so other suites' FIFO directories (they run
  // at the same time) do not show in it.
  const runnerTmp = () => join(dir, "tmp");
  const backup = (name: string, env: NodeJS.ProcessEnv = {}) =>
    runner(backupArgs({ source: "postgres", name, url: pg.url("tee"), recipients: [key.recipient], noUpload: true, localDir: join(dir, "out"), json: true }), { TMPDIR: runnerTmp(), ...env });

  const pipes = () => readdirSync(runnerTmp()).filter((f) => f.startsWith("lifeboat-pipe-"));

  test("the counts and the stored bytes are those of the node copy path (no perl or mkfifo on PATH)", async () => {
    const teed = await backup("teed");
    if (teed.code !== 0) throw new Error(describeRun(teed));
    // A PATH with every tool the backup needs but perl and mkfifo: the node copy.
    const bin = join(dir, "no-perl");
    mkdirSync(bin);
    for (const tool of ["pg_dump", "zstd", "age", "stdbuf", "sh"]) symlinkSync(execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim(), join(bin, tool));
    const copied = await backup("copied", { PATH: bin });
    if (copied.code !== 0) throw new Error(describeRun(copied));
    const [t, c] = [JSON.parse(teed.stdout).manifest, JSON.parse(copied.stdout).manifest];
    expect(t.postgres.tables).toEqual([
      { table: "public.a", rows: 20000 },
      { table: "public.b", rows: 2 },
    ]);
    expect(c.postgres.tables).toEqual(t.postgres.tables);
    expect(c.rawBytes).toBe(t.rawBytes);
    // Both decrypt to the same archive (pg_dump writes the same bytes of one unchanged database, its timestamp aside).
    const list = (m: { key: string }) =>
      execFileSync("sh", ["-c", `age -d -i "$0" "$1" | zstd -d -q | pg_restore -l | grep -v '^;'`, key.file, join(dir, "out", m.key)], { encoding: "utf8" });
    expect(list(c)).toBe(list(t));
    expect(pipes()).toEqual([]); // the FIFO directory is gone
  });

  test.each([
    ["zstd", 'echo "zstd: out of cheese" >&2; exit 3', /zstd exited with code 3: zstd: out of cheese/],
    ["pg_dump", 'echo "pg_dump: error: connection refused" >&2; exit 1', /pg_dump exited with code 1: pg_dump: error: connection refused/],
  ])("a failing %s is the error named, promptly, with no manifest and no FIFO left", async (tool, script, message) => {
    const started = Date.now();
    const name = `fails-${tool.replace("_", "")}`;
    const r = await backup(name, { PATH: failing(tool, script) });
    if (r.code !== 1) throw new Error(describeRun(r));
    expect(r.stderr).toMatch(message);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(existsSync(join(dir, "out", name)) ? execFileSync("find", [join(dir, "out", name), "-name", "*.manifest.json"], { encoding: "utf8" }) : "").toBe("");
    expect(pipes()).toEqual([]);
  });

  test("age failing is the error named, not the processes stopped after it", async () => {
    const r = await backup("age-fails", { PATH: failing("age", 'head -c 1000 >/dev/null; echo "age: error: no space left" >&2; exit 1') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/age exited with code 1: age: error: no space left/);
    expect(r.stderr).not.toMatch(/killed by SIGTERM|counting the rows/);
    expect(pipes()).toEqual([]);
  });
});
