// s3rver on loopback as the S3 stand-in, with bucket `bench`, a small client and rclone's env.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, REPO, requireFromRepo, waitFor } from "./util.mjs";

export const BUCKET = "bench";

/**
 * s3rver 3.7 started with `node --openssl-legacy-provider` (paginated listing fails on Node 20
 * without it), data in a temp dir, bucket `bench` created. It ignores SigV4 secrets.
 */
export async function startS3() {
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-bench-s3-"));
  const port = await freePort();
  const bin = join(REPO, "node_modules/s3rver/bin/s3rver.js");
  const child = spawn(process.execPath, ["--openssl-legacy-provider", bin, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "-s"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (b) => (log = (log + b).slice(-2000)));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(`s3rver on ${port} (${log})`, async () => (await fetch(endpoint + "/")).status < 500);
  const s3 = requireFromRepo("@aws-sdk/client-s3");
  const client = new s3.S3Client({
    endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
  });
  await client.send(new s3.CreateBucketCommand({ Bucket: BUCKET }));
  const list = async (prefix) => {
    const out = [];
    let token;
    do {
      const r = await client.send(new s3.ListObjectsV2Command({ Bucket: BUCKET, ...(prefix ? { Prefix: prefix } : {}), ...(token ? { ContinuationToken: token } : {}) }));
      out.push(...(r.Contents ?? []));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  };
  return {
    endpoint,
    pid: child.pid,
    list,
    /** Total bytes of the objects under `prefix`, manifests (`.manifest.json`) excluded. */
    async storedBytes(prefix) {
      return (await list(prefix)).filter((o) => !o.Key.endsWith(".manifest.json")).reduce((a, o) => a + Number(o.Size), 0);
    },
    /** Deletes every object (under `prefix` when given). */
    async removeAll(prefix) {
      for (const o of await list(prefix)) await client.send(new s3.DeleteObjectCommand({ Bucket: BUCKET, Key: o.Key }));
    },
    /**
     * Environment for `rclone` with a remote named `bench:` pointing at this server (no config
     * file). rclone 1.60 fails when AWS_CA_BUNDLE is set, so the caller's env must not carry it.
     */
    rcloneEnv() {
      return {
        RCLONE_CONFIG: "/dev/null",
        RCLONE_CONFIG_BENCH_TYPE: "s3",
        RCLONE_CONFIG_BENCH_PROVIDER: "Other",
        RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: "S3RVER",
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: "S3RVER",
        RCLONE_CONFIG_BENCH_REGION: "us-east-1",
        RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: "true",
        RCLONE_CONFIG_BENCH_NO_CHECK_BUCKET: "true",
      };
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null) {
        const closed = new Promise((r) => child.once("close", r));
        child.kill("SIGTERM");
        await closed;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
