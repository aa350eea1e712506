import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { putCreateOnly } from "../../runner/src/upload";

/** A client whose PutObject fails with `put` (or succeeds) and whose GetObject returns or fails with `get`. */
function fakeClient(put: unknown, get: Buffer | unknown) {
  const sent: string[] = [];
  const client = {
    async send(cmd: unknown) {
      if (cmd instanceof PutObjectCommand) {
        sent.push("put");
        if (put) throw put;
        return {};
      }
      if (cmd instanceof GetObjectCommand) {
        sent.push("get");
        if (!Buffer.isBuffer(get)) throw get;
        return { Body: { transformToByteArray: async () => new Uint8Array(get) } };
      }
      throw new Error("unexpected command");
    },
  } as unknown as S3Client;
  return { client, sent };
}

const err = (status: number, attempts: number, name = "Error") => Object.assign(new Error(`HTTP ${status}`), { name, $metadata: { httpStatusCode: status, attempts } });
const params = { Bucket: "b", Key: "k.manifest.json", ContentType: "application/json" };
const ours = Buffer.from('{"ours":true}\n');

describe("putCreateOnly: a create-only put and what a 412 means", () => {
  test("written: created, nothing read", async () => {
    const f = fakeClient(undefined, undefined);
    expect(await putCreateOnly(f.client, params, ours)).toBe("created");
    expect(f.sent).toEqual(["put"]);
  });

  test("412 on the first attempt: the key was taken before this put, an error without reading", async () => {
    const f = fakeClient(err(412, 1, "PreconditionFailed"), ours);
    await expect(putCreateOnly(f.client, params, ours)).rejects.toThrow(/already at this key \(HTTP 412 to the first attempt/);
    expect(f.sent).toEqual(["put"]);
  });

  test("412 on a retry, the same bytes there: already-there", async () => {
    expect(await putCreateOnly(fakeClient(err(412, 2), Buffer.from(ours)).client, params, ours)).toBe("already-there");
  });

  test("412 on a retry, other bytes there: an error naming both sha256s", async () => {
    await expect(putCreateOnly(fakeClient(err(412, 3), Buffer.from('{"ours":false}\n')).client, params, ours)).rejects.toThrow(
      /a different object is already at this key .*sha256 [0-9a-f]{64}; ours 14 bytes, sha256 [0-9a-f]{64}/,
    );
  });

  test("412 on a retry, the identity may not read (403): presumed-ours; another read failure: an error", async () => {
    expect(await putCreateOnly(fakeClient(err(412, 2), err(403, 1, "AccessDenied")).client, params, ours)).toBe("presumed-ours");
    await expect(putCreateOnly(fakeClient(err(412, 2), err(500, 4)).client, params, ours)).rejects.toThrow(/could not be read back/);
  });

  test("readBack false (the replicator on the replica) and any other error: the SDK's error as it came", async () => {
    const e412 = err(412, 2);
    const f = fakeClient(e412, ours);
    await expect(putCreateOnly(f.client, params, ours, { readBack: false })).rejects.toBe(e412);
    expect(f.sent).toEqual(["put"]);
    const e500 = err(500, 4);
    await expect(putCreateOnly(fakeClient(e500, ours).client, params, ours)).rejects.toBe(e500);
  });
});
