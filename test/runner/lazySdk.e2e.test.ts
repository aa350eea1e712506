/**
 * Local mode never loads the AWS SDK (runner/src/s3sdk.ts): loading it cost every local backup
 * 0.2–0.3 s. A preloaded hook writes, as the run exits, which files node loaded; the control run
 * (an S3 listing) shows the hook sees the SDK when it is loaded.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, listArgs } from "lifeboat-core";
import { ageKey, describeRun, requireBuiltRunner, runner } from "../support/runner";

jest.setTimeout(60_000);

let dir: string;
beforeAll(() => {
  requireBuiltRunner();
  dir = mkdtempSync(join(tmpdir(), "lifeboat-lazy-sdk-"));
  writeFileSync(
    join(dir, "hook.js"),
    `process.on("exit", () => require("fs").writeFileSync(process.env.LOADED_OUT, JSON.stringify(Object.keys(require.cache))));\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the runner with the hook; returns the run and the files it loaded from @aws-sdk. */
async function loadedSdk(args: string[], name: string) {
  const out = join(dir, `${name}.json`);
  const r = await runner(args, { NODE_OPTIONS: `--require ${join(dir, "hook.js")}`, LOADED_OUT: out, AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" });
  const loaded = JSON.parse(readFileSync(out, "utf8")) as string[];
  return { r, sdk: loaded.filter((f) => f.includes("/@aws-sdk/")), all: loaded.length };
}

test("a local-mode backup does not load @aws-sdk/client-s3; a command that talks to S3 does", async () => {
  const src = join(dir, "src");
  mkdirSync(src);
  writeFileSync(join(src, "a.txt"), "hello\n");
  const key = ageKey(dir);
  const local = await loadedSdk(backupArgs({ source: "directory", name: "lazy", path: src, recipients: [key.recipient], noUpload: true, localDir: join(dir, "out"), json: true }), "local");
  if (local.r.code !== 0) throw new Error(describeRun(local.r));
  expect(local.all).toBeGreaterThan(50); // the hook saw the run's modules
  expect(local.sdk).toEqual([]);

  // Port 9 (discard) on loopback refuses the connection: the listing fails, after loading the SDK.
  const s3 = await loadedSdk([...listArgs({ dest: "s3://lazy/p", endpoint: "http://127.0.0.1:9", region: "us-east-1" }), "--max-attempts", "1"], "s3");
  expect(s3.r.code).toBe(1);
  expect(s3.sdk.some((f) => f.includes("/@aws-sdk/client-s3/"))).toBe(true);
});
