/**
 * End to end against s3rver: results the runner reports are honest, and "latest" is chosen by
 * what a holder of the writer's credentials cannot forge. s3rver sets LastModified itself, so
 * these tests can forge keys and manifests (as an attacker with the writer's keys could) but
 * not the store's times, as in reality.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupArgs, listArgs, restoreArgs, statusArgs, verifyArgs, BackupSpec } from "lifeboat-runner";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner } from "../support/runner";

jest.setTimeout(120_000);

const BUCKET = "lifeboat-honest";
const DEST = `s3://${BUCKET}/prod`;

let s3: S3Server;
let hook: Hook;
let key: AgeKey;
let work: string;

const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "auto", stateFile: join(work, "state.json"), workDir: work });
const env = () => ({ ...s3.env });

function backup(spec: Partial<BackupSpec> & Pick<BackupSpec, "source" | "name">) {
  return runner(backupArgs({ recipients: [key.recipient], ...dest(), json: true, ...spec }), env());
}

/** A directory holding one file with `text`, backed up as source `name`; returns the key. */
async function backupText(name: string, text: string): Promise<string> {
  const dir = join(work, `src-${name}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "who.txt"), text);
  const r = await backup({ source: "directory", name, path: dir });
  expect(describeRun(r)).toMatch(/^exit 0/);
  return JSON.parse(r.stdout).manifest.key;
}

/** What `restore --at latest` of `name` puts in who.txt. */
async function restoredText(name: string): Promise<string> {
  const target = join(work, `restored-${name}-${Math.random().toString(16).slice(2)}`);
  const r = await runner(restoreArgs({ name, identity: key.file, targetDir: target, ...dest() }), env());
  expect(describeRun(r)).toMatch(/^exit 0/);
  return readFileSync(join(target, "who.txt"), "utf8");
}

/** A key of `source` dated `time`, in the layout the runner writes. */
function keyAt(source: string, time: Date): string {
  const ts = time.toISOString().replace(/[-:]/g, "");
  return `prod/${source}/daily/${ts}-${"ab".repeat(6)}.tar.zst.age`;
}

/** What an attacker with the writer's credentials does: copy another backup's object and a manifest rewritten for `to`. */
async function plant(from: string, to: string): Promise<void> {
  const m = JSON.parse((await s3.get(BUCKET, from + ".manifest.json")).toString("utf8"));
  m.key = to;
  m.source = to.split("/")[1];
  await s3.put(BUCKET, to, await s3.get(BUCKET, from));
  await s3.put(BUCKET, to + ".manifest.json", Buffer.from(JSON.stringify(m)));
}

beforeAll(async () => {
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-honest-e2e-"));
  [s3, hook] = await Promise.all([startS3(), startWebhook()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), hook?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("a backup nobody holding this identity can decrypt", () => {
  test("verify records, alerts and exits 1; status shows the failed verification", async () => {
    const stale = ageKey(work);
    const dir = join(work, "stale-src");
    mkdirSync(dir);
    writeFileSync(join(dir, "data.txt"), "encrypted to a retired key");
    const r = await backup({ source: "directory", name: "stale-key", path: dir, recipients: [stale.recipient] });
    expect(describeRun(r)).toMatch(/^exit 0/);
    const k = JSON.parse(r.stdout).manifest.key;
    hook.received.length = 0;
    const v = await runner(verifyArgs({ name: "stale-key", identity: key.file, alertWebhook: hook.url, ...dest() }), env());
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/verify FAILED/);
    expect(v.stdout).toMatch(/cannot decrypt/);
    const records = await s3.keys(BUCKET, "prod/_verifications/stale-key/");
    expect(records).toHaveLength(1);
    const rec = JSON.parse((await s3.get(BUCKET, records[0]!)).toString("utf8"));
    expect(rec).toMatchObject({ key: k, ok: false });
    expect(rec.problems.join(" ")).toMatch(/cannot decrypt/);
    expect(hook.received.map((h) => h.body).join("\n")).toMatch(/verification of stale-key .*FAILED.*cannot decrypt/);
    const st = await runner(statusArgs({ name: "stale-key", maxAge: "1h", minSize: "0", ...dest(), json: true }), env());
    expect(st.code).toBe(1);
    const s = JSON.parse(st.stdout).sources[0];
    expect(s.newest.verified).toBe("failed");
    expect(s.problems.join(" ")).toMatch(/verification failed: .*cannot decrypt/);
  });

  test("a verify with nothing to verify alerts too", async () => {
    hook.received.length = 0;
    const v = await runner(verifyArgs({ name: "never-backed-up", identity: key.file, alertWebhook: hook.url, ...dest() }), env());
    expect(v.code).toBe(1);
    expect(hook.received.map((h) => h.body).join("\n")).toMatch(/verification of never-backed-up FAILED: no backups found/);
  });
});

describe("latest is what the store says, not what the key says", () => {
  let honest: string;
  let other: string;

  beforeAll(async () => {
    other = await backupText("other-db", "someone else's data");
    await backupText("victim", "old");
    honest = await backupText("victim", "newest honest");
  });

  test("a backup of another database under a key dated 2099 is flagged and not chosen by status, list, verify or restore", async () => {
    const forged = keyAt("victim", new Date("2099-01-01T00:00:00Z"));
    await plant(other, forged);

    const list = JSON.parse((await runner(listArgs({ name: "victim", ...dest(), json: true }), env())).stdout).backups;
    const f = list.find((b: any) => b.key === forged);
    expect(f.flags.join(" ")).toMatch(/after the store received the object/);
    expect(list.find((b: any) => b.key === honest).flags).toEqual([]);

    const st = await runner(statusArgs({ name: "victim", maxAge: "1h", minSize: "0", ...dest(), json: true }), env());
    expect(st.code).toBe(1);
    const s = JSON.parse(st.stdout).sources[0];
    expect(s.newest.key).toBe(honest);
    expect(s.newest.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(s.problems.join(" ")).toMatch(new RegExp(`untrusted backup ${forged}: .*in the future`));

    expect(await restoredText("victim")).toBe("newest honest");
    const v = await runner(verifyArgs({ name: "victim", identity: key.file, ...dest(), json: true, record: false }), env());
    expect(describeRun(v)).toMatch(/^exit 0/);
    expect(JSON.parse(v.stdout).key).toBe(honest);

    // Chosen by its exact key, it fails verification on the flag alone.
    const vf = await runner(verifyArgs({ name: "victim", key: forged, identity: key.file, ...dest(), record: false }), env());
    expect(vf.code).toBe(1);
    expect(vf.stdout).toMatch(/PROBLEM: .*after the store received the object/);
    await s3.remove(BUCKET, forged + ".manifest.json");
  });

  test("a backup host whose clock runs 2 hours ahead: status is not OK, and its backup is not latest", async () => {
    const ahead = keyAt("victim", new Date(Date.now() + 2 * 3600_000));
    await plant(honest, ahead);
    const st = await runner(statusArgs({ name: "victim", maxAge: "1h", minSize: "0", ...dest() }), env());
    expect(st.code).toBe(1);
    expect(st.stdout).toMatch(/^FAIL victim/);
    expect(st.stdout).toMatch(/in the future/);
    expect(st.stdout).not.toMatch(/-\d+s ago/);
    expect(await restoredText("victim")).toBe("newest honest");
    await s3.remove(BUCKET, ahead + ".manifest.json");
  });

  test("an object replaced after its manifest was written is flagged, and the previous backup is latest", async () => {
    await new Promise((r) => setTimeout(r, 2100)); // LastModified has whole seconds
    const before = await s3.get(BUCKET, honest);
    await s3.put(BUCKET, honest, await s3.get(BUCKET, other));
    try {
      const list = JSON.parse((await runner(listArgs({ name: "victim", ...dest(), json: true }), env())).stdout).backups;
      expect(list.find((b: any) => b.key === honest).flags.join(" ")).toMatch(/after its manifest/);
      expect(await restoredText("victim")).toBe("old");
      const st = await runner(statusArgs({ name: "victim", maxAge: "1h", minSize: "0", ...dest() }), env());
      expect(st.code).toBe(1);
      expect(st.stdout).toMatch(/replaced after the backup finished/);
    } finally {
      await s3.put(BUCKET, honest, before);
    }
  });
});
