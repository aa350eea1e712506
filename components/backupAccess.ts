import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { NAME_PATTERN } from "lifeboat-core";
import {
  BucketScope,
  PolicyDocument,
  PolicyStatement,
  appBucketReaderPolicy,
  bucketJobPolicy,
  ecsTasksAssumeRolePolicy,
  replicatorPolicy,
  restorerPolicy,
  writerPolicy,
} from "./access/iamDocuments";
import { R2Role, permissionGroupIds, r2Endpoint, r2PermissionGroupNames, r2S3Credentials, r2TokenResources } from "./access/r2Token";
import { rotatingName, rotationEpoch, rotationWindow } from "./access/rotation";
import type { BackupBucket, R2Jurisdiction, StorageProvider } from "./backupBucket";
import { physicalName } from "./naming";

/**
 * Which job the identity is for. A `bucket` source's job writes as `bucketWriter` (the writer plus
 * reading its own snapshot manifests) and reads the app's bucket as `appReader` (read-only there).
 */
export type AccessRole = "writer" | "restorer" | "replicator" | "bucketWriter" | "appReader";
/** On AWS: an IAM user with access keys (Docker hosts outside AWS) or an IAM role that ECS tasks assume. */
export type AwsIdentity = "user" | "role";

/**
 * One bucket, described by plain fields: what {@link BackupBucket} outputs, or the attributes
 * of a bucket made elsewhere. Use {@link bucketAccessFields} to fill it from a `BackupBucket`.
 */
export interface BucketAccessFields {
  /** Where the bucket lives. */
  provider: StorageProvider;
  /** The bucket's name. */
  bucketName: pulumi.Input<string>;
  /** Key prefix the sources write under (as given to `BackupBucket`). @default "backups" */
  prefix?: string;
  /** S3: the bucket ARN. Required for S3. */
  bucketArn?: pulumi.Input<string>;
  /** S3: the bucket's SSE-KMS key ARN. @default none (no KMS statements) */
  kmsKeyArn?: pulumi.Input<string>;
  /** S3: the bucket's region (for the endpoint output). Required for S3 unless `endpoint` is given. */
  region?: pulumi.Input<string>;
  /** S3 API endpoint to hand to the runner. @default the regional S3 endpoint, or the R2 account endpoint */
  endpoint?: pulumi.Input<string>;
  /** R2: the 32-hex-digit Cloudflare account id. Required for R2. */
  accountId?: string;
  /** R2: the bucket's jurisdiction. @default "default" */
  jurisdiction?: R2Jurisdiction;
}

/**
 * Arguments of {@link BackupAccess}: the bucket's own fields (flat), the role, and rotation.
 *
 * The bucket is passed as plain fields, not as a `BackupBucket` object, so that the component's
 * schema stays strings/numbers/booleans/enums/objects and can be offered to other Pulumi
 * languages (a TypeScript class instance cannot cross that boundary), and so that buckets made
 * outside Lifeboat can be given identities too. TypeScript callers spread
 * {@link bucketAccessFields}`(bucket)` to avoid copying the fields by hand.
 */
export interface BackupAccessArgs extends BucketAccessFields {
  /** `writer` (scheduled backup), `restorer` (restore and verify) or `replicator` (scheduled copy to the replica). */
  role: AccessRole;
  /** writer/restorer/bucketWriter: the source name (`main-db`) whose prefix the identity may touch. */
  source?: string;
  /** replicator: the replica bucket it copies to. Its `prefix` defaults to the source's. */
  replica?: BucketAccessFields;
  /** AWS only: `user` (IAM user + access key, for hosts outside AWS) or `role` (ECS task role). @default "user" */
  identity?: AwsIdentity;
  /** AWS role identity: account id to pin in the ECS trust policy (`aws:SourceAccount`, confused-deputy guard). @default no condition */
  trustAccountId?: string;
  /** Days a key is current before the next `pulumi up` replaces it. @default 90 */
  rotationDays?: number;
  /** The time the program runs at (ISO 8601), for tests and reproducible plans. @default the current time */
  now?: string;
}

/** The fields of a {@link BackupBucket} that {@link BackupAccess} needs. */
export function bucketAccessFields(bucket: BackupBucket): BucketAccessFields {
  return {
    provider: bucket.provider,
    bucketName: bucket.bucketName,
    prefix: bucket.prefix,
    endpoint: bucket.endpoint,
    region: bucket.region,
    ...(bucket.arn ? { bucketArn: bucket.arn } : {}),
    ...(bucket.kmsKeyArn ? { kmsKeyArn: bucket.kmsKeyArn } : {}),
    ...(bucket.accountId ? { accountId: bucket.accountId } : {}),
    ...(bucket.jurisdiction ? { jurisdiction: bucket.jurisdiction } : {}),
  };
}

/** Credentials (or role) of one identity, as the component exposes them. */
interface Creds {
  accessKeyId?: pulumi.Output<string>;
  secretAccessKey?: pulumi.Output<string>;
  roleArn?: pulumi.Output<string>;
}

/** Stand-in S3 ARN for the R2 side of a mixed R2↔S3 replicate job, so that policies.ts stays the one source of the statements. */
const PLACEHOLDER_ARN = "arn:aws:s3:::lifeboat-r2-side-placeholder";

/**
 * The part of a replicator document that concerns one side (source or replica): statements and
 * resources naming that side's bucket or KMS key. Used when the other side is on R2 and gets
 * its own Cloudflare token.
 */
export function replicatorSide(doc: PolicyDocument, bucketArn: string, kmsKeyArn?: string): PolicyDocument {
  const mine = (r: string) => r === bucketArn || r.startsWith(`${bucketArn}/`) || (kmsKeyArn !== undefined && r === kmsKeyArn);
  const statements: PolicyStatement[] = [];
  for (const s of doc.Statement) {
    const resources = s.Resource === undefined ? [] : Array.isArray(s.Resource) ? s.Resource : [s.Resource];
    const kept = resources.filter(mine);
    if (kept.length === 0) continue;
    statements.push({ ...s, Resource: kept.length === 1 ? kept[0]! : kept });
  }
  return { Version: doc.Version, Statement: statements };
}

/**
 * A least-privilege identity for one Lifeboat job on one bucket, with credentials that rotate
 * on a fixed period without downtime.
 *
 * **Roles.** `writer`: put-only under `<prefix>/<source>/` (S3: no Get, no List, no Delete; see
 * `writerPolicy`). `restorer`: read and list that prefix, put only verification records
 * (`restorerPolicy`). `replicator`: read and list the source, put and list the replica, never
 * get or delete there (`replicatorPolicy`).
 *
 * **S3.** An IAM user with an access key (`identity: "user"`, for Docker hosts outside AWS) or an
 * IAM role ECS tasks assume (`identity: "role"`; STS hands the task short-lived credentials, so
 * there is no key to rotate and `accessKeyId`/`secretAccessKey` are absent). The inline policy is
 * `JSON.stringify` of the pure builder's document over the bucket's real ARNs.
 *
 * **R2.** An account-owned `cloudflare.AccountToken` whose one policy names exactly one bucket
 * (`com.cloudflare.edge.r2.bucket.<account>_<jurisdiction>_<bucket>`), with permission groups
 * looked up by name at deploy time. S3 credentials: key id = token id, secret = SHA-256 of the
 * token value. R2 tokens cannot express write-only (the bucket-item Write group also reads and
 * deletes): bucket-lock rules on every tier, client-side age encryption to a public key, the
 * one-bucket scope and rotation carry that weight. A replicator between R2 and anything gets one
 * credential per side (`replica*` outputs): Read on the source, Write on the replica.
 *
 * **Rotation without downtime.** Time is cut into periods of `rotationDays`
 * (`access/rotation.ts`). Two keys are alive: the key of the current period and the key of the
 * previous one, each a resource named `rotatingName(base, epoch)`; the component exposes the
 * CURRENT key. On the first `pulumi up` after a period ends, the new period's key is created,
 * the scheduled containers that consume this component's outputs switch to it in the same
 * deployment, and the key of the period before the previous one, no longer declared, is deleted
 * at the end of the update (Pulumi deletes removed resources last, after creates and updates).
 * The just-superseded key stays alive for one more whole period, so a backup that started with
 * it keeps working. Keys keep `deleteBeforeReplace: false`.
 *
 * IAM allows at most two access keys per user, but during that update three keys exist for a
 * moment (the new one is created before the oldest is deleted), which IAM would refuse. So on
 * AWS each period gets its own IAM user (with the same inline policy) holding exactly one key:
 * current + previous = two users, one key each, and the rotation is create-then-delete of a
 * whole user. Nothing references the user's ARN (bucket policies grant by account), so this is
 * invisible to consumers. For `identity: "role"` there is nothing to rotate.
 */
export class BackupAccess extends pulumi.ComponentResource {
  readonly role: AccessRole;
  /** Current key's id (secret, kept beside its secret). Absent for `identity: "role"`. */
  readonly accessKeyId?: pulumi.Output<string>;
  /** Current key's secret (secret). Absent for `identity: "role"`. */
  readonly secretAccessKey?: pulumi.Output<string>;
  /** The ECS task role's ARN, for `identity: "role"`. */
  readonly roleArn?: pulumi.Output<string>;
  /** S3 API endpoint of the (source) bucket. */
  readonly endpoint: pulumi.Output<string>;
  /** AWS region of the (source) bucket, or `auto` for R2. */
  readonly region: pulumi.Output<string>;
  /** replicator: credentials for the replica side (the same pair as the source side when one identity covers both). */
  readonly replicaAccessKeyId?: pulumi.Output<string>;
  readonly replicaSecretAccessKey?: pulumi.Output<string>;
  readonly replicaRoleArn?: pulumi.Output<string>;
  readonly replicaEndpoint?: pulumi.Output<string>;
  readonly replicaRegion?: pulumi.Output<string>;
  /** Label (`YYYY-MM-DD`) of the current rotation period, which the exposed key belongs to. */
  readonly keyEpoch: string;
  /** First instant (ISO) at which the next `pulumi up` rotates the key. */
  readonly rotatesAt: string;

  constructor(name: string, args: BackupAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("lifeboat:index:BackupAccess", name, {}, opts);
    const fail = (msg: string): never => {
      throw new pulumi.ResourceError(`BackupAccess ${name}: ${msg}`, this);
    };
    this.role = args.role;
    const identity = args.identity ?? "user";
    if (identity !== "user" && identity !== "role") fail(`identity must be "user" or "role", got ${JSON.stringify(identity)}`);
    const now = args.now === undefined ? new Date() : new Date(args.now);
    if (Number.isNaN(now.getTime())) fail(`now is not an ISO date: ${JSON.stringify(args.now)}`);
    const days = args.rotationDays ?? 90;
    if (!Number.isInteger(days) || days < 1) fail(`rotationDays must be a whole number of days >= 1, got ${days}`);
    const window = rotationWindow(now, days);
    const epochs = { current: window.epoch, previous: rotationEpoch(new Date(window.startsAt.getTime() - 1), days) };
    this.keyEpoch = epochs.current;
    this.rotatesAt = window.rotatesAt.toISOString();

    // The app's bucket is read whole unless a prefix is given; backup buckets default to "backups".
    const src = this.checkBucket("bucket", args.role === "appReader" ? { ...args, prefix: args.prefix ?? "" } : args, fail);
    const where = (b: BucketAccessFields) => ({
      endpoint: pulumi.output(b.endpoint ?? (b.provider === "r2" ? r2Endpoint(b.accountId!, b.jurisdiction ?? "default") : pulumi.output(b.region!).apply((r) => `https://s3.${r}.amazonaws.com`))),
      region: pulumi.output(b.provider === "r2" ? "auto" : b.region ?? pulumi.output(b.endpoint!).apply(regionOfEndpoint)),
    });
    ({ endpoint: this.endpoint, region: this.region } = where(src));

    const env = { name, identity, epochs, trustAccountId: args.trustAccountId };
    let creds: Creds;
    if (args.role === "appReader") {
      if (args.source || args.replica) fail(`role "appReader" reads one app bucket: source and replica are not used`);
      creds = src.provider === "r2"
        ? this.r2Token(name, src, "appReader", env)
        : this.awsIdentity(name, pulumi.all([src.bucketArn!, src.kmsKeyArn]).apply(([bucketArn, kmsKeyArn]) =>
          JSON.stringify(appBucketReaderPolicy({ bucketArn, prefix: src.prefix, ...(kmsKeyArn ? { kmsKeyArn } : {}) }))), env);
    } else if (args.role === "writer" || args.role === "restorer" || args.role === "bucketWriter") {
      const source = args.source;
      if (!source || !NAME_PATTERN.test(source)) fail(`source must match ${NAME_PATTERN} for role ${args.role}, got ${JSON.stringify(source)}`);
      if (args.replica) fail(`replica is only for role "replicator"`);
      if (src.provider === "r2") {
        // R2 tokens cannot narrow within a bucket: the writer's Write token also reads the snapshots.
        creds = this.r2Token(name, src, args.role === "bucketWriter" ? "writer" : args.role, env);
      } else {
        const build = args.role === "writer" ? writerPolicy : args.role === "bucketWriter" ? bucketJobPolicy : restorerPolicy;
        const policy = pulumi
          .all([src.bucketArn!, src.kmsKeyArn])
          .apply(([bucketArn, kmsKeyArn]) => JSON.stringify(build({ bucketArn, prefix: src.prefix, source: source!, ...(kmsKeyArn ? { kmsKeyArn } : {}) })));
        creds = this.awsIdentity(name, policy, env);
      }
    } else if (args.role === "replicator") {
      if (!args.replica) fail(`role "replicator" needs replica`);
      if (args.source) fail(`source is not used by role "replicator" (it copies the whole prefix)`);
      const dst = this.checkBucket("replica", { ...args.replica!, prefix: args.replica!.prefix ?? src.prefix }, fail);
      const document = (which: "both" | "source" | "replica") =>
        pulumi
          .all([src.bucketArn ?? PLACEHOLDER_ARN, src.kmsKeyArn, dst.bucketArn ?? PLACEHOLDER_ARN, dst.kmsKeyArn])
          .apply(([sArn, sKey, dArn, dKey]) => {
            const side = (arn: string, prefix: string, key: string | undefined): BucketScope => ({ bucketArn: arn, prefix, ...(key ? { kmsKeyArn: key } : {}) });
            const doc = replicatorPolicy({ source: side(sArn, src.prefix, sKey), replica: side(dArn, dst.prefix, dKey) });
            const picked = which === "both" ? doc : which === "source" ? replicatorSide(doc, sArn, sKey) : replicatorSide(doc, dArn, dKey);
            return JSON.stringify(picked);
          });
      let replicaCreds: Creds;
      if (src.provider === "s3" && dst.provider === "s3") {
        creds = replicaCreds = this.awsIdentity(name, document("both"), env);
      } else {
        creds = src.provider === "r2" ? this.r2Token(`${name}-source`, src, "replicatorSource", env) : this.awsIdentity(`${name}-source`, document("source"), env);
        replicaCreds = dst.provider === "r2" ? this.r2Token(`${name}-replica`, dst, "replicatorReplica", env) : this.awsIdentity(`${name}-replica`, document("replica"), env);
      }
      this.replicaAccessKeyId = replicaCreds.accessKeyId;
      this.replicaSecretAccessKey = replicaCreds.secretAccessKey;
      this.replicaRoleArn = replicaCreds.roleArn;
      ({ endpoint: this.replicaEndpoint, region: this.replicaRegion } = where(dst));
    } else {
      creds = fail(`role must be "writer", "restorer", "replicator", "bucketWriter" or "appReader", got ${JSON.stringify(args.role)}`);
    }
    this.accessKeyId = creds.accessKeyId;
    this.secretAccessKey = creds.secretAccessKey;
    this.roleArn = creds.roleArn;

    const present = (o: Record<string, pulumi.Output<string> | undefined>) =>
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Record<string, pulumi.Output<string>>;
    this.registerOutputs({
      ...present({
        accessKeyId: this.accessKeyId,
        secretAccessKey: this.secretAccessKey,
        roleArn: this.roleArn,
        replicaAccessKeyId: this.replicaAccessKeyId,
        replicaSecretAccessKey: this.replicaSecretAccessKey,
        replicaRoleArn: this.replicaRoleArn,
        replicaEndpoint: this.replicaEndpoint,
        replicaRegion: this.replicaRegion,
      }),
      endpoint: this.endpoint,
      region: this.region,
      keyEpoch: this.keyEpoch,
      rotatesAt: this.rotatesAt,
    });
  }

  /** Checks a bucket's fields for its provider and fills the prefix default. */
  private checkBucket(what: string, b: BucketAccessFields, fail: (msg: string) => never): BucketAccessFields & { prefix: string } {
    if (b.provider === "s3") {
      if (!b.bucketArn) fail(`${what}: bucketArn is required for provider s3`);
      if (!b.region && !b.endpoint) fail(`${what}: region (or endpoint) is required for provider s3`);
    } else if (b.provider === "r2") {
      if (!b.accountId) fail(`${what}: accountId is required for provider r2`);
    } else {
      fail(`${what}: provider must be "r2" or "s3", got ${JSON.stringify(b.provider)}`);
    }
    return { ...b, prefix: b.prefix ?? "backups" };
  }

  /**
   * IAM identity with an inline policy. `user`: one IAM user + one access key per rotation period
   * (current and previous). `role`: one role ECS tasks assume.
   */
  private awsIdentity(
    base: string,
    policy: pulumi.Output<string>,
    env: { identity: AwsIdentity; epochs: { current: string; previous: string }; trustAccountId: string | undefined },
  ): Creds {
    const child = { parent: this };
    const tags = { "lifeboat:role": this.role, "lifeboat:component": base };
    if (env.identity === "role") {
      const role = new aws.iam.Role(base, {
        name: physicalName("iamRole", base),
        description: `Lifeboat ${this.role} (${base}) for ECS tasks`,
        assumeRolePolicy: JSON.stringify(ecsTasksAssumeRolePolicy(env.trustAccountId ? { sourceAccount: env.trustAccountId } : {})),
        tags,
      }, child);
      new aws.iam.RolePolicy(`${base}-policy`, { name: physicalName("iamPolicy", base, "policy"), role: role.name, policy }, child);
      return { roleArn: role.arn };
    }
    const keys = [env.epochs.previous, env.epochs.current].map((epoch) => {
      const user = new aws.iam.User(rotatingName(base, epoch), { name: physicalName("iamUser", base, epoch), path: "/lifeboat/", tags: { ...tags, "lifeboat:rotation-epoch": epoch } }, child);
      const userPolicy = new aws.iam.UserPolicy(rotatingName(`${base}-policy`, epoch), { name: physicalName("iamPolicy", base, "policy", epoch), user: user.name, policy }, child);
      // The key waits for the policy so a container never starts with a key that cannot yet write.
      return new aws.iam.AccessKey(rotatingName(`${base}-key`, epoch), { user: user.name }, { ...child, dependsOn: [userPolicy] });
    });
    const current = keys[1]!;
    return { accessKeyId: pulumi.secret(current.id), secretAccessKey: pulumi.secret(current.secret) };
  }

  /** An account token per rotation period (current and previous), scoped to exactly one R2 bucket. */
  private r2Token(
    base: string,
    bucket: BucketAccessFields,
    r2Role: R2Role,
    env: { epochs: { current: string; previous: string } },
  ): Creds {
    const accountId = bucket.accountId!;
    const groups = cloudflare.getAccountApiTokenPermissionGroupsListOutput({ accountId }, { parent: this });
    const permissionGroups = groups.results.apply((results) => permissionGroupIds(results ?? [], r2PermissionGroupNames(r2Role)).map((id) => ({ id })));
    const resources = pulumi
      .output(bucket.bucketName)
      .apply((bucketName) => r2TokenResources({ accountId, bucketName, jurisdiction: bucket.jurisdiction ?? "default" }));
    const tokens = [env.epochs.previous, env.epochs.current].map(
      (epoch) =>
        new cloudflare.AccountToken(rotatingName(`${base}-token`, epoch), {
          accountId,
          name: physicalName("r2Token", `lifeboat ${base} ${r2Role} ${epoch}`),
          policies: [{ effect: "allow", permissionGroups, resources }],
        }, { parent: this }),
    );
    const current = tokens[1]!;
    const s3 = pulumi.all([current.id, current.value]).apply(([id, value]) => r2S3Credentials(id, value ?? ""));
    return { accessKeyId: pulumi.secret(s3.accessKeyId), secretAccessKey: pulumi.secret(s3.secretAccessKey) };
  }
}

/** `eu-west-1` from `https://s3.eu-west-1.amazonaws.com`; `auto` when the endpoint does not say. */
function regionOfEndpoint(endpoint: string): string {
  return /^https:\/\/s3[.-]([a-z0-9-]+)\.amazonaws\.com/.exec(endpoint)?.[1] ?? "auto";
}
