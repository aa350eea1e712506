/**
 * The status page end to end: backups made by the built runner against s3rver (a Postgres
 * database with scram auth, two directories), a real drill, `report --html --upload`, then the
 * page opened in Chromium (Debian's, driven by playwright-core) and read the way a person would:
 * per-source sections, ages, charts with a point per backup, the planted problems in words, and
 * a table named `<script>…` that stays text. A screenshot of the page is taken and checked;
 * `LIFEBOAT_STATUS_SCREENSHOT=docs/status-page.png` keeps it (how the README's picture was made).
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, Browser } from "playwright-core";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { backupArgs, BackupSpec, ENV, reportArgs, verifyArgs } from "lifeboat-core";
import { startS3, S3Server } from "../support/s3";
import { startPostgres, PgServer } from "../support/postgres";
import { ageKey, AgeKey, describeRun, requireBuiltRunner, runner, REPO } from "../support/runner";
import { uploadWal } from "../../runner/src/pitr/walUpload";
import { makeS3Client, S3Store } from "../../runner/src/store";
import { parseDest } from "../../runner/src/dest";

jest.setTimeout(240_000);

const CHROMIUM = "/usr/bin/chromium";
const BUCKET = "lifeboat-report";
const DEST = `s3://${BUCKET}/prod`;
const EVIL_TABLE = "<script>alert(1)</script>";

let s3: S3Server;
let pg: PgServer;
let key: AgeKey;
let work: string;
let browser: Browser;
let walCapturedAt: Date;

const dest = () => ({ dest: DEST, endpoint: s3.endpoint, region: "auto", stateFile: join(work, "state.json"), workDir: work, json: true });

async function ok(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await runner(args, { ...s3.env, ...env });
  expect(describeRun(r)).toMatch(/^exit 0/);
  return r.stdout ? JSON.parse(r.stdout) : undefined;
}

async function backup(spec: Omit<BackupSpec, "recipients" | "dest">, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return (await ok(backupArgs({ ...spec, recipients: [key.recipient], ...dest() }), env)).manifest.key;
}

function dir(name: string, files: Record<string, string>): string {
  const d = join(work, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}

beforeAll(async () => {
  // Like every other tool the suites need: missing is a failure, never a skip (and CI installs it: .ci/run).
  if (!existsSync(CHROMIUM)) throw new Error(`test prerequisite missing: ${CHROMIUM} (Debian package: chromium)`);
  requireBuiltRunner();
  work = mkdtempSync(join(tmpdir(), "lifeboat-report-e2e-"));
  [s3, pg] = await Promise.all([startS3(), startPostgres()]);
  await s3.createBucket(BUCKET);
  key = ageKey(work);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });

  // app-db: over 1 MiB stored (the Postgres floor), growing between backups, one drill, then a table emptied.
  await pg.query("postgres", "CREATE DATABASE app");
  await pg.query("app", `CREATE TABLE orders (id serial PRIMARY KEY, note text); CREATE TABLE "${EVIL_TABLE}" (x int)`);
  await pg.query("app", `INSERT INTO "${EVIL_TABLE}" SELECT generate_series(1, 50)`);
  const pgEnv = { [ENV.url]: pg.url("app") };
  for (const rows of [20_000, 25_000]) {
    await pg.query("app", `INSERT INTO orders (note) SELECT md5(random()::text) || md5(random()::text) FROM generate_series(1, ${rows})`);
    await backup({ source: "postgres", name: "app-db" }, pgEnv);
  }
  await ok(verifyArgs({ name: "app-db", identity: key.file, ...dest() }), { ...pgEnv, [ENV.scratchUrl]: pg.url("postgres") });
  await pg.query("app", `INSERT INTO orders (note) SELECT md5(random()::text) || md5(random()::text) FROM generate_series(1, 5000); DELETE FROM "${EVIL_TABLE}"`);
  await backup({ source: "postgres", name: "app-db" }, pgEnv);

  // n8n-data: healthy, verified. uploads: a volume that was not mounted (an empty directory).
  const n8n = dir("n8n", { "workflows.json": "[]".repeat(2000) });
  await backup({ source: "directory", name: "n8n-data", path: n8n });
  await backup({ source: "directory", name: "n8n-data", path: dir("n8n", { "credentials.json": "{}".repeat(3000) }) });
  await ok(verifyArgs({ name: "n8n-data", identity: key.file, ...dest() }));
  await backup({ source: "directory", name: "uploads", path: dir("uploads", {}) });
  // app-db also streams WAL, written as wal-stream writes it (object, then manifest), captured
  // after its newest dump; but it has no base backup, which status names as a problem.
  walCapturedAt = new Date();
  Object.assign(process.env, s3.env); // the SDK's credential chain, for the test's own upload
  const o = { endpoint: s3.endpoint, region: "auto", maxAttempts: 3, partSizeBytes: 5 * 1024 * 1024, queueSize: 2, timeoutMs: 60_000, requestTimeoutMs: 60_000 };
  const store = new S3Store(makeS3Client(o), parseDest(DEST), o);
  await uploadWal({ store, source: "app-db", file: "000000010000000000000003.partial", data: randomBytes(4096), capturedAt: walCapturedAt, recipients: [key.recipient], zstdLevel: 1 });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([s3?.stop(), pg?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the page in Chromium: a summary, a section per source with ages, drills and charts, the planted problems in words, and nothing run or fetched", async () => {
  const file = join(work, "site", "status.html");
  const out = await ok(reportArgs({ html: file, upload: true, maxAge: "1h", rto: "1h", ...dest() }));
  expect(out).toMatchObject({ healthy: false, problemCount: 3, html: file });

  const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  const requests: string[] = [];
  const dialogs: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  await page.goto(pathToFileURL(file).href);

  expect(await page.title()).toBe("Backup status: 3 problems");
  expect(await page.getAttribute("html", "lang")).toBe("en");
  expect(await page.locator("h1").innerText()).toBe("Backup status");
  await expect(page.locator("p.summary").innerText()).resolves.toBe("3 problems in 2 of 3 sources: see below.");

  const section = (name: string) => page.locator(`section.source[data-source="${name}"]`);
  expect(await page.locator("section.source h2").allInnerTexts()).toEqual([expect.stringMatching(/^app-db\s*2 problems$/), expect.stringMatching(/^n8n-data\s*OK$/), expect.stringMatching(/^uploads\s*1 problem$/)]);

  // Ages against the RPO, the drill against the RTO.
  const n8nText = await section("n8n-data").innerText();
  expect(n8nText).toMatch(/Newest backup\s+\d+s ago \(.*\), .* stored\. Within the recovery point objective \(RPO\) of 1h\./);
  expect(n8nText).toMatch(/Last verified restore\s+\d+s ago \(.*\); the restore took (\d+s|under a second), within the declared recovery time objective \(RTO\) of 1h\./);
  expect(n8nText).toContain("No open problems.");
  expect(n8nText).not.toContain("WAL");
  expect(await section("app-db").innerText()).toMatch(new RegExp(`WAL \\(point in time\\)\\s+the WAL in the bucket reaches \\d+s ago \\(${walCapturedAt.toISOString()}\\)`));

  // Charts: the size and row count of each kept backup as points of an inline SVG.
  const charts = section("app-db").locator("svg.trend");
  expect(await charts.count()).toBe(2);
  for (let i = 0; i < 2; i++) {
    expect(await charts.nth(i).locator("circle.point").count()).toBe(3);
    expect(await charts.nth(i).locator("polyline").count()).toBe(1);
    expect(await charts.nth(i).isVisible()).toBe(true);
  }
  expect(await section("app-db").locator("figcaption").nth(1).innerText()).toMatch(/^Rows in all tables: 3 backups, from 20,050 \(.*\) to 50,000 \(.*\)$/);

  // The planted problems, in words; the hostile table name is text on the page and nothing ran.
  expect(await section("uploads").locator("ul.problems li").allInnerTexts()).toEqual([expect.stringMatching(/^empty: the archive holds no files/)]);
  expect(await section("app-db").locator("ul.problems li").allInnerTexts()).toEqual([
    `rows lost since the previous backup: public.${EVIL_TABLE} emptied (50 → 0 rows)`,
    // WAL planted without a base backup: streamed, but nothing to replay it onto.
    expect.stringMatching(/^WAL is in the bucket but no base backup is/),
  ]);
  expect(await page.locator("script").count()).toBe(0);
  expect(dialogs).toEqual([]);
  expect(requests).toEqual([pathToFileURL(file).href]);

  // The screenshot: a PNG of the whole page, as tall as the page's content.
  const shot = join(work, "status-page.png");
  await page.screenshot({ path: shot, fullPage: true });
  const png = readFileSync(shot);
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  expect(width).toBe(1000);
  expect(height).toBe(await page.evaluate<number>("document.documentElement.scrollHeight"));
  expect(height).toBeGreaterThan(800);
  if (process.env.LIFEBOAT_STATUS_SCREENSHOT) copyFileSync(shot, resolve(REPO, process.env.LIFEBOAT_STATUS_SCREENSHOT));
  await page.close();

  // The bucket copy: the same page, create-only under a key of its own.
  const copies = await s3.keys(BUCKET, "prod/_verifications/_all/status/");
  expect(copies).toEqual([expect.stringMatching(/^prod\/_verifications\/_all\/status\/\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{12}\.html$/)]);
  expect((await s3.get(BUCKET, copies[0]!)).toString("utf8")).toBe(readFileSync(file, "utf8"));
  // Served as a page, not as JSON like the records beside it.
  expect((await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: copies[0]! }))).ContentType).toBe("text/html; charset=utf-8");
});

test("one source's page (the scheduled job's form) goes under that source's verification prefix; every run adds a page, none is overwritten", async () => {
  const file = join(work, "state", "status", "n8n-data.html");
  for (let i = 0; i < 2; i++) await ok(reportArgs({ html: file, upload: true, name: "n8n-data", maxAge: "1h", ...dest() }));
  const copies = await s3.keys(BUCKET, "prod/_verifications/n8n-data/status/");
  expect(copies).toHaveLength(2);
  expect(readFileSync(file, "utf8")).toContain("<title>Backup status: all healthy</title>");
  // status still reads the verification records beside the pages.
  const st = await runner(["status", "--name", "n8n-data", "--max-age", "1h", "--dest", DEST, "--endpoint", s3.endpoint, "--region", "auto", "--json"], s3.env);
  expect(JSON.parse(st.stdout).sources[0]).toMatchObject({ healthy: true, lastVerifiedRestore: expect.any(Object) });
});

test("status --format prometheus: a point-in-time source's newest recoverable point is its newest WAL, later than its newest backup", async () => {
  const r = await runner(["status", "--name", "app-db", "--max-age", "1h", "--format", "prometheus", "--dest", DEST, "--endpoint", s3.endpoint, "--region", "auto"], s3.env);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fams: Array<{ name: string; metrics: Array<{ labels: Record<string, string>; value: string }> }> = require("parse-prometheus-text-format")(r.stdout);
  const value = (name: string) => Number(fams.find((f) => f.name === name)!.metrics.find((m) => m.labels.source === "app-db")!.value);
  expect(value("lifeboat_backup_newest_recoverable_timestamp_seconds")).toBe(walCapturedAt.getTime() / 1000);
  expect(value("lifeboat_backup_wal_newest_timestamp_seconds")).toBe(walCapturedAt.getTime() / 1000);
  expect(value("lifeboat_backup_last_success_timestamp_seconds")).toBeLessThan(walCapturedAt.getTime() / 1000);
  expect(value("lifeboat_backup_restore_duration_seconds")).toBeGreaterThan(0);
});

test("bad input is refused before anything is read or written", async () => {
  const r = await runner(reportArgs({ html: join(work, "x.html"), rto: "soon", maxAge: "1h", ...dest() }), s3.env);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--rto: must be a duration such as 15m, 24h or 7d, got "soon"/);
  const missing = await runner(["report", "--dest", DEST, "--endpoint", s3.endpoint, "--region", "auto"], s3.env);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/--html FILE is required/);
  expect(existsSync(join(work, "x.html"))).toBe(false);
});
