/**
 * The extraction guard (TarCounter with a guard) and the pass-through counter, whatever the
 * chunking: the counter passes every byte unchanged; the guard passes the archive through its
 * end-of-archive marker (two zero blocks) with setuid/setgid cleared on files, and nothing after.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { TarCounter } from "../../runner/src/tarstats";

let archive: Buffer;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "targuard-"));
  const src = join(dir, "src");
  mkdirSync(join(src, "shared"), { recursive: true });
  chmodSync(join(src, "shared"), 0o2775); // setgid directory: group inheritance, kept
  writeFileSync(join(src, "suid"), "#!/bin/sh\n");
  chmodSync(join(src, "suid"), 0o4755);
  writeFileSync(join(src, "x".repeat(200)), Buffer.alloc(1500, 1));
  const r = spawnSync("tar", ["--create", "--file=-", "--format=posix", "--sort=name", "-C", src, "."], { maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  archive = r.stdout;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function through(t: TarCounter, input: Buffer, sizes: number[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0, k = 0; i < input.length; k++) {
    const n = sizes[k % sizes.length]!;
    parts.push(input.subarray(i, i + n));
    i += n;
  }
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), t, new Writable({ write: (c, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}

/** Offset just past the second zero block that ends the archive. */
function archiveEnd(b: Buffer): number {
  for (let off = 0; off + 512 <= b.length; off += 512) if (b.subarray(off, off + 512).every((x) => x === 0)) return off + 1024;
  throw new Error("no end marker");
}

const chunkings = fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 20 });

test("the counter passes every byte unchanged, whatever the chunking", async () => {
  await fc.assert(
    fc.asyncProperty(chunkings, async (sizes) => {
      expect((await through(new TarCounter(), archive, sizes)).equals(archive)).toBe(true);
    }),
    { numRuns: 100 },
  );
});

test("the guard's output does not depend on the chunking and ends at the end-of-archive marker", async () => {
  const reference = await through(new TarCounter({ allowSpecial: false }), archive, [archive.length]);
  expect(reference.length).toBe(archiveEnd(archive));
  await fc.assert(
    fc.asyncProperty(chunkings, fc.integer({ min: 0, max: 50_000 }), async (sizes, extraZeros) => {
      const out = await through(new TarCounter({ allowSpecial: false }), Buffer.concat([archive, Buffer.alloc(extraZeros)]), sizes);
      expect(out.equals(reference)).toBe(true);
    }),
    { numRuns: 100 },
  );
  // What tar reads from the guarded stream: the setuid bit cleared, the setgid directory kept.
  const list = spawnSync("tar", ["-tv", "--numeric-owner", "--file=-"], { input: reference, encoding: "utf8" });
  expect(list.status).toBe(0);
  expect(list.stdout).toMatch(/^-rwxr-xr-x .* \.\/suid$/m);
  expect(list.stdout).toMatch(/^drwxrwsr-x .* \.\/shared\/$/m);
  // With allowSpecial the archive passes unchanged up to the marker.
  expect((await through(new TarCounter({ allowSpecial: true }), archive, [4096])).equals(archive.subarray(0, archiveEnd(archive)))).toBe(true);
});

test("a non-zero byte anywhere after the end-of-archive marker fails the guard", async () => {
  const end = archiveEnd(archive) - 512; // the second zero block belongs to the marker too
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: end, max: archive.length + 2000 }), fc.integer({ min: 1, max: 255 }), chunkings, async (at, byte, sizes) => {
      const bad = Buffer.concat([archive, Buffer.alloc(2001)]);
      bad[at] = byte;
      await expect(through(new TarCounter({ allowSpecial: false }), bad, sizes)).rejects.toThrow(/after the tar end-of-archive marker/);
    }),
    { numRuns: 100 },
  );
});
