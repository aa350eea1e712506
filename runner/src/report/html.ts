/**
 * The status page: one self-contained HTML document (inline CSS, inline SVG charts, no script,
 * font or network request), written for someone who has never seen the tool. Every text that
 * comes from the bucket (source names, table names, error texts) goes through {@link esc}: a
 * source or table called `<script>` is shown, never run. Verdicts are words, colour only repeats them.
 */
import { humanDuration } from "lifeboat-core";
import { formatBytes } from "../progress";
import { SourceReport, StatusReport, TrendPoint } from "./model";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text safe in element content and in quoted attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const ago = (seconds: number) => (seconds < 0 ? `${humanDuration(-seconds)} in the future` : `${humanDuration(seconds)} ago`);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
/** A drill of a small source takes a fraction of a second: not "0s". */
const took = (seconds: number) => (seconds < 1 ? "under a second" : humanDuration(seconds));

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1.5rem;max-width:60rem;color:#1b1f24;background:#fff;line-height:1.45}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.25rem;margin:0 0 .5rem}h3{font-size:1rem;margin:1rem 0 .25rem}
.summary{font-size:1.15rem;font-weight:600;padding:.75rem 1rem;border-radius:.4rem;border:2px solid}
.ok{border-color:#1a7f37;background:#dafbe1}.bad{border-color:#cf222e;background:#ffebe9}
.meta{color:#57606a;font-size:.9rem}
section.source{border:1px solid #d0d7de;border-radius:.4rem;padding:1rem;margin:1.25rem 0}
.verdict{display:inline-block;font-size:.85rem;font-weight:700;padding:.1rem .5rem;border-radius:1rem;margin-left:.5rem;vertical-align:middle;border:1px solid}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}dt{font-weight:600}dd{margin:0}
ul.problems li{margin:.2rem 0}.charts{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0}figcaption{font-size:.85rem;color:#57606a}svg{background:#f6f8fa;border:1px solid #d0d7de}
`;

const W = 420;
const H = 150;
const PAD = { left: 70, right: 12, top: 12, bottom: 28 };

/**
 * A line chart of one series over the kept backups, oldest to newest, with a circle (and its
 * value as a tooltip) per backup, and a sentence summarising it for readers who cannot see it.
 */
function trendChart(points: TrendPoint[], title: string, value: (p: TrendPoint) => number | undefined, format: (n: number) => string): string {
  const pts = points.flatMap((p) => {
    const v = value(p);
    return v === undefined ? [] : [{ t: Date.parse(p.takenAt), v, at: p.takenAt }];
  });
  if (pts.length === 0) return "";
  const t0 = pts[0]!.t;
  const t1 = pts[pts.length - 1]!.t;
  const vMax = Math.max(...pts.map((p) => p.v));
  const x = (t: number) => PAD.left + (t1 === t0 ? (W - PAD.left - PAD.right) / 2 : ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right));
  const y = (v: number) => PAD.top + (vMax === 0 ? H - PAD.top - PAD.bottom : (1 - v / vMax) * (H - PAD.top - PAD.bottom));
  const xy = pts.map((p) => [x(p.t).toFixed(1), y(p.v).toFixed(1)] as const);
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  const sentence = pts.length === 1 ? `one backup: ${format(last.v)}` : `${pts.length} backups, from ${format(first.v)} (${first.at}) to ${format(last.v)} (${last.at})`;
  const circles = pts.map((p, i) => `<circle class="point" cx="${xy[i]![0]}" cy="${xy[i]![1]}" r="3" fill="#0969da"><title>${esc(`${p.at}: ${format(p.v)}`)}</title></circle>`);
  return (
    `<figure><svg class="trend" role="img" aria-label="${esc(`${title}: ${sentence}`)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${esc(title)}</title>` +
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#8c959f"/>` +
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#8c959f"/>` +
    `<text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end" font-size="11">${esc(format(vMax))}</text>` +
    `<text x="${PAD.left - 6}" y="${H - PAD.bottom}" text-anchor="end" font-size="11">0</text>` +
    `<text x="${PAD.left}" y="${H - 8}" font-size="11">${esc(first.at.slice(0, 16).replace("T", " "))}</text>` +
    `<text x="${W - PAD.right}" y="${H - 8}" text-anchor="end" font-size="11">${esc(last.at.slice(0, 16).replace("T", " "))}</text>` +
    (pts.length > 1 ? `<polyline fill="none" stroke="#0969da" stroke-width="2" points="${xy.map(([cx, cy]) => `${cx},${cy}`).join(" ")}"/>` : "") +
    circles.join("") +
    `</svg><figcaption>${esc(`${title}: ${sentence}`)}</figcaption></figure>`
  );
}

function facts(s: SourceReport): string {
  const rows: Array<[string, string]> = [];
  const rpo = humanDuration(s.rpoSeconds);
  rows.push([
    "Newest backup",
    s.newest
      ? `${ago(s.newest.ageSeconds)} (${s.newest.takenAt}), ${formatBytes(s.newest.storedBytes)} stored. ${s.newest.withinRpo ? `Within` : `Older than`} the recovery point objective (RPO) of ${rpo}.`
      : `none: there is no backup to restore. The recovery point objective (RPO) is ${rpo}.`,
  ]);
  const rto = s.rtoSeconds !== undefined ? `the declared recovery time objective (RTO) of ${humanDuration(s.rtoSeconds)}` : "no recovery time objective (RTO) declared";
  rows.push([
    "Last verified restore",
    s.restore
      ? `${ago(s.restore.ageSeconds)} (${s.restore.checkedAt}); the restore took ${took(s.restore.durationSeconds)}, ${s.restore.withinRto === undefined ? rto : s.restore.withinRto ? `within ${rto}` : `more than ${rto}`}.`
      : `never: no restore drill has passed yet, so nothing proves these backups can be restored (${rto}).`,
  ]);
  if (s.wal) rows.push(["WAL (point in time)", `the WAL in the bucket reaches ${ago(s.wal.lagSeconds)} (${s.wal.newestAt}): a point-in-time restore reaches at most that point.`]);
  if (s.kind) rows.push(["Kind", s.kind]);
  return `<dl class="facts">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")}</dl>`;
}

function sourceSection(s: SourceReport, i: number): string {
  const id = `source-${i}`;
  const verdict = s.healthy ? `<span class="verdict ok">OK</span>` : `<span class="verdict bad">${esc(plural(s.problems.length, "problem"))}</span>`;
  const problems = s.problems.length
    ? `<h3>Open problems</h3><ul class="problems">${s.problems.map((p) => `<li>${esc(p)}</li>`).join("")}</ul>`
    : `<p>No open problems.</p>`;
  const warnings = s.warnings.length ? `<h3>Warnings</h3><ul class="warnings">${s.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>` : "";
  const charts = [
    trendChart(s.trend, "Backup size (before compression)", (p) => p.rawBytes, formatBytes),
    trendChart(s.trend, "Rows in all tables", (p) => p.rows, (n) => n.toLocaleString("en-US")),
  ].filter(Boolean);
  const trend = charts.length ? `<h3>Trend over the kept backups</h3><div class="charts">${charts.join("")}</div>` : "";
  return `<section class="source" aria-labelledby="${id}" data-source="${esc(s.source)}"><h2 id="${id}">${esc(s.source)} ${verdict}</h2>${facts(s)}${problems}${warnings}${trend}</section>`;
}

export function renderHtml(r: StatusReport): string {
  const bad = r.sources.filter((s) => !s.healthy).length;
  const summary = r.sources.length === 0
    ? "Problem: no backups found at all."
    : r.healthy
      ? `All ${plural(r.sources.length, "source")} healthy: every newest backup is within its objective and nothing is wrong.`
      : `${plural(r.problemCount, "problem")} in ${bad} of ${plural(r.sources.length, "source")}: see below.`;
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(`Backup status: ${r.healthy ? "all healthy" : plural(r.problemCount, "problem")}`)}</title>` +
    `<style>${CSS}</style></head><body><main>` +
    `<h1>Backup status</h1><p class="meta">${esc(`Backups in ${r.destination}, checked ${r.generatedAt} by lifeboat-runner report.`)}</p>` +
    `<p class="summary ${r.healthy ? "ok" : "bad"}" role="status">${esc(summary)}</p>` +
    r.sources.map(sourceSection).join("") +
    `<p class="meta">RPO: how old the newest backup may be, at most (the data a disaster may lose). RTO: how long a restore may take, at most. A verified restore is a drill that downloaded, decrypted and restored a backup and checked it against its manifest.</p>` +
    `</main></body></html>\n`
  );
}
