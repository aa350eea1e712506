/**
 * End to end against s3rver: results the runner reports are honest, and "latest" is chosen by
 * what a holder of the writer's credentials cannot forge. s3rver sets LastModified itself, so
 * these tests can forge keys and manifests (as an attacker with the writer's keys could) but
 * not the store's times, as in reality.
 */
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { backupArgs, listArgs, restoreArgs, statusArgs, verifyArgs, BackupSpec } from "lifeboat-core";
import { startS3, S3Server } from "../support/s3";
import { startWebhook, Hook } from "../support/webhook";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner, RUNNER_BIN } from "../support/runner";

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
    expect(s.problems.join(" ")).toMatch(/verification failed .*cannot decrypt/);
  });

  test("an unreadable manifest is a recorded, alerted verify failure against its key", async () => {
    const k = await backupText("garbled", "data");
    await s3.put(BUCKET, k + ".manifest.json", Buffer.from("{ not json"));
    hook.received.length = 0;
    const v = await runner(verifyArgs({ name: "garbled", identity: key.file, alertWebhook: hook.url, ...dest() }), env());
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/verify FAILED: .*garbled.*\n  manifest unreadable/);
    const records = await s3.keys(BUCKET, "prod/_verifications/garbled/");
    expect(JSON.parse((await s3.get(BUCKET, records[0]!)).toString("utf8"))).toMatchObject({ key: k, ok: false, problems: [expect.stringMatching(/not valid JSON/)] });
    expect(hook.received.map((h) => h.body).join("\n")).toMatch(/verification of garbled backup .*FAILED.*not valid JSON/);
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
    const v = await runner(verifyArgs({ name: "victim", identity: key.file, ...dest(), json: true, noRecord: true }), env());
    expect(describeRun(v)).toMatch(/^exit 0/);
    expect(JSON.parse(v.stdout).key).toBe(honest);

    // Chosen by its exact key, it fails verification on the flag alone.
    const vf = await runner(verifyArgs({ name: "victim", key: forged, identity: key.file, ...dest(), noRecord: true }), env());
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

describe("after the clock is fixed", () => {
  test("an untrusted backup that a trusted one followed and that aged out of --max-age is a warning, not a failure", async () => {
    const first = await backupText("clockfix", "before the fix");
    const ahead = keyAt("clockfix", new Date(Date.now() + 2 * 3600_000));
    await plant(first, ahead);
    const recent = await runner(statusArgs({ name: "clockfix", maxAge: "1h", minSize: "0", ...dest() }), env());
    expect(recent.code).toBe(1);
    await new Promise((r) => setTimeout(r, 2100));
    await backupText("clockfix", "after the fix");
    const st = await runner(statusArgs({ name: "clockfix", maxAge: "2s", minSize: "0", ...dest(), json: true }), env());
    expect(describeRun(st)).toMatch(/^exit 0/);
    expect(JSON.parse(st.stdout).sources[0].warnings.join(" ")).toContain(`untrusted backup ${ahead}: `);
    expect(await restoredText("clockfix")).toBe("after the fix");
  });
});

describe("a source that changes while tar reads it", () => {
  /**
   * A volume whose first member (by name) is a 40 MB incompressible file, uploaded in 5 MiB
   * parts that s3rver receives slowly: with two part buffers the pipeline back-pressures tar
   * in the middle of that file, and `change` runs while tar is blocked there.
   */
  async function backupWhile(name: string, change: (dir: string) => void): Promise<{ r: Awaited<ReturnType<typeof runner>>; dir: string }> {
    const dir = join(work, `live-${name}`);
    mkdirSync(dir);
    const big = Buffer.alloc(40_000_000);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    writeFileSync(join(dir, "0-big.bin"), big);
    writeFileSync(join(dir, "z-last.txt"), "after the big file\n");
    s3.setFault({ kind: "slow-parts", ms: 1500 });
    const parts = () => s3.requests.filter((q) => q.method === "PUT" && /partNumber=/.test(q.url)).length;
    const before = parts();
    hook.received.length = 0;
    const running = backup({ source: "directory", name, path: dir, partSizeMiB: 5, concurrency: 1, alertWebhook: hook.url });
    try {
      const until = Date.now() + 30_000;
      while (parts() === before && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
      expect(parts()).toBeGreaterThan(before);
      change(dir);
    } finally {
      s3.setFault({ kind: "none" });
    }
    return { r: await running, dir };
  }

  test("a file truncated while read (tar pads it with zeros) fails the run: no manifest, alerted, named", async () => {
    const { r } = await backupWhile("shrinks", (dir) => truncateSync(join(dir, "0-big.bin"), 1000));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a faithful copy.*0-big\.bin: shrank while being archived/);
    expect((await s3.keys(BUCKET, "prod/shrinks/")).filter((k) => k.endsWith(".manifest.json"))).toEqual([]);
    expect(hook.received.map((h) => h.body).join("\n")).toMatch(/backup of shrinks .*FAILED.*0-big\.bin: shrank/);
  });

  test("a file changed while read: a degraded backup (exit 3), the file named in the manifest, alerted, restorable", async () => {
    const { r, dir } = await backupWhile("changes", (d) => chmodSync(join(d, "0-big.bin"), 0o600));
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, degraded: true });
    expect(out.manifest.warnings).toEqual([expect.stringMatching(/^0-big\.bin: changed while being archived/)]);
    expect(hook.received.map((h) => h.body).join("\n")).toMatch(/backup of changes .*DEGRADED.*0-big\.bin: changed/);
    expect(readFileSync(join(await restoredDir("changes"), "z-last.txt"), "utf8")).toBe(readFileSync(join(dir, "z-last.txt"), "utf8"));
    const st = await runner(statusArgs({ name: "changes", maxAge: "1h", ...dest(), json: true }), env());
    expect(describeRun(st)).toMatch(/^exit 0/);
    expect(JSON.parse(st.stdout).sources[0].warnings).toEqual(out.manifest.warnings.map((w: string) => `degraded: ${w}`));
  });

  test("a file removed before tar reached it: degraded (exit 3), named, the rest archived", async () => {
    const { r } = await backupWhile("vanishes", (d) => rmSync(join(d, "z-last.txt")));
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).manifest.warnings).toEqual([expect.stringMatching(/^z-last\.txt: removed while being archived/)]);
    const restored = await restoredDir("vanishes");
    expect(readFileSync(join(restored, "0-big.bin")).length).toBe(40_000_000);
  });
});

describe("a damaged file with the SQLite header inside a volume", () => {
  test("is named and archived as is; the rest of the volume is protected; the run is degraded and alerted", async () => {
    const dir = join(work, "vol-with-bad-db");
    mkdirSync(join(dir, "data"), { recursive: true });
    const bad = Buffer.concat([Buffer.from("SQLite format 3\0", "latin1"), Buffer.alloc(5000, 0xee)]);
    writeFileSync(join(dir, "data", "broken.sqlite"), bad);
    writeFileSync(join(dir, "data", "notes.txt"), "keep me\n");
    hook.received.length = 0;
    const r = await backup({ source: "volume", name: "bad-db-vol", path: dir, alertWebhook: hook.url });
    expect(r.code).toBe(3);
    const m = JSON.parse(r.stdout).manifest;
    expect(m.warnings).toEqual([expect.stringMatching(/^data\/broken\.sqlite: has the SQLite header but the online backup failed .*archived as is/)]);
    expect(m.archive.sqliteSnapshots).toEqual([]);
    expect(hook.received.map((h) => h.body).join("\n")).toMatch(/bad-db-vol .*DEGRADED.*data\/broken\.sqlite/);
    const restored = await restoredDir("bad-db-vol");
    expect(readFileSync(join(restored, "data", "broken.sqlite"))).toEqual(bad);
    expect(readFileSync(join(restored, "data", "notes.txt"), "utf8")).toBe("keep me\n");
  });
});

async function restoredDir(name: string): Promise<string> {
  const target = join(work, `restored-${name}-${Math.random().toString(16).slice(2)}`);
  const r = await runner(restoreArgs({ name, identity: key.file, targetDir: target, ...dest() }), env());
  expect(describeRun(r)).toMatch(/^exit 0/);
  return target;
}

describe("local mode after a kill", () => {
  test("a partial left by a killed run is removed by the next run (and reported with --keep-local); a live run's partial is not", async () => {
    const src = join(work, "local-kill-src");
    mkdirSync(src);
    const big = Buffer.alloc(80_000_000);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2246822519) ^ (i >>> 5)) >>> 0, i);
    writeFileSync(join(src, "big.bin"), big);
    const local = join(work, "local-kill");
    const args = (keep?: number) =>
      backupArgs({ source: "directory", name: "dev-kill", path: src, recipients: [key.recipient], noUpload: true, localDir: local, stateFile: join(work, "kill-state.json"), json: true, ...(keep ? { keepLocal: keep } : {}) });
    const partials = (): string[] => {
      const out: string[] = [];
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else if (/\.partial-/.test(e.name)) out.push(join(d, e.name));
        }
      };
      if (existsSync(local)) walk(local);
      return out;
    };

    const child = spawn(process.execPath, [RUNNER_BIN, ...args()], { stdio: "ignore", env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    const closed = new Promise((r) => child.on("close", r));
    const until = Date.now() + 20_000;
    while (partials().length === 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 5));
    child.kill("SIGKILL");
    await closed;
    const left = partials();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`\\.partial-${child.pid}-[0-9a-f]{8}$`));

    // A partial of a run that is still alive (this test process) stays.
    const live = join(dirname(left[0]!), `20261201T000000.000Z-aaaaaaaaaaaa.tar.zst.age.partial-${process.pid}-0123abcd`);
    writeFileSync(live, "being written");

    const r = await runner(args(5), {});
    expect(describeRun(r)).toMatch(/^exit 0/);
    expect(JSON.parse(r.stdout).pruned).toEqual([left[0]]);
    expect(partials()).toEqual([live]);
    const list = JSON.parse((await runner(listArgs({ name: "dev-kill", localDir: local, json: true }), {})).stdout);
    expect(list.backups).toHaveLength(1);
  });
});

describe("status --local", () => {
  test("a last success recorded in the future (the host clock ran ahead) is not OK", async () => {
    const stateFile = join(work, "future-state.json");
    const future = new Date(Date.now() + 3 * 3600_000).toISOString();
    const run = { ok: true, startedAt: future, finishedAt: future, key: "k" };
    writeFileSync(stateFile, JSON.stringify({ version: 1, sources: { db: { lastRun: run, lastSuccess: run } } }));
    const st = await runner(statusArgs({ name: "db", local: true, maxAge: "1h", stateFile }), {});
    expect(st.code).toBe(1);
    expect(st.stdout).toMatch(/in the future of this host's clock/);
  });
});
