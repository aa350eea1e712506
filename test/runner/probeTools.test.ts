/**
 * Tool probes for the backup's manifest (runner/src/version.ts): a missing tool is a usage error
 * before anything runs; the versions are probed concurrently and arrive later.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../runner/src/errors";
import { probeTools } from "../../runner/src/version";

let dir: string;
const tool = (name: string, script: string) => {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${script}\n`);
  chmodSync(p, 0o755);
  return p;
};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lifeboat-probe-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("every missing tool is named with why it is needed, synchronously, before any probe runs", () => {
  const marker = join(dir, "probed");
  const ok = tool("ok-tool", `touch ${marker}; echo ok 1.0`);
  let err: unknown;
  try {
    void probeTools([
      { cmd: ok, why: "works" },
      { cmd: "lifeboat-no-such-tool-a", why: "compresses" },
      { cmd: join(dir, "absent"), why: "encrypts" },
    ]);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UsageError);
  expect((err as Error).message).toBe(`required tool not found: lifeboat-no-such-tool-a (compresses), ${join(dir, "absent")} (encrypts)`);
  expect(existsSync(marker)).toBe(false);
});

test("versions are the first non-empty line (stdout, else stderr) keyed by the command's base name; a failing probe rejects naming the tool", async () => {
  const a = tool("zstd", "echo; echo '*** zstd v1.5.4 ***'; echo second");
  const b = tool("age", "echo 'age 1.1.1' >&2");
  await expect(probeTools([{ cmd: a, why: "x" }, { cmd: b, why: "y" }])).resolves.toEqual({ zstd: "*** zstd v1.5.4 ***", age: "age 1.1.1" });
  const bad = tool("broken", "echo nope; exit 3");
  await expect(probeTools([{ cmd: a, why: "x" }, { cmd: bad, why: "z" }])).rejects.toThrow(/broken --version exited with code 3/);
});
