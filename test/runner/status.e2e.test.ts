/**
 * `status` end to end against s3rver, through the built runner: one source's bad data must be
 * reported as that source's problem, with every other source still judged and the alert sent.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, statusArgs, BackupSpec } from "lifeboat-core";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";

jest.setTimeout(120_000);

const BUCKET = "lifeboat-status";
const DEST = `s3://${BUCKET}/prod`;

let s3: S3Server;
let hook: Hook;
let key: AgeKey;
let work: string;

const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "auto", stateFile: join(work, "state.json"), workDir: work });

async function backupDir(name: string, files: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(work, `src-${name}-`));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  const spec: BackupSpec = { source: "directory", name, path: dir, recipients: [key.recipient], ...dest(), json: true };
  const r = await runner(backupArgs(spec), s3.env);
  expect(describeRun(r)).toMatch(/^exit 0/);
  return JSON.parse(r.stdout).manifest.key;
}

async function status(name?: string) {
  hook.received.length = 0;
  const r = await runner(statusArgs({ name, maxAge: "1h", ...dest(), alertWebhook: hook.url, json: true }), s3.env);
  return { r, report: r.stdout ? JSON.parse(r.stdout) : undefined };
}

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-status-e2e-"));
  mkdirSync(work, { recursive: true });
  [s3, hook] = await Promise.all([startS3(), startWebhook()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), hook?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("an unreadable manifest is that source's problem; the other sources are still reported and the alert is sent", async () => {
  await backupDir("good", { "a.txt": "fine" });
  const broken = await backupDir("broken", { "a.txt": "soon unreadable" });
  s3.rot(BUCKET, broken + ".manifest.json", Buffer.from("{not json"));
  const { r, report } = await status();
  expect(r.code).toBe(1);
  const byName = Object.fromEntries(report.sources.map((s: any) => [s.source, s]));
  expect(byName.good.healthy).toBe(true);
  expect(byName.broken.healthy).toBe(false);
  expect(byName.broken.problems.join("\n")).toMatch(/unreadable manifest: manifest .*broken.* is not valid JSON/);
  expect(JSON.parse(hook.received[0]!.body).text).toMatch(/unhealthy.*broken: unreadable manifest/);
});

test("a first backup of an empty directory (a volume that was not mounted) is unhealthy", async () => {
  await backupDir("unmounted", {});
  const { r, report } = await status("unmounted");
  expect(r.code).toBe(1);
  expect(report.sources[0].problems).toEqual([expect.stringMatching(/^empty: the archive holds no files/)]);
  expect(JSON.parse(hook.received[0]!.body).text).toMatch(/unmounted: empty/);
});

test("--format prometheus prints the textfile format, with the same exit code and alert as the text report", async () => {
  await backupDir("metered", { "a.txt": "counted" });
  const r = await runner(statusArgs({ name: "metered", maxAge: "1h", format: "prometheus", ...dest() }), s3.env);
  expect(describeRun(r)).toMatch(/^exit 0/);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fams: Array<{ name: string; metrics: Array<{ labels: Record<string, string>; value: string }> }> = require("parse-prometheus-text-format")(r.stdout);
  const value = (name: string) => Number(fams.find((f) => f.name === name)!.metrics.find((m) => m.labels.source === "metered")!.value);
  expect(value("lifeboat_backup_healthy")).toBe(1);
  expect(Math.abs(value("lifeboat_backup_newest_recoverable_timestamp_seconds") - Date.now() / 1000)).toBeLessThan(600);
  expect(value("lifeboat_backup_stored_bytes")).toBeGreaterThan(0);
  const bad = await runner(statusArgs({ name: "metered", maxAge: "1h", format: "yaml" as "json", ...dest() }), s3.env);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/--format: must be one of text, json, prometheus, got "yaml"/);
});
