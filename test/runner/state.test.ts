import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readState, recordRun, updateState } from "../../runner/src/state";

describe("the runner state file under concurrent writers (a scheduler and its runs)", () => {
  it("loses no record when many writes overlap", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "lifeboat-state-")), "state.json");
    const run = { ok: true, startedAt: "2026-12-01T00:00:00.000Z", finishedAt: "2026-12-01T00:00:01.000Z" };
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => recordRun(path, `s${i}`, run)),
      ...Array.from({ length: 5 }, (_, i) =>
        updateState(path, (s) => {
          s.jobs = { ...s.jobs, [`j${i}`]: { cron: "0 3 * * *", phase: "idle", skipped: i } };
        }),
      ),
    ]);
    const state = await readState(path);
    expect(Object.keys(state.sources)).toHaveLength(20);
    expect(Object.keys(state.jobs ?? {})).toHaveLength(5);
  });
});
