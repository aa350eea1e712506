/**
 * Keeps `npm run bench` (bench/run.mjs) from rotting: runs every case once at a tiny size (a
 * ~10 MB database, plan with 1 and 2 sources / environments) into a temp dir and checks that the
 * JSON has every case with positive numbers. The targets themselves are not asserted here: they
 * are reported by the real run in bench/results.md.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

jest.setTimeout(180_000);

const REPO = resolve(__dirname, "../..");

interface Stats {
  median: number;
  min: number;
  max: number;
}
interface BenchCase {
  name: string;
  group: string;
  size: number;
  sizeUnit: string;
  runs: number;
  wallSeconds: Stats;
  peakRssBytes: Stats;
  storedBytes: number | null;
}

describe("bench/run.mjs at a tiny size", () => {
  let out: string;
  let doc: { command: string; machine: { cores: number }; cases: BenchCase[] };
  let md: string;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), "lifeboat-bench-smoke-"));
    const r = spawnSync(
      process.execPath,
      ["bench/run.mjs", "--sizes", "10", "--runs", "1", "--plan-sources", "1,2", "--plan-envs", "1,2", "--out", out],
      { cwd: REPO, encoding: "utf8", timeout: 170_000 },
    );
    if (r.status !== 0) throw new Error(`bench/run.mjs exited ${r.status} (${r.signal ?? ""}):\n${r.stderr}`);
    doc = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    md = readFileSync(join(out, "results.md"), "utf8");
  });
  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  const dbCases = [
    "backup/unavoidable", "backup/stock-streaming", "backup/today", "backup/lifeboat",
    "backup/stock-local", "backup/stock-local-sha256", "backup/stock-local-sha256-scan", "backup/restic-local", "backup/lifeboat-local",
    "restore/limit", "restore/stock-streaming", "restore/today", "restore/lifeboat",
  ];

  it("has every backup and restore case at the requested size with positive wall time, memory and bytes", () => {
    for (const name of dbCases) {
      const c = doc.cases.find((x) => x.name === name && x.size === 10);
      expect(c).toBeDefined();
      expect(c!.sizeUnit).toBe("MB");
      expect(c!.runs).toBe(1);
      expect(c!.wallSeconds.median).toBeGreaterThan(0);
      expect(c!.wallSeconds.min).toBeLessThanOrEqual(c!.wallSeconds.max);
      expect(c!.peakRssBytes.median).toBeGreaterThan(0);
      // the unavoidable work discards its output: nothing is stored
      if (name === "backup/unavoidable") expect(c!.storedBytes).toBeNull();
      else expect(c!.storedBytes).toBeGreaterThan(0);
    }
  });

  it("has plan cost for 1 and 2 sources and environments", () => {
    for (const [name, unit] of [["plan/sources", "sources"], ["plan/environments", "environments"]] as const) {
      for (const n of [1, 2]) {
        const c = doc.cases.find((x) => x.name === name && x.size === n);
        expect(c).toBeDefined();
        expect(c!.sizeUnit).toBe(unit);
        expect(c!.wallSeconds.median).toBeGreaterThan(0);
        expect(c!.peakRssBytes.median).toBeGreaterThan(0);
      }
    }
    expect(doc.cases).toHaveLength(dbCases.length + 4);
  });

  it("writes the markdown report with the command, the tables and the targets", () => {
    expect(doc.command).toContain("node bench/run.mjs --sizes 10 --runs 1");
    expect(doc.machine.cores).toBeGreaterThan(0);
    expect(md).toContain("Command: `npm run build && node bench/run.mjs --sizes 10");
    for (const h of ["## Backup", "## Restore into a fresh database", "## Plan cost as topologies grow", "## Where the targets stand"]) expect(md).toContain(h);
    // the issue-12 comparisons, as ratios of interleaved pairs
    for (const pair of ["backup to S3 / stock streaming", "local mode / stock local", "local mode / restic to local disk", "local mode / the floor"]) expect(md).toMatch(new RegExp(`\\| \\d+ MB \\| ${pair} \\| \\d+\\.\\d\\d× \\(`));
    expect(md).toMatch(/Load average \(1 min\)/);
  });
});
