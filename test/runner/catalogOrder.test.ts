import { backupKey, manifestKey } from "lifeboat-core";
import { listBackups } from "../../runner/src/catalog";
import { Store, ListedObject } from "../../runner/src/store";

/** A store that only lists: the objects given, with the store times given. */
function listingStore(objects: ListedObject[]): Store {
  return { description: "test", prefix: "dr", list: async () => objects } as unknown as Store;
}

describe("listBackups order", () => {
  // replicate copies the newest backup first, so on a replica the store times run backwards
  // against the key times: ordering by store time made `--at latest` on a replica pick the
  // oldest backup of the run (seen as an order flake in replicate.e2e).
  test("oldest first by key time, also where the store received them newest first (a replica)", async () => {
    const t0 = Date.parse("2026-12-01T10:00:00.000Z");
    const keys = [0, 1, 2].map((i) => backupKey({ prefix: "dr", source: "db", tier: "daily", time: new Date(t0 + i * 60_000), random: `abcdef0${i}`, ext: "dump.zst.age" }));
    // Copied 10 minutes later, newest first, object then manifest.
    const copiedAt = (i: number, n: number) => new Date(t0 + 600_000 + (2 - i) * 1000 + n);
    const objects = keys.flatMap((k, i) => [
      { key: k, size: 10, modified: copiedAt(i, 0) },
      { key: manifestKey(k), size: 1, modified: copiedAt(i, 1) },
    ]);
    const listed = await listBackups(listingStore(objects), "db", new Date(t0 + 700_000));
    expect(listed.map((b) => [b.key, b.flags])).toEqual(keys.map((k) => [k, []]));
  });
});
