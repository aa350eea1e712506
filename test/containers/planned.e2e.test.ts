/**
 * The containers `lifeboat plan` declares for a stack, run for real with podman on the runner
 * image (`npm run image:build`), exactly as declared (test/support/podmanArgs.ts), against
 * PostgreSQL, S3 (s3rver) and a Docker volume of WhatsApp-style session files on loopback.
 *
 * The suite iterates over whatever containers the plan declares. The only substitutions are the
 * test harness's: the locally built image for the plan's image id, the loopback S3 for the R2
 * endpoints, and the stack's placeholders for the loopback services' addresses.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ageKey } from "../support/runner";
import { PgServer, startPostgres } from "../support/postgres";
import { S3_ENV, S3Server, startS3 } from "../support/s3";
import { waitFor } from "../support/ports";
import { Planned, plannedContainers, plannedVolumes, podman, podmanOk, requirePodman, planRevealed, RUNNER_IMAGE, runPlannedContainer, waitForExit } from "../support/podman";
import { Substitutions } from "../support/podmanArgs";

// podman is a test prerequisite like PostgreSQL: without it this suite fails, never skips.
requirePodman();

jest.setTimeout(240_000);

/** The cron the schedulers run each job table's `* * * * *` jobs on (see `subs.crons`). */
const PLANNED_TICK = "*/15 * * * * *";

/** waitFor polls every 100 ms; these checks spawn podman or list a bucket, so pace them to every 2 s. */
const paced = (check: () => Promise<boolean>) => async () => {
  await new Promise((r) => setTimeout(r, 2000));
  return check();
};

/** Every file's type, mode, owner and content (sha256) under `root`, by relative path. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const p = join(root, rel);
    const st = lstatSync(p);
    const what = st.isSymbolicLink() ? `link:${readlinkSync(p)}`
      : st.isFile() ? `file:${createHash("sha256").update(readFileSync(p)).digest("hex")}`
        : st.isDirectory() ? "dir" : "other";
    out[rel || "."] = `${what} mode=${(st.mode & 0o7777).toString(8)} owner=${st.uid}:${st.gid}`;
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(rel ? `${rel}/${e}` : e);
  };
  walk("");
  return out;
}

/** WhatsApp-style session data: a root-owned 0700 directory of 0600 files, plus other users' files. */
function fillSessions(root: string): void {
  const put = (rel: string, body: Buffer | string, mode: number, uid: number, gid: number) => {
    writeFileSync(join(root, rel), body);
    chownSync(join(root, rel), uid, gid);
    chmodSync(join(root, rel), mode);
  };
  const dir = (rel: string, mode: number, uid: number, gid: number) => {
    mkdirSync(join(root, rel));
    chownSync(join(root, rel), uid, gid);
    chmodSync(join(root, rel), mode);
  };
  dir("session-main", 0o700, 0, 0);
  put("session-main/creds.json", JSON.stringify({ noiseKey: randomBytes(32).toString("base64") }), 0o600, 0, 0);
  for (let i = 1; i <= 20; i++) put(`session-main/pre-key-${i}.json`, randomBytes(200).toString("base64"), 0o600, 0, 0);
  symlinkSync("creds.json", join(root, "session-main/current"));
  dir("media", 0o750, 1001, 1001);
  put("media/voice-note.ogg", randomBytes(300_000), 0o640, 1001, 1001);
  put("media/readonly.txt", "kept read-only by its owner\n", 0o400, 1001, 1001);
  put("shared.txt", "another user's file\n", 0o644, 1002, 1003);
  chmodSync(root, 0o711);
}

describe("planned containers, run with podman", () => {
  const id = `e2e${randomBytes(3).toString("hex")}`;
  const work = mkdtempSync(join(tmpdir(), "lifeboat-containers-"));
  const drPath = join(work, "dr-host", "lifeboat-dr");
  const volume = `${id}-wa-sessions`;
  let pg: PgServer;
  let s3: S3Server;
  let sessions: string;
  let normal: Planned[];
  let failover: Planned[];
  const started: string[] = [];
  let subs: Substitutions;

  const keys = (bucket: string, prefix: string) => s3.keys(bucket, prefix);
  const label = (c: Planned, name: string) => (c.inputs.labels as { label: string; value: string }[]).find((l) => l.label === name)?.value;
  /** The environment's scheduler container of one side (`backup` or `verify`) on its one host. */
  const side = (role: "backup" | "verify") => {
    const found = plannedContainers(normal).filter((c) => label(c, "lifeboat.component") === `lifeboat-${id}` && label(c, "lifeboat.job") === role);
    expect([role, found.length]).toEqual([role, 1]);
    return found[0]!;
  };
  const sideName = (role: "backup" | "verify") => String(side(role).inputs.name);
  /** The job names in the table the plan uploads to a scheduler container. */
  const tableJobs = (c: Planned) => {
    const table = (c.inputs.uploads as { file: string; content: string }[]).find((u) => u.file === "/etc/lifeboat/jobs.json")!;
    return (JSON.parse(table.content) as { jobs: { name: string }[] }).jobs.map((j) => j.name).sort();
  };

  /** Waits for `check`; on a time-out the error carries the logs of the containers that should have made it true. */
  const expectWithin = async (what: string, ms: number, containers: Planned[], check: () => Promise<boolean>) => {
    try {
      await waitFor(what, paced(check), ms);
    } catch (e) {
      const logs = await Promise.all(containers.map(async (c) => `--- ${String(c.inputs.name)}\n${(await podman(["logs", "--tail", "30", String(c.inputs.name)])).stdout.slice(-4000)}`));
      throw new Error(`${(e as Error).message}\n${logs.join("\n")}`);
    }
  };

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres(), startS3()]);
    // Every job connects as the app's own role (password auth, no superuser), as in production:
    // it owns the app's database, the DR target and the tables; it makes verification scratch
    // databases with CREATEDB.
    const role = pg.app.user;
    await pg.query("postgres", `CREATE DATABASE app OWNER ${role}`);
    await pg.query("postgres", `CREATE DATABASE dr OWNER ${role}`);
    await pg.query("app", `SET ROLE ${role}; CREATE TABLE contacts (id serial PRIMARY KEY, phone text NOT NULL); INSERT INTO contacts (phone) SELECT '+49' || g FROM generate_series(1, 5000) g;`);
    await pg.query("app", `SET ROLE ${role}; CREATE TABLE messages (id bigserial PRIMARY KEY, body text); INSERT INTO messages (body) SELECT md5(g::text) FROM generate_series(1, 20000) g;`);
    await Promise.all([s3.createBucket(`${id}-primary`), s3.createBucket(`${id}-replica`)]);
    await podmanOk(["volume", "create", volume]);
    sessions = (await podmanOk(["volume", "inspect", "--format", "{{.Mountpoint}}", volume])).trim();
    fillSessions(sessions);

    const key = ageKey(work);
    const identity = readFileSync(key.file, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"))!;
    const template = readFileSync(join(__dirname, "../fixtures/containers/Pulumi.e2e.yaml"), "utf8");
    const stack = (failoverOn: boolean) => {
      const values: Record<string, string> = {
        ENVIRONMENT: id, FAILOVER: String(failoverOn), PG_URL: pg.appUrl("app"), PG_DR_URL: pg.appUrl("dr"), PG_SCRATCH_URL: pg.appUrl("postgres"),
        VOLUME: volume, DR_PATH: drPath, AGE_RECIPIENT: key.recipient, AGE_IDENTITY: identity,
      };
      const text = template.replace(/\$\{([A-Z_]+)\}/g, (_, k: string) => {
        if (!(k in values)) throw new Error(`fixture placeholder \${${k}} has no value`);
        return values[k]!;
      });
      const file = join(work, failoverOn ? "failover" : "normal", "Pulumi.e2e.yaml");
      mkdirSync(join(work, failoverOn ? "failover" : "normal"));
      writeFileSync(file, text, { mode: 0o600 });
      return file;
    };
    [normal, failover] = await Promise.all([planRevealed(stack(false)), planRevealed(stack(true))]);
    subs = {
      image: RUNNER_IMAGE, endpoint: s3.endpoint,
      // The stack runs every job each minute, the finest a 5-field cron states; the schedulers here
      // tick every 15 s instead (6-field cron), so each step below (backup, verify, replicate, the
      // status jobs, the failing backup) waits seconds for its next run, not up to a minute.
      crons: { "* * * * *": PLANNED_TICK },
      envValues: { AWS_ACCESS_KEY_ID: S3_ENV.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: S3_ENV.AWS_SECRET_ACCESS_KEY, LIFEBOAT_REPLICA_ACCESS_KEY_ID: S3_ENV.AWS_ACCESS_KEY_ID, LIFEBOAT_REPLICA_SECRET_ACCESS_KEY: S3_ENV.AWS_SECRET_ACCESS_KEY },
    };
    for (const v of plannedVolumes(normal)) await podmanOk(["volume", "create", v]);
    for (const c of plannedContainers(normal)) {
      // The provider runs the image it pulled or built by id: the plan must reference one.
      expect(c.inputs.image).toMatch(/^sha256:[0-9a-f]+$/);
      started.push(String(c.inputs.name));
      await runPlannedContainer(c.inputs, subs);
    }
  });

  afterAll(async () => {
    for (const name of started) await podman(["rm", "--force", "--time", "2", name]);
    for (const v of [...plannedVolumes(normal ?? []), volume]) await podman(["volume", "rm", "--force", v]);
    await Promise.all([pg?.stop(), s3?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it("declares one backup-side and one verify-side scheduler running the jobs this stack needs, and starts them", async () => {
    expect(plannedContainers(normal).map((c) => label(c, "lifeboat.job")).sort()).toEqual(["backup", "verify"]);
    expect(tableJobs(side("backup"))).toEqual(["backup-app-db", "backup-wa-sessions"]);
    const verifySide = tableJobs(side("verify"));
    expect(verifySide.filter((j) => !j.startsWith("replicate-"))).toEqual(["report-app-db", "report-wa-sessions", "status-app-db", "status-wa-sessions", "verify-app-db", "verify-wa-sessions"]);
    expect(verifySide.filter((j) => j.startsWith("replicate-")).length).toBe(1);
    // The table is a plain 0444 file naming variables; the database password travels only in the
    // container's (secret) environment.
    for (const role of ["backup", "verify"] as const) {
      const table = (side(role).inputs.uploads as { file: string; content: string }[]).find((u) => u.file === "/etc/lifeboat/jobs.json")!.content;
      expect([role, table.includes(pg.app.password), table.includes(encodeURIComponent(pg.app.password))]).toEqual([role, false, false]);
      expect((await podmanOk(["exec", sideName(role), "stat", "-c", "%a %u:%g", "/etc/lifeboat/jobs.json"])).trim()).toBe("444 0:0");
    }
    expect((side("backup").inputs.envs as string[]).filter((e) => e.endsWith(`=${pg.appUrl("app")}`)).length).toBe(1);
    for (const name of started) {
      const state = (await podmanOk(["inspect", "--format", "{{.State.Status}}", name])).trim();
      expect([name, state]).toEqual([name, "running"]);
    }
  });

  it("lands a backup of each source, manifest last, run by the backup-side scheduler", async () => {
    for (const source of ["app-db", "wa-sessions"]) {
      await expectWithin(`a ${source} manifest in the primary bucket`, 150_000, [side("backup")],
        async () => (await keys(`${id}-primary`, `backups/${source}/`)).some((k) => k.endsWith(".manifest.json")));
    }
  });

  it("runs the backup side with no capability beyond reading (DAC_READ_SEARCH) and the verify side with none, neither gaining privileges", async () => {
    const status = async (role: "backup" | "verify") => podmanOk(["exec", sideName(role), "cat", "/proc/1/status", "/proc/self/status"]);
    const caps = (text: string, field: string) => [...text.matchAll(new RegExp(`^${field}:\\s*(\\S+)$`, "gm"))].map((m) => m[1]);
    // The backup side reads the volume (a root-owned 0700 directory): root with CAP_DAC_READ_SEARCH
    // only, bit 2: 0x4, for the init process and for anything started in the container.
    const backup = await status("backup");
    expect(caps(backup, "CapEff")).toEqual(["0000000000000004", "0000000000000004"]);
    expect(caps(backup, "CapBnd")).toEqual(["0000000000000004", "0000000000000004"]);
    expect(caps(backup, "NoNewPrivs")).toEqual(["1", "1"]);
    const verify = await status("verify");
    expect(caps(verify, "CapEff")).toEqual(["0000000000000000", "0000000000000000"]);
    expect(caps(verify, "CapBnd")).toEqual(["0000000000000000", "0000000000000000"]);
    expect(caps(verify, "NoNewPrivs")).toEqual(["1", "1"]);
  });

  it("records a verification of each source (the verify side holds the identity the plan uploads)", async () => {
    for (const source of ["app-db", "wa-sessions"]) {
      await expectWithin(`a ${source} verification record`, 200_000, [side("verify")],
        async () => (await keys(`${id}-primary`, `backups/_verifications/${source}/`)).length > 0);
    }
    const identity = await podmanOk(["exec", sideName("verify"), "stat", "-c", "%a %u:%g", "/run/lifeboat/age-identity.txt"]);
    expect(identity.trim()).toBe("400 1000:1000");
  });

  it("fails over: the restore jobs write the newest verified backup from the replica, the volume byte-, mode- and owner-identical into a drTargetPath that did not exist", async () => {
    for (const source of ["app-db", "wa-sessions"]) {
      await expectWithin(`the replicate job copying ${source}'s verification`, 200_000, [side("verify")],
        async () => (await keys(`${id}-replica`, `backups/_verifications/${source}/`)).length > 0);
    }
    const restores = plannedContainers(failover).filter((c) => c.inputs.restart === "no");
    expect(restores.length).toBe(2);
    expect(() => lstatSync(drPath)).toThrow();
    for (const c of restores) {
      started.push(String(c.inputs.name));
      const run = await runPlannedContainer(c.inputs, subs);
      expect(run.oneShot).toBe(true);
      const { code, logs } = await waitForExit(run.name, 120_000);
      expect([run.name, code, code === 0 ? "" : logs]).toEqual([run.name, 0, ""]);
    }
    expect(tree(join(drPath, "wa-sessions"))).toEqual(tree(sessions));
    const counts = await pg.query<{ c: string; m: string }>("dr", "SELECT (SELECT count(*) FROM contacts) AS c, (SELECT count(*) FROM messages) AS m");
    expect(counts).toEqual([{ c: "5000", m: "20000" }]);
  });

  it("is healthy while backups succeed, and unhealthy once they stop succeeding, per job", async () => {
    // The declared healthcheck, as the engine runs it; and its command by hand, for the per-job lines.
    const health = async (role: "backup" | "verify") => podman(["healthcheck", "run", sideName(role)]);
    const jobLines = async (role: "backup" | "verify") => {
      const tests = (side(role).inputs.healthcheck as { tests: string[] }).tests.slice(1);
      const r = await podman(["exec", sideName(role), ...tests]);
      const lines = Object.fromEntries([...r.stdout.matchAll(/^(OK|FAIL) +job (\S+)/gm)].map((m) => [m[2]!, m[1]!]));
      return { code: r.code, lines, text: r.stdout + r.stderr };
    };
    // status --local reads every job's state: the backup side runs as root without DAC_OVERRIDE
    // and still keeps its state file. A status job's first run can come before the first backup
    // landed ("no backups found"); its next run, a tick later, sees it.
    for (const role of ["backup", "verify"] as const) {
      const allOk = Object.fromEntries(tableJobs(side(role)).map((j) => [j, "OK"]));
      let last = await jobLines(role);
      await expectWithin(`every job of the ${role} side to be healthy`, 150_000, [side(role)], async () => {
        last = await jobLines(role);
        return last.code === 0 && JSON.stringify(last.lines) === JSON.stringify(allOk);
      }).catch((e: Error) => {
        throw new Error(`${e.message}\n--- status --local:\n${last.text}`);
      });
      expect([role, (await health(role)).code]).toEqual([role, 0]);
    }
    await pg.query("postgres", "DROP DATABASE app WITH (FORCE)");
    await expectWithin("the backup side's healthcheck to fail", 150_000, [side("backup")], async () => (await health("backup")).code !== 0);
    const after = await jobLines("backup");
    expect([after.code, after.lines]).toEqual([1, { "backup-app-db": "FAIL", "backup-wa-sessions": "OK" }]);
    expect(after.text).toMatch(/FAIL job backup-app-db[^\n]*\n +last run, ended [^\n]*failed: exit/);
  });
});
