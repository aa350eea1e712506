import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { backupArgs, bucketEventsArgs, ENV, parseBackupKey, replicateArgs, restoreArgs, scheduleArgs, scheduleJobsArgs, statusArgs, verifyArgs } from "lifeboat-core";
import { TarCounter } from "../../runner/src/tarstats";
import { parseRecipients, recipientFingerprint } from "../../runner/src/age";
import { parseDest } from "../../runner/src/dest";
import { redactUrl } from "../../runner/src/redact";
import { pickBackup, parseAt } from "../../runner/src/catalog";

const R = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

describe("argv builders (shared with the Pulumi components)", () => {
  test("backup for a postgres source: secrets stay out when passed by environment", () => {
    expect(backupArgs({ source: "postgres", name: "app-db", dest: "s3://b/prod", endpoint: "https://x.r2.cloudflarestorage.com", region: "auto", recipients: [R], partSizeMiB: 16 })).toEqual([
      "backup", "--source", "postgres", "--name", "app-db", "--recipient", R,
      "--dest", "s3://b/prod", "--endpoint", "https://x.r2.cloudflarestorage.com", "--region", "auto", "--part-size", "16",
    ]);
  });

  test("local mode, verify, restore, status and schedule", () => {
    expect(backupArgs({ source: "directory", name: "n8n", path: "/data", noUpload: true, localDir: "/backups", keepLocal: 7 })).toEqual([
      "backup", "--source", "directory", "--name", "n8n", "--path", "/data", "--no-upload", "--keep-local", "7", "--local-dir", "/backups",
    ]);
    expect(verifyArgs({ name: "db", identity: "/k", noRecord: true, json: true })).toEqual(["verify", "--name", "db", "--identity", "/k", "--no-record", "--json"]);
    expect(restoreArgs({ name: "db", at: "2026-01-01T00:00:00Z", targetDir: "/r", force: true })).toEqual([
      "restore", "--name", "db", "--at", "2026-01-01T00:00:00Z", "--target-dir", "/r", "--force",
    ]);
    expect(restoreArgs({ name: "db", targetUrl: "$T", tables: ["orders", "leads"], schemas: ["crm"] })).toEqual([
      "restore", "--name", "db", "--target-url", "$T", "--table", "orders", "--table", "leads", "--schema", "crm",
    ]);
    expect(statusArgs({ local: true, maxAge: "26h" })).toEqual(["status", "--max-age", "26h", "--local"]);
    expect(scheduleArgs("0 3 * * *", ["status"], { runAtStart: true })).toEqual(["schedule", "--cron", "0 3 * * *", "--run-at-start", "--", "status"]);
  });

  test("the special cases: --assert NAME=SQL, replicate's name xor all, schedule's job table", () => {
    expect(verifyArgs({ name: "db", assertions: [{ name: "has users", sql: "SELECT count(*) > 0 FROM users WHERE a = 'b'" }] })).toEqual([
      "verify", "--name", "db", "--assert", "has users=SELECT count(*) > 0 FROM users WHERE a = 'b'",
    ]);
    expect(() => replicateArgs({ name: "db", all: true, to: "s3://r/p" })).toThrow(/exactly one of name and all/);
    expect(() => replicateArgs({ to: "s3://r/p" })).toThrow(/exactly one of name and all/);
    expect(replicateArgs({ all: true, to: "s3://r/p", noCopy: true })).toEqual(["replicate", "--all", "--to", "s3://r/p", "--no-copy"]);
    expect(scheduleJobsArgs({ jobsFile: "/etc/jobs.json", maxConcurrent: 2, stateFile: "/s" })).toEqual(["schedule", "--jobs", "/etc/jobs.json", "--max-concurrent", "2", "--state-file", "/s"]);
  });

  test("options only the CLI had are in the builders too, after the ones deployed command lines already carry", () => {
    expect(restoreArgs({ name: "media", source: "bucket", prefix: "img/", to: "s3://app-restored", toEndpoint: "https://e", toRegion: "auto", dryRun: true, identity: "/k" })).toEqual([
      "restore", "--name", "media", "--identity", "/k", "--source", "bucket", "--prefix", "img/", "--to", "s3://app-restored", "--to-endpoint", "https://e", "--to-region", "auto", "--dry-run",
    ]);
    expect(bucketEventsArgs({ name: "media", bucketUrl: "s3://app", queue: "acct/q", recipients: [R], window: "30d", pollIntervalSeconds: 2, dest: "s3://b/p" })).toEqual([
      "bucket-events", "--name", "media", "--bucket-url", "s3://app", "--queue", "acct/q", "--recipient", R, "--window", "30d", "--poll-interval", "2", "--dest", "s3://b/p",
    ]);
    expect(backupArgs({ source: "bucket", name: "media", bucketUrl: "s3://app", copyConcurrency: 4, retention: "daily=30d" })).toEqual([
      "backup", "--source", "bucket", "--name", "media", "--bucket-url", "s3://app", "--copy-concurrency", "4", "--retention", "daily=30d",
    ]);
    expect(verifyArgs({ name: "media", sample: "all" })).toEqual(["verify", "--name", "media", "--sample", "all"]);
  });

  test("every flag a builder emits is accepted by the CLI (parsed by --help-free dry run of commander)", () => {
    // Unknown options make commander exit 2 before any work; a missing build is a clear failure.
    const bin = join(__dirname, "../../runner/bin/lifeboat-runner.js");
    const args = backupArgs({
      source: "directory", name: "x", path: "/nonexistent", dest: "s3://b/p", endpoint: "http://127.0.0.1:1", region: "auto",
      recipients: [R], partSizeMiB: 5, concurrency: 2, maxAttempts: 2, timeoutSeconds: 5, zstdLevel: 3,
      stateFile: "/tmp/s", workDir: "/tmp", alertWebhook: "http://127.0.0.1:1", pingUrl: "http://127.0.0.1:1", json: true,
    });
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
    expect(r.stderr).toMatch(/--path: \/nonexistent does not exist/); // got past option parsing
  });

  test("environment variable names", () => {
    expect(ENV).toMatchObject({
      dest: "LIFEBOAT_DEST",
      endpoint: "LIFEBOAT_S3_ENDPOINT",
      region: "AWS_REGION",
      recipients: "LIFEBOAT_AGE_RECIPIENTS",
      identity: "LIFEBOAT_AGE_IDENTITY_FILE",
    });
  });
});

describe("pure helpers", () => {
  test("recipients: comma-separated, deduplicated, validated", () => {
    expect(parseRecipients([`${R}, ${R}`])).toEqual([R]);
    expect(() => parseRecipients(["AGE-SECRET-KEY-1ABC"])).toThrow(/private key/);
    expect(recipientFingerprint(R)).toMatch(/^[0-9a-f]{16}$/);
  });

  test("dest parsing and URL redaction", () => {
    expect(parseDest("s3://my-bucket/prod/app/")).toEqual({ bucket: "my-bucket", prefix: "prod/app" });
    expect(parseDest("s3://my-bucket")).toEqual({ bucket: "my-bucket", prefix: "" });
    expect(() => parseDest("s3://My_Bucket/x")).toThrow(/not a valid bucket name/);
    expect(redactUrl("postgres://u:hunter2@h:5432/db?sslmode=require")).toBe("postgres://u:***@h:5432/db?sslmode=require");
  });

  test("--at picks the newest backup at or before the time", () => {
    const keys = ["20261101T030000.000Z", "20261102T030000.000Z", "20261103T030000.000Z"].map((t) => `p/db/daily/${t}-abcdef.dump.zst.age`);
    const entry = (k: string, flags: string[] = []) => {
      const parts = parseBackupKey("p", k)!;
      return { key: k, manifestKey: k + ".manifest.json", parts, size: 1, storedAt: new Date(parts.time.getTime() + 60_000), flags };
    };
    const entries = keys.map((k) => entry(k));
    expect(pickBackup(entries, "db", parseAt("latest")).key).toBe(keys[2]);
    // A flagged (untrusted) backup is never latest nor picked by time, only by its exact key.
    const forged = entry("p/db/daily/20991101T030000.000Z-abcdef.dump.zst.age", ["key time is in the future"]);
    expect(pickBackup([...entries, forged], "db", parseAt("latest")).key).toBe(keys[2]);
    expect(pickBackup([...entries, forged], "db", parseAt("2100-01-01T00:00:00Z")).key).toBe(keys[2]);
    expect(pickBackup([...entries, forged], "db", "latest", forged.key).key).toBe(forged.key);
    expect(() => pickBackup([forged], "db", parseAt("latest"))).toThrow(/no backups found for source db \(1 backup\(s\) skipped/);
    expect(pickBackup(entries, "db", parseAt("2026-11-02T12:00:00Z")).key).toBe(keys[1]);
    expect(pickBackup(entries, "db", parseAt("20261102T030000.000Z")).key).toBe(keys[1]);
    expect(() => pickBackup(entries, "db", parseAt("2026-10-01T00:00:00Z"))).toThrow(/no backup of db taken at or before/);
    expect(() => parseAt("yesterday")).toThrow(/--at/);
  });

  test("TarCounter counts files and bytes of a GNU tar with long names, whatever the chunking", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tarcount-"));
    try {
      mkdirSync(join(dir, "d".repeat(150)));
      writeFileSync(join(dir, "d".repeat(150), "f".repeat(150)), Buffer.alloc(1000, 1));
      writeFileSync(join(dir, "empty"), "");
      writeFileSync(join(dir, "odd"), Buffer.alloc(513, 2));
      for (const format of ["gnu", "posix"]) {
        const tar = spawnSync("tar", ["-c", `--format=${format}`, "-C", dir, "."], { maxBuffer: 1 << 24 });
        expect(tar.status).toBe(0);
        for (const chunk of [1, 7, 512, 4096]) {
          const counter = new TarCounter();
          const parts: Buffer[] = [];
          for (let i = 0; i < tar.stdout.length; i += chunk) parts.push(tar.stdout.subarray(i, i + chunk));
          await pipeline(Readable.from(parts), counter, new Writable({ write: (_c, _e, cb) => cb() }));
          expect(counter.stats).toEqual({ files: 3, fileBytes: 1513, entries: 5 });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
