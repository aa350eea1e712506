import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { MOCK_ACCOUNT, MOCK_PERMISSION_GROUPS, mockCall } from "../../cli/plan/mocks";
import { BackupAccess, BackupBucket, bucketAccessFields } from "../../components";
import {
  PolicyDocument,
  ecsTasksAssumeRolePolicy,
  replicatorPolicy,
  restorerPolicy,
  writerPolicy,
} from "../../components/access/iamDocuments";
import { R2_PERMISSION_GROUPS } from "../../components/access/r2Token";
import { rotationEpoch } from "../../components/access/rotation";
import { Declared, declare, installMocks, isSecretValue, ofType, one, valueOf } from "./mockHarness";

installMocks();
// The harness echoes invoke arguments; answer Cloudflare's permission-group list as the provider would.
(pulumi.runtime.getMonitor() as unknown as { mocks: pulumi.runtime.Mocks }).mocks.call = mockCall;

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const DAY_MS = 86_400_000;
const T = "2026-02-10T12:00:00Z";
const plus = (iso: string, days: number) => new Date(new Date(iso).getTime() + days * DAY_MS).toISOString();

type Registered = { urn: string; id: string | null; state: Record<string, any> };
/** What the mock engine holds for a resource (its outputs, as the provider returned them). */
function registered(type: string, name: string): Registered {
  const monitor = pulumi.runtime.getMonitor() as unknown as { getRegisteredResources(): Map<string, Registered> };
  const found = [...monitor.getRegisteredResources().values()].filter((r) => r.urn.endsWith(`${type}::${name}`));
  if (found.length !== 1) throw new Error(`expected one registered ${type} ${name}, found ${found.length}`);
  return found[0]!;
}
/** The component's registered outputs, as serialized for the engine (secrets still wrapped). */
function componentOutputs(name: string): Record<string, unknown> {
  const state = registered("lifeboat:index:BackupAccess", name).state as unknown as { toJavaScript?: () => Record<string, unknown> };
  return state.toJavaScript ? state.toJavaScript() : (state as Record<string, unknown>);
}
const unwrap = (v: unknown): string => (isSecretValue(v) ? (v as { value: string }).value : (v as string));
const isSecret = (o: pulumi.Output<unknown> | undefined): Promise<boolean> => (o as unknown as { isSecret: Promise<boolean> }).isSecret;
const doc = (json: string): PolicyDocument => JSON.parse(json);
const named = (rs: Declared[], type: string, name: string) => rs.find((r) => r.type === type && r.name === name);

const USER = "aws:iam/user:User";
const USER_POLICY = "aws:iam/userPolicy:UserPolicy";
const ACCESS_KEY = "aws:iam/accessKey:AccessKey";
const ROLE = "aws:iam/role:Role";
const ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";
const TOKEN = "cloudflare:index/accountToken:AccountToken";

describe("BackupAccess writer on S3 (IAM user)", () => {
  let bucket: BackupBucket;
  let access: BackupAccess;
  let rs: Declared[];
  beforeAll(async () => {
    rs = await declare(() => {
      bucket = new BackupBucket("prod-backups", { provider: "s3", region: "eu-west-1", sources: ["app-db"] });
      access = new BackupAccess("prod-app-db-writer", { ...bucketAccessFields(bucket), role: "writer", source: "app-db", now: T });
    });
  });

  it("attaches writerPolicy for the bucket's real ARN and KMS key to each key's user (compared as documents)", async () => {
    const expected = writerPolicy({ bucketArn: await valueOf(bucket.arn!), prefix: "backups", source: "app-db", kmsKeyArn: await valueOf(bucket.kmsKeyArn!) });
    expect(expected.Statement[0]!.Resource).toMatch(/^arn:aws:s3:::prod-backups-[0-9a-f]{12}\/backups\/app-db\/\*$/);
    const policies = ofType(rs, USER_POLICY);
    expect(policies).toHaveLength(2);
    for (const p of policies) expect(doc(p.inputs.policy)).toEqual(expected);
    // each policy sits on its own period's user
    const users = ofType(rs, USER).map((u) => registered(USER, u.name).id);
    expect(policies.map((p) => p.inputs.user).sort()).toEqual(users.sort());
  });

  it("exposes the current period's key, both halves as secrets, and no role", async () => {
    const current = registered(ACCESS_KEY, `prod-app-db-writer-key-${rotationEpoch(new Date(T), 90)}`);
    expect(await valueOf(access.accessKeyId!)).toBe(current.id);
    expect(await valueOf(access.secretAccessKey!)).toBe(unwrap(current.state.secret));
    expect(await isSecret(access.accessKeyId)).toBe(true);
    expect(await isSecret(access.secretAccessKey)).toBe(true);
    expect(access.roleArn).toBeUndefined();
    expect(await valueOf(access.endpoint)).toBe("https://s3.eu-west-1.amazonaws.com");
    expect(await valueOf(access.region)).toBe("eu-west-1");
  });

  it("registers credentials as secret component outputs, never plain", () => {
    const out = componentOutputs("prod-app-db-writer");
    expect(isSecretValue(out.accessKeyId)).toBe(true);
    expect(isSecretValue(out.secretAccessKey)).toBe(true);
    expect(out.endpoint).toBe("https://s3.eu-west-1.amazonaws.com");
  });
});

describe("BackupAccess restorer on S3 as an ECS task role", () => {
  let bucket: BackupBucket;
  let access: BackupAccess;
  let rs: Declared[];
  beforeAll(async () => {
    rs = await declare(() => {
      bucket = new BackupBucket("prod-backups", { provider: "s3", region: "eu-west-1", sources: ["app-db"] });
      access = new BackupAccess("prod-app-db-restorer", {
        ...bucketAccessFields(bucket), role: "restorer", source: "app-db", identity: "role", trustAccountId: MOCK_ACCOUNT, now: T,
      });
    });
  });

  it("creates a role with the ecs-tasks trust policy and no user or access key", async () => {
    const role = one(rs, ROLE);
    expect(doc(role.inputs.assumeRolePolicy)).toEqual(ecsTasksAssumeRolePolicy({ sourceAccount: MOCK_ACCOUNT }));
    expect(doc(role.inputs.assumeRolePolicy).Statement[0]!.Principal).toEqual({ Service: "ecs-tasks.amazonaws.com" });
    expect(ofType(rs, ACCESS_KEY)).toHaveLength(0);
    expect(ofType(rs, USER)).toHaveLength(0);
    expect(access.accessKeyId).toBeUndefined();
    expect(access.secretAccessKey).toBeUndefined();
    expect(await valueOf(access.roleArn!)).toBe(`arn:aws:iam::${MOCK_ACCOUNT}:role/prod-app-db-restorer`);
  });

  it("gives the role restorerPolicy for the bucket", async () => {
    const p = one(rs, ROLE_POLICY);
    expect(p.inputs.role).toBe("prod-app-db-restorer");
    expect(doc(p.inputs.policy)).toEqual(
      restorerPolicy({ bucketArn: await valueOf(bucket.arn!), prefix: "backups", source: "app-db", kmsKeyArn: await valueOf(bucket.kmsKeyArn!) }),
    );
  });
});

describe("BackupAccess writer on R2 (account token)", () => {
  let access: BackupAccess;
  let rs: Declared[];
  const epoch = rotationEpoch(new Date(T), 90);
  beforeAll(async () => {
    rs = await declare(() => {
      const bucket = new BackupBucket("eu-backups", { provider: "r2", accountId: ACCOUNT, jurisdiction: "eu", sources: ["app-db"] });
      access = new BackupAccess("eu-app-db-writer", { ...bucketAccessFields(bucket), role: "writer", source: "app-db", now: T });
    });
  });

  it("scopes every token to exactly one bucket, with its jurisdiction", () => {
    const tokens = ofType(rs, TOKEN);
    expect(tokens).toHaveLength(2);
    for (const t of tokens) {
      expect(t.inputs.accountId).toBe(ACCOUNT);
      expect(t.inputs.policies).toHaveLength(1);
      const policy = t.inputs.policies[0];
      expect(policy.effect).toBe("allow");
      expect(JSON.parse(policy.resources)).toEqual({ [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_eu_eu-backups`]: "*" });
    }
  });

  it("resolves permission groups by name from Cloudflare's list (bucket-item Write, not the account-wide group)", () => {
    const byName = (n: string) => MOCK_PERMISSION_GROUPS.find((g) => g.name === n)!.id;
    for (const t of ofType(rs, TOKEN)) {
      expect(t.inputs.policies[0].permissionGroups).toEqual([{ id: byName(R2_PERMISSION_GROUPS.objectWrite) }]);
      expect(t.inputs.policies[0].permissionGroups).not.toContainEqual({ id: byName("Workers R2 Storage Write") });
    }
  });

  it("derives the S3 secret as sha256 of the current token's value, and keeps both halves secret", async () => {
    const token = registered(TOKEN, `eu-app-db-writer-token-${epoch}`);
    const value = unwrap(token.state.value);
    expect(isSecretValue(token.state.value)).toBe(true);
    expect(await valueOf(access.accessKeyId!)).toBe(token.id);
    expect(await valueOf(access.secretAccessKey!)).toBe(createHash("sha256").update(value).digest("hex"));
    expect(await isSecret(access.secretAccessKey)).toBe(true);
    expect(await isSecret(access.accessKeyId)).toBe(true);
    const out = componentOutputs("eu-app-db-writer");
    expect(isSecretValue(out.secretAccessKey)).toBe(true);
    expect(isSecretValue(out.accessKeyId)).toBe(true);
    expect(JSON.stringify(out)).not.toContain(value);
  });

  it("uses the jurisdiction's endpoint and region auto", async () => {
    expect(await valueOf(access.endpoint)).toBe(`https://${ACCOUNT}.eu.r2.cloudflarestorage.com`);
    expect(await valueOf(access.region)).toBe("auto");
  });
});

describe("BackupAccess replicator", () => {
  it("S3 → S3: one identity with replicatorPolicy over both buckets; replica credentials are the same pair", async () => {
    let src!: BackupBucket, dst!: BackupBucket, access!: BackupAccess;
    const rs = await declare(() => {
      src = new BackupBucket("prod-backups", { provider: "s3", region: "eu-west-1", sources: ["app-db"] });
      dst = new BackupBucket("prod-replica", { provider: "s3", region: "eu-central-1", sources: ["app-db"] });
      access = new BackupAccess("prod-replicator", { ...bucketAccessFields(src), role: "replicator", replica: bucketAccessFields(dst), now: T });
    });
    const expected = replicatorPolicy({
      source: { bucketArn: await valueOf(src.arn!), prefix: "backups", kmsKeyArn: await valueOf(src.kmsKeyArn!) },
      replica: { bucketArn: await valueOf(dst.arn!), prefix: "backups", kmsKeyArn: await valueOf(dst.kmsKeyArn!) },
    });
    for (const p of ofType(rs, USER_POLICY)) expect(doc(p.inputs.policy)).toEqual(expected);
    expect(await valueOf(access.replicaAccessKeyId!)).toBe(await valueOf(access.accessKeyId!));
    expect(await isSecret(access.replicaSecretAccessKey)).toBe(true);
    expect(await valueOf(access.replicaEndpoint!)).toBe("https://s3.eu-central-1.amazonaws.com");
  });

  it("R2 → S3: a Read token on the source bucket and an IAM identity that can only touch the replica", async () => {
    let dst!: BackupBucket, access!: BackupAccess;
    const rs = await declare(() => {
      const src = new BackupBucket("r2-backups", { provider: "r2", accountId: ACCOUNT, sources: ["app-db"] });
      dst = new BackupBucket("dr-replica", { provider: "s3", region: "us-east-2", sources: ["app-db"] });
      access = new BackupAccess("dr-replicator", { ...bucketAccessFields(src), role: "replicator", replica: bucketAccessFields(dst), now: T });
    });
    const readId = MOCK_PERMISSION_GROUPS.find((g) => g.name === R2_PERMISSION_GROUPS.objectRead)!.id;
    for (const t of ofType(rs, TOKEN)) {
      expect(t.inputs.policies[0].permissionGroups).toEqual([{ id: readId }]);
      expect(JSON.parse(t.inputs.policies[0].resources)).toEqual({ [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_r2-backups`]: "*" });
    }
    const dstArn = await valueOf(dst.arn!);
    for (const p of ofType(rs, USER_POLICY)) {
      const d = doc(p.inputs.policy);
      const resources = d.Statement.flatMap((s) => [s.Resource ?? []].flat());
      expect(resources.every((r) => r.startsWith(dstArn) || r === undefined || r.startsWith("arn:aws:kms:"))).toBe(true);
      expect(d.Statement.find((s) => s.Sid === "WriteReplica")).toBeDefined();
      expect(d.Statement.find((s) => s.Sid === "ReadSource")).toBeUndefined();
      expect(d.Statement.find((s) => s.Sid === "NeverReadReplica")).toMatchObject({ Effect: "Deny", Resource: `${dstArn}/*` });
    }
    expect(await isSecret(access.accessKeyId)).toBe(true);
    expect(await isSecret(access.replicaSecretAccessKey)).toBe(true);
    expect(await valueOf(access.region)).toBe("auto");
    expect(await valueOf(access.replicaRegion!)).toBe("us-east-2");
  });
});

describe("BackupAccess rotation", () => {
  const E = (iso: string) => rotationEpoch(new Date(iso), 90);
  const before = E(plus(T, -90));
  const first = E(T);
  const second = E(plus(T, 90));
  const keyNames = (rs: Declared[], type: string) => ofType(rs, type).map((r) => r.name).sort();

  it("the period labels are three distinct consecutive epochs", () => {
    expect(new Set([before, first, second]).size).toBe(3);
    expect(E(plus(T, 89.9))).not.toBe(before);
  });

  describe.each([
    ["S3 IAM user", ACCESS_KEY, "key", () => {
      const bucket = new BackupBucket("prod-backups", { provider: "s3", region: "eu-west-1", sources: ["app-db"] });
      return { ...bucketAccessFields(bucket), role: "writer" as const, source: "app-db" };
    }],
    ["R2 token", TOKEN, "token", () => {
      const bucket = new BackupBucket("r2-backups", { provider: "r2", accountId: ACCOUNT, sources: ["app-db"] });
      return { ...bucketAccessFields(bucket), role: "writer" as const, source: "app-db" };
    }],
  ])("%s", (_label, type, kind, bucketArgs) => {
    const run = async (now: string) => {
      let access!: BackupAccess;
      const rs = await declare(() => {
        access = new BackupAccess("rot-writer", { ...bucketArgs(), now, rotationDays: 90 });
      });
      return { rs, access, id: await valueOf(access.accessKeyId!), secret: await valueOf(access.secretAccessKey!) };
    };

    it("keeps the current and previous period's keys; after a period the new key exists beside the old and the oldest is gone", async () => {
      const atT = await run(T);
      expect(keyNames(atT.rs, type)).toEqual([`rot-writer-${kind}-${before}`, `rot-writer-${kind}-${first}`].sort());
      expect(atT.access.keyEpoch).toBe(first);
      const currentAtT = registered(type, `rot-writer-${kind}-${first}`);
      expect(atT.id).toBe(currentAtT.id);

      // Any later run in the same period (up to 1 ms before rotatesAt) declares the same keys: no diff.
      const lastMoment = new Date(new Date(atT.access.rotatesAt).getTime() - 1).toISOString();
      const later = await run(lastMoment);
      expect(keyNames(later.rs, type)).toEqual(keyNames(atT.rs, type));
      expect(later.id).toBe(atT.id);
      // The first run at or after rotatesAt rotates.
      expect((await run(atT.access.rotatesAt)).access.keyEpoch).toBe(second);

      const next = await run(plus(T, 90));
      // The current key is a new resource (new name), so the running stack replaces it: create first …
      expect(keyNames(next.rs, type)).toEqual([`rot-writer-${kind}-${first}`, `rot-writer-${kind}-${second}`].sort());
      expect(next.access.keyEpoch).toBe(second);
      expect(next.id).toBe(registered(type, `rot-writer-${kind}-${second}`).id);
      expect(next.id).not.toBe(atT.id);
      expect(next.secret).not.toBe(atT.secret);
      // … the key that was current at T is still declared (deleted only one period later) …
      expect(named(next.rs, type, `rot-writer-${kind}-${first}`)).toBeDefined();
      // … and the epoch-before-previous key is no longer declared, so Pulumi deletes it after the creates.
      expect(named(next.rs, type, `rot-writer-${kind}-${before}`)).toBeUndefined();
      expect(await isSecret(next.access.secretAccessKey)).toBe(true);
    });

    it("the new key's inputs differ from the old one's (it is a different credential, not an in-place update)", async () => {
      const next = await run(plus(T, 90));
      const [a, b] = [named(next.rs, type, `rot-writer-${kind}-${first}`)!, named(next.rs, type, `rot-writer-${kind}-${second}`)!];
      expect(a.inputs).not.toEqual(b.inputs);
    });
  });

  it("on AWS each period's key has its own IAM user, so no user ever holds more than one key (IAM allows two)", async () => {
    const rs = await declare(() => {
      const bucket = new BackupBucket("prod-backups", { provider: "s3", region: "eu-west-1", sources: ["app-db"] });
      new BackupAccess("rot-writer", { ...bucketAccessFields(bucket), role: "writer", source: "app-db", now: plus(T, 90) });
    });
    const keys = ofType(rs, ACCESS_KEY);
    const users = keys.map((k) => k.inputs.user);
    expect(new Set(users).size).toBe(keys.length);
    expect(ofType(rs, USER).map((u) => u.inputs.tags["lifeboat:rotation-epoch"]).sort()).toEqual([first, second].sort());
  });

  it("rejects bad arguments with a message naming the field", () => {
    expect(() => new BackupAccess("bad1", { provider: "s3", bucketName: "b", bucketArn: "arn:aws:s3:::b", region: "eu-west-1", role: "writer" })).toThrow(/source/);
    expect(() => new BackupAccess("bad2", { provider: "r2", bucketName: "b", role: "writer", source: "app-db" })).toThrow(/accountId/);
    expect(() => new BackupAccess("bad3", { provider: "r2", bucketName: "b", accountId: ACCOUNT, role: "replicator" })).toThrow(/replica/);
    expect(() => new BackupAccess("bad4", { provider: "r2", bucketName: "b", accountId: ACCOUNT, role: "writer", source: "app-db", rotationDays: 0 })).toThrow(/rotationDays/);
    expect(() => new BackupAccess("bad5", { provider: "r2", bucketName: "b", accountId: ACCOUNT, role: "writer", source: "app-db", now: "yesterday" })).toThrow(/now/);
  });
});
