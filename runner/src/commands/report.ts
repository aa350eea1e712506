/**
 * `report --html FILE`: the status page. The health of each source is `status`'s own evaluation
 * (remoteHealth in healthRemote.ts, health.ts, with the newest WAL of point-in-time sources); this adds the kept
 * backups' manifests for the trend charts, renders one self-contained page (report/html.ts), writes it to FILE
 * (atomically: a reader never sees half a page) and, with --upload, puts a copy in the bucket.
 *
 * The bucket copy: every put is create-only (S3 If-None-Match, and R2 bucket locks forbid
 * overwrites), so there is no fixed `index.html` to replace. Each page gets a timestamped key
 * under the verifier's own prefix, `<prefix>/_verifications/<source>/status/<UTC time>-<random>.html`
 * (the restorer identity may write there; a lifecycle rule of its own expires pages after 14
 * days, components/bucket/rules.ts); the newest page is the last key in listing order. Without --name:
 * `<prefix>/_verifications/_all/status/…` (an identity that may write there).
 */
import { promises as fsp } from "node:fs";
import { dirname, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { Logger } from "pino";
import { joinKey, keyTimestamp, verificationPrefix, VERIFICATIONS_DIR } from "lifeboat-core";
import { BackupEntry } from "../catalog";
import { intOption, makeStore, output } from "../context";
import { EXIT_OK, UsageError } from "../errors";
import { Manifest } from "../manifest";
import { buildReport, SourceInput } from "../report/model";
import { renderHtml } from "../report/html";
import { HealthFlags, healthLimits, remoteHealth } from "../healthRemote";

export interface ReportOpts extends HealthFlags {
  html?: string;
  trend: string;
  upload?: boolean;
}

/** Where a page goes in the bucket (see the module comment). */
export function pageKey(prefix: string, name: string | undefined, now: Date, random: string): string {
  const dir = name ? verificationPrefix(prefix, name) : joinKey(prefix, VERIFICATIONS_DIR, "_all") + "/";
  return `${dir}status/${keyTimestamp(now)}-${random}.html`;
}

/** The manifests of the newest `count` trusted `backups` (unreadable ones are status's problem, already reported). */
async function history(backups: BackupEntry[], count: number, manifest: (e: BackupEntry) => Promise<Manifest>): Promise<Manifest[]> {
  const trusted = backups.filter((b) => b.flags.length === 0).slice(-count);
  const read = await Promise.all(trusted.map((e) => manifest(e).catch(() => undefined)));
  return read.filter((m): m is Manifest => m !== undefined);
}

/** FILE, replaced whole: written beside it and renamed over it. */
async function writeAtomically(file: string, text: string): Promise<void> {
  await fsp.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, text, { mode: 0o644 });
  await fsp.rename(tmp, file);
}

export async function reportCommand(o: ReportOpts, _log: Logger): Promise<number> {
  if (!o.html) throw new UsageError("--html FILE is required: where to write the status page");
  const limits = healthLimits(o);
  const rtoSeconds = limits.rtoSeconds;
  const trendCount = intOption("--trend", o.trend, 1, 1000);
  const file = resolve(o.html);
  const store = makeStore(o);
  const now = Date.now();
  // WAL is judged against each sidecar's own --max-lag (from its heartbeat), as `status` does without --max-wal-lag.
  const healths = await remoteHealth(o, limits, undefined);
  const sources: SourceInput[] = [];
  for (const { health, listing, manifest } of healths) {
    // The backups and manifests status's evaluation listed and read; one the store could not answer for still gets its section, with status's problem.
    const hist = listing && manifest ? await history(listing.backups, trendCount, manifest).catch(() => [] as Manifest[]) : [];
    sources.push({ health, history: hist, kind: hist[hist.length - 1]?.kind });
  }
  const report = buildReport({ now, destination: store.description, rpoSeconds: limits.maxAge, ...(rtoSeconds !== undefined ? { rtoSeconds } : {}), sources });
  const html = renderHtml(report);
  await writeAtomically(file, html);
  let uploaded: string | undefined;
  if (o.upload) {
    uploaded = pageKey(store.prefix, o.name, new Date(now), randomBytes(6).toString("hex"));
    await store.putSmall(uploaded, html, { contentType: "text/html; charset=utf-8" });
  }
  const verdict = report.healthy ? "all healthy" : `${report.problemCount} problem(s)`;
  output(o, { healthy: report.healthy, problemCount: report.problemCount, html: file, ...(uploaded ? { uploaded } : {}), sources: report.sources }, `status page written to ${file}${uploaded ? ` and ${uploaded}` : ""}: ${verdict}`);
  // The page was written: that is this command's job. status (the same evaluation) alerts and exits 1 on problems.
  return EXIT_OK;
}
