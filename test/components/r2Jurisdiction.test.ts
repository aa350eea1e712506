/**
 * R2 jurisdictions from stack config to what the runner and the tokens get. Cloudflare's forms:
 * a jurisdiction's bucket is reached only at `https://<ACCOUNT_ID>.<JURISDICTION>.r2.cloudflarestorage.com`
 * and a token is scoped to `com.cloudflare.edge.r2.bucket.<ACCOUNT_ID>_<JURISDICTION>_<BUCKET>`
 * (r2/api/tokens; `us` since the changelog of 2026-08-17, "New `us` jurisdiction for R2").
 */
import { ConfigError, DisasterRecovery, validateStackConfig } from "../../components";
import { Declared, declare, flagValue, installMocks, jobTableOf, ofType, valueOf } from "./mockHarness";

installMocks();

const ACCT = "0123456789abcdef0123456789abcdef";
const AGE = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
const US = `https://${ACCT}.us.r2.cloudflarestorage.com`;
const EU = `https://${ACCT}.eu.r2.cloudflarestorage.com`;
const db = { name: "app-db", kind: "postgres", url: "postgres://app@db/app" };
/** A bucket source: the app's own media bucket, in jurisdiction `j`. */
const media = (j: string) => ({ name: "media", kind: "bucket", bucket: { provider: "r2", accountId: ACCT, jurisdiction: j, bucketName: "app-media" } });
const base = {
  storage: { provider: "r2", accountId: ACCT, jurisdiction: "us", location: "enam" },
  replicas: [{ provider: "r2", accountId: ACCT, jurisdiction: "eu" }],
  sources: [db, media("us")],
  ageRecipients: [AGE],
};

describe("stack config: R2 jurisdictions", () => {
  it.each(["default", "eu", "fedramp", "us"])("takes jurisdiction %s for the storage, a replica and a bucket source's bucket", (j) => {
    const c = validateStackConfig({
      ...base,
      storage: { ...base.storage, jurisdiction: j },
      replicas: [{ provider: "s3", region: "us-east-2" }, { provider: "r2", accountId: ACCT, jurisdiction: j, location: "wnam" }],
      sources: [db, media(j)],
    }, "prod");
    expect(c.storage).toMatchObject({ jurisdiction: j });
    expect(c.replicas[1]).toMatchObject({ jurisdiction: j });
    expect(c.sources[1]).toMatchObject({ bucket: { jurisdiction: j } });
  });

  it("refuses a jurisdiction Cloudflare does not have, naming the key and the four it does", () => {
    try {
      validateStackConfig({ ...base, storage: { ...base.storage, jurisdiction: "ch" } }, "prod");
      throw new Error("accepted jurisdiction ch");
    } catch (e) {
      if (!ConfigError.is(e)) throw e;
      expect(e.issues).toEqual([{ key: "lifeboat:storage.jurisdiction", message: 'must be one of "default", "eu", "fedramp", "us", got "ch"' }]);
    }
  });
});

describe("DisasterRecovery with an R2 primary in the us jurisdiction and an R2 replica in eu", () => {
  let rs: Declared[];
  let runbook: string;
  beforeAll(async () => {
    const config = validateStackConfig(base, "prod");
    let dr!: DisasterRecovery;
    rs = await declare(() => {
      dr = new DisasterRecovery("lifeboat-prod", { config });
    });
    runbook = await valueOf(dr.runbook);
  });
  const byName = (type: string, name: string) => ofType(rs, type).find((r) => r.name === name)!;
  const jobs = (side: string) => jobTableOf(byName("docker:index/container:Container", `lifeboat-prod-${side}`)).jobs;

  it("creates each bucket, its lifecycle and its lock rules in its own jurisdiction", () => {
    for (const [name, j] of [["lifeboat-prod-backups", "us"], ["lifeboat-prod-replica-1", "eu"]] as const) {
      expect(byName("cloudflare:index/r2Bucket:R2Bucket", name).inputs).toMatchObject({ name, jurisdiction: j });
      expect(byName("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", `${name}-lifecycle`).inputs).toMatchObject({ bucketName: name, jurisdiction: j });
      expect(byName("cloudflare:index/r2BucketLock:R2BucketLock", `${name}-lock`).inputs).toMatchObject({ bucketName: name, jurisdiction: j });
    }
  });

  it("scopes every token to its bucket's jurisdiction-qualified key", () => {
    const scopes = ofType(rs, "cloudflare:index/accountToken:AccountToken")
      .flatMap((t) => (t.inputs.policies as { resources: string }[]).flatMap((p) => Object.keys(JSON.parse(p.resources))))
      .filter((k) => k.startsWith("com.cloudflare.edge.r2.bucket."));
    expect(new Set(scopes)).toEqual(new Set([
      `com.cloudflare.edge.r2.bucket.${ACCT}_us_lifeboat-prod-backups`,
      `com.cloudflare.edge.r2.bucket.${ACCT}_eu_lifeboat-prod-replica-1`,
      `com.cloudflare.edge.r2.bucket.${ACCT}_us_app-media`,
    ]));
  });

  it("gives the runner each bucket's jurisdiction endpoint: backups, the app's bucket, and both sides of replication", () => {
    const backup = jobs("backup");
    for (const j of backup) expect(flagValue(j.argv, "--endpoint")).toBe(US);
    expect(flagValue(backup.find((j) => j.name === "backup-media")!.argv, "--bucket-endpoint")).toBe(US);
    const replicate = jobs("verify").filter((j) => j.name.startsWith("replicate-"));
    expect(replicate).toHaveLength(1);
    expect([flagValue(replicate[0]!.argv, "--endpoint"), flagValue(replicate[0]!.argv, "--to-endpoint")]).toEqual([US, EU]);
  });

  it("names the jurisdiction and its endpoint in the runbook", () => {
    expect(runbook).toContain(`(Cloudflare R2, jurisdiction us, location enam; endpoint ${US})`);
    expect(runbook).toContain(`--endpoint ${US}`);
  });
});
