/**
 * WAL objects on S3 are locked, each one, for as long as the bucket keeps WAL (the PITR window
 * plus a base-backup interval): `wal-stream --wal-retention 23d --lock-mode compliance`.
 */
jest.mock("../../runner/src/commands/walStream", () => ({ ...jest.requireActual("../../runner/src/commands/walStream"), walStreamCommand: jest.fn(async () => 0) }));

import { Readable } from "node:stream";
import { StoredBody } from "../../runner/src/storedBody";
import { walStreamArgs } from "lifeboat-core";
import { buildProgram } from "../../runner/src/cli";
import * as walStreamMod from "../../runner/src/commands/walStream";
import { walLockSetting } from "../../runner/src/lock";
import { uploadWal } from "../../runner/src/pitr/walUpload";
import { PutOptions, Store, ListedObject } from "../../runner/src/store";

const RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

describe("walLockSetting", () => {
  it("takes whole days with a mode, or neither", () => {
    expect(walLockSetting(undefined, undefined)).toBeUndefined();
    expect(walLockSetting("23d", "compliance")).toEqual({ mode: "compliance", days: 23 });
  });
  it.each([
    ["23d", undefined, /--wal-retention needs --lock-mode governance\|compliance/],
    [undefined, "governance", /--lock-mode needs --wal-retention/],
    ["36h", "compliance", /--wal-retention: must be whole days such as 16d.*got "36h"/],
    ["0d", "compliance", /--wal-retention: must be whole days/],
    ["23d", "legal-hold", /--lock-mode: must be governance or compliance, got "legal-hold"/],
  ])("refuses --wal-retention %s --lock-mode %s", (retention, mode, message) => {
    expect(() => walLockSetting(retention, mode)).toThrow(message);
  });
});

/** A store that keeps what it is given, and the options of each put. */
class RecordingStore implements Store {
  readonly description = "memory";
  readonly prefix = "backups";
  readonly puts: { key: string; opts?: PutOptions }[] = [];
  async putStream(key: string, body: StoredBody, opts?: PutOptions): Promise<void> {
    for await (const _ of body) void _;
    this.puts.push({ key, opts });
  }
  async putSmall(key: string, _body: string, opts?: PutOptions): Promise<void> {
    this.puts.push({ key, opts });
  }
  get(): Promise<Readable> { throw new Error("not used"); }
  getText(): Promise<string> { throw new Error("not used"); }
  list(): Promise<ListedObject[]> { throw new Error("not used"); }
}

describe("uploadWal with a lock", () => {
  it("locks the WAL object and its manifest until capture + days", async () => {
    const store = new RecordingStore();
    const capturedAt = new Date("2026-12-01T10:00:00.000Z");
    await uploadWal({
      store, source: "app-db", file: "000000010000000000000003", data: Buffer.alloc(1024, 7), capturedAt,
      recipients: [RECIPIENT], zstdLevel: 1, lock: { mode: "compliance", days: 23 },
    });
    expect(store.puts).toHaveLength(2);
    for (const p of store.puts) {
      expect(p.opts?.lock).toEqual({ mode: "COMPLIANCE", retainUntil: new Date("2026-12-24T10:00:00.000Z") });
    }
    expect(store.puts[1]!.key).toBe(store.puts[0]!.key + ".manifest.json");
  });

  it("sends no lock headers without one (R2, local mode, or no setting)", async () => {
    const store = new RecordingStore();
    await uploadWal({ store, source: "app-db", file: "000000010000000000000003.partial", data: Buffer.alloc(10), capturedAt: new Date(), recipients: [RECIPIENT], zstdLevel: 1 });
    expect(store.puts.map((p) => p.opts?.lock)).toEqual([undefined, undefined]);
  });
});

describe("wal-stream's command line", () => {
  it("takes --wal-retention and --lock-mode as built by walStreamArgs, and from the environment", () => {
    const parse = (argv: string[], env: Record<string, string> = {}) => {
      const saved = { ...process.env };
      Object.assign(process.env, env);
      (walStreamMod.walStreamCommand as jest.Mock).mockClear();
      try {
        buildProgram(() => undefined).parse(["node", "lifeboat-runner", ...argv]);
      } finally {
        for (const k of Object.keys(env)) delete process.env[k];
        Object.assign(process.env, saved);
      }
      return (walStreamMod.walStreamCommand as jest.Mock).mock.calls[0]![0];
    };
    const argv = walStreamArgs({ name: "app-db", recipients: [RECIPIENT], dest: "s3://b/p", region: "eu-west-1", walRetention: "23d", lockMode: "compliance" });
    expect(parse(argv)).toMatchObject({ walRetention: "23d", lockMode: "compliance" });
    expect(parse(["wal-stream", "--name", "app-db"], { LIFEBOAT_WAL_RETENTION: "16d", LIFEBOAT_LOCK_MODE: "governance" })).toMatchObject({ walRetention: "16d", lockMode: "governance" });
  });
});
