import { execFileSync } from "node:child_process";
import { webcrypto } from "node:crypto";
import fc from "fast-check";
import {
  R2_PERMISSION_GROUPS,
  permissionGroupIds,
  r2BucketResource,
  r2Endpoint,
  r2PermissionGroupNames,
  r2S3Credentials,
  r2TokenResources,
} from "../../components/access/r2Token";

const ACCT = "023e105f4ecef8ad9ca31a8372d0c353";

/** SHA-256 hex via Web Crypto: an implementation independent of the module's node:crypto createHash. */
async function webSha256Hex(text: string): Promise<string> {
  const digest = await webcrypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Buffer.from(digest).toString("hex");
}

describe("r2BucketResource", () => {
  it("names exactly one bucket in the documented format, jurisdiction default when unset", () => {
    expect(r2BucketResource({ accountId: ACCT, bucketName: "acme-backups-prod" })).toBe(
      `com.cloudflare.edge.r2.bucket.${ACCT}_default_acme-backups-prod`,
    );
    expect(r2BucketResource({ accountId: ACCT, jurisdiction: "default", bucketName: "b1b" })).toBe(
      `com.cloudflare.edge.r2.bucket.${ACCT}_default_b1b`,
    );
  });

  // Cloudflare: r2/api/tokens (eu, fedramp), changelog 2026-08-17 "New `us` jurisdiction for R2" (us).
  it.each(["eu", "fedramp", "us"] as const)("spells the %s jurisdiction as in the bucket's endpoint", (j) => {
    expect(r2BucketResource({ accountId: ACCT, jurisdiction: j, bucketName: "acme-backups-prod" })).toBe(
      `com.cloudflare.edge.r2.bucket.${ACCT}_${j}_acme-backups-prod`,
    );
    expect(r2Endpoint(ACCT, j)).toBe(`https://${ACCT}.${j}.r2.cloudflarestorage.com`);
  });

  it("rejects anything that could widen or blur the scope", () => {
    expect(() => r2BucketResource({ accountId: ACCT, bucketName: "*" })).toThrow(/bucket name/);
    expect(() => r2BucketResource({ accountId: ACCT, bucketName: "Backups" })).toThrow(/bucket name/);
    expect(() => r2BucketResource({ accountId: ACCT, bucketName: "a_b" })).toThrow(/bucket name/);
    expect(() => r2BucketResource({ accountId: "*", bucketName: "backups" })).toThrow(/account id/);
    expect(() => r2BucketResource({ accountId: ACCT, jurisdiction: "EU" as never, bucketName: "backups" })).toThrow(/jurisdiction/);
    expect(() => r2BucketResource({ accountId: ACCT, jurisdiction: "ch" as never, bucketName: "backups" })).toThrow(/jurisdiction "ch"; expected one of default, eu, fedramp, us/);
  });

  it("the token policy's resources JSON grants on that one bucket and nothing else", () => {
    const resources = JSON.parse(r2TokenResources({ accountId: ACCT, jurisdiction: "eu", bucketName: "acme-backups" }));
    expect(resources).toEqual({ [`com.cloudflare.edge.r2.bucket.${ACCT}_eu_acme-backups`]: "*" });
  });

  it("property: the resource key parses back to exactly the account, jurisdiction and bucket given", () => {
    const bucket = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
    const account = fc.stringMatching(/^[0-9a-f]{32}$/);
    const jurisdiction = fc.constantFrom(undefined, "default", "eu", "fedramp", "us" as const);
    fc.assert(
      fc.property(account, jurisdiction, bucket, (accountId, j, bucketName) => {
        const key = r2BucketResource({ accountId, jurisdiction: j, bucketName });
        const m = /^com\.cloudflare\.edge\.r2\.bucket\.([0-9a-f]{32})_(default|eu|fedramp|us)_([a-z0-9-]+)$/.exec(key);
        expect(m).not.toBeNull();
        expect(m![1]).toBe(accountId);
        expect(m![2]).toBe(j ?? "default");
        expect(m![3]).toBe(bucketName);
        expect(key).not.toContain("*");
      }),
      { numRuns: 300 },
    );
  });
});

describe("r2S3Credentials", () => {
  it("access key id is the token id; secret is the hex SHA-256 of the token value", async () => {
    const value = "Zx9-kT3qv_7cQm1sWn0bRr5LpA2uEyHhJd4oFgVi";
    const creds = r2S3Credentials("f267e341f3dd4697bd3b9f71dd96247f", value);
    expect(creds.accessKeyId).toBe("f267e341f3dd4697bd3b9f71dd96247f");
    expect(creds.secretAccessKey).toBe(await webSha256Hex(value));
    expect(creds.secretAccessKey).toMatch(/^[0-9a-f]{64}$/);
    expect(creds.secretAccessKey).not.toContain(value);
  });

  it("matches the FIPS 180-2 test vector and `sha256sum`", () => {
    expect(r2S3Credentials("id", "abc").secretAccessKey).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let sum: string | undefined;
    try {
      sum = execFileSync("sha256sum", { input: "token-value-123" }).toString().split(" ")[0];
    } catch {
      sum = undefined; // coreutils missing: the test vector above still holds
    }
    if (sum) expect(r2S3Credentials("id", "token-value-123").secretAccessKey).toBe(sum);
  });

  it("property: for any token value, secret = sha256(value)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 80, unit: "grapheme" }), async (value) => {
        expect(r2S3Credentials("id", value).secretAccessKey).toBe(await webSha256Hex(value));
      }),
      { numRuns: 200 },
    );
  });

  it("refuses empty token id or value", () => {
    expect(() => r2S3Credentials("", "v")).toThrow();
    expect(() => r2S3Credentials("id", "")).toThrow();
  });
});

describe("R2 permission groups", () => {
  it("uses Cloudflare's bucket-scoped group names", () => {
    expect(R2_PERMISSION_GROUPS.objectRead).toBe("Workers R2 Storage Bucket Item Read");
    expect(R2_PERMISSION_GROUPS.objectWrite).toBe("Workers R2 Storage Bucket Item Write");
  });

  it("gives each role the narrowest group R2 can express", () => {
    expect(r2PermissionGroupNames("writer")).toEqual(["Workers R2 Storage Bucket Item Write"]);
    expect(r2PermissionGroupNames("restorer")).toEqual(["Workers R2 Storage Bucket Item Write"]);
    expect(r2PermissionGroupNames("replicatorSource")).toEqual(["Workers R2 Storage Bucket Item Read"]);
    expect(r2PermissionGroupNames("replicatorReplica")).toEqual(["Workers R2 Storage Bucket Item Write"]);
  });

  it("resolves names to ids from Cloudflare's list, and fails loudly on a missing name", () => {
    const groups = [
      { id: "6a018a9f2fc74eb6b293b0c548f38b39", name: "Workers R2 Storage Bucket Item Read" },
      { id: "2efd5506f9c8494dacb1fa10a3e7d5b6", name: "Workers R2 Storage Bucket Item Write" },
      { id: "bf7481a1826f439498276ab2e4f2b7f1", name: "Workers R2 Storage Write" },
    ];
    expect(permissionGroupIds(groups, r2PermissionGroupNames("replicatorSource"))).toEqual(["6a018a9f2fc74eb6b293b0c548f38b39"]);
    expect(permissionGroupIds(groups, r2PermissionGroupNames("writer"))).toEqual(["2efd5506f9c8494dacb1fa10a3e7d5b6"]);
    expect(() => permissionGroupIds(groups.slice(0, 1), r2PermissionGroupNames("writer"))).toThrow(/Bucket Item Write/);
  });

  it("default-jurisdiction endpoint has no jurisdiction label", () => {
    expect(r2Endpoint(ACCT)).toBe(`https://${ACCT}.r2.cloudflarestorage.com`);
  });
});
