import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BackupAccess, bucketAccessFields } from "./backupAccess";
import { BackupBucket } from "./backupBucket";
import { Location } from "./config/schema";
import { LifeboatConfig } from "./config/validate";
import { S3Replication } from "./s3Replication";
import { DockerRuntimeArgs } from "./schedule/docker";
import { EcsRuntimeArgs } from "./schedule/ecs";
import { ScheduledBackup } from "./scheduledBackup";
import { ScheduledVerification } from "./scheduledVerification";

export interface DisasterRecoveryArgs {
  /** One environment's validated configuration (see `validateStackConfig`). */
  config: LifeboatConfig;
}

/**
 * Everything one environment needs to survive a disaster, declared from its stack config:
 * the primary backup bucket and its replicas in other regions or providers.
 */
export class DisasterRecovery extends pulumi.ComponentResource {
  readonly primary: BackupBucket;
  readonly replicas: BackupBucket[];
  /** Per source: the identity its scheduled backup writes with (put under its prefix only). */
  readonly writers: Record<string, BackupAccess> = {};
  /** Per source: the identity verification and restores read with. */
  readonly restorers: Record<string, BackupAccess> = {};
  /** Per source: the scheduled backup job. */
  readonly backups: Record<string, ScheduledBackup> = {};
  /** Per source: the restore drill and hourly health check (only with an age identity). */
  readonly verifications: Record<string, ScheduledVerification> = {};

  constructor(name: string, args: DisasterRecoveryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("lifeboat:index:DisasterRecovery", name, {}, opts);
    const c = args.config;
    const sources = c.sources.map((s) => s.name);
    // One explicit provider per S3 location, so a replica never lands in the primary's region by default.
    const awsProviders = new Map<string, aws.Provider>();
    const bucketFor = (role: string, loc: Location): BackupBucket => {
      const bucketOpts: pulumi.ComponentResourceOptions = { parent: this };
      if (loc.provider === "s3") {
        const provider = new aws.Provider(`${name}-${role}-aws`, { region: loc.region as aws.Region }, { parent: this });
        awsProviders.set(role, provider);
        bucketOpts.providers = { aws: provider };
      }
      return new BackupBucket(`${name}-${role}`, {
        provider: loc.provider,
        ...(loc.bucketName ? { bucketName: loc.bucketName } : {}),
        prefix: c.prefix,
        sources,
        retention: c.retention,
        compliance: c.compliance,
        protect: c.protect,
        ...(loc.infrequentAccessAfterDays ? { infrequentAccessAfterDays: loc.infrequentAccessAfterDays } : {}),
        ...(loc.provider === "r2"
          ? { accountId: loc.accountId, jurisdiction: loc.jurisdiction, ...(loc.location ? { location: loc.location } : {}) }
          : { region: loc.region, objectLockMode: c.objectLockMode }),
      }, bucketOpts);
    };
    this.primary = bucketFor("backups", c.storage);
    this.replicas = c.replicas.map((r, i) => bucketFor(`replica-${i + 1}`, r));

    // S3 → S3 replicas use native replication; other pairs get a scheduled replicate job.
    this.replicas.forEach((replica, i) => {
      const primary = this.primary;
      if (primary.provider !== "s3" || replica.provider !== "s3") return;
      new S3Replication(`${name}-replication-${i + 1}`, {
        sourceBucketName: primary.bucketName,
        sourceBucketArn: primary.arn!,
        sourceKmsKeyArn: primary.kmsKeyArn!,
        replicaBucketArn: replica.arn!,
        replicaKmsKeyArn: replica.kmsKeyArn!,
      }, { parent: this, providers: { aws: awsProviders.get("backups")! } });
    });
    const identity = c.runtime.kind === "ecs" ? "role" : "user";
    for (const source of c.sources) {
      for (const role of ["writer", "restorer"] as const) {
        const access = new BackupAccess(`${name}-${source.name}-${role}`, {
          ...bucketAccessFields(this.primary),
          role,
          source: source.name,
          identity,
          rotationDays: c.credentialRotationDays,
        }, { parent: this });
        (role === "writer" ? this.writers : this.restorers)[source.name] = access;
      }
    }

    const rt = c.runtime;
    const runtime: DockerRuntimeArgs & EcsRuntimeArgs & { runtime: "docker" | "ecs" } =
      rt.kind === "docker"
        ? { runtime: "docker", ...(rt.host ? { dockerHost: rt.host } : {}), ...(rt.image ? { image: rt.image } : {}), build: rt.build, ...(rt.network ? { network: rt.network } : {}) }
        : {
          runtime: "ecs", clusterArn: rt.clusterArn, subnetIds: rt.subnetIds, securityGroupIds: rt.securityGroupIds, assignPublicIp: rt.assignPublicIp,
          cpu: rt.cpu, memory: rt.memory, logRetentionDays: rt.logRetentionDays, ...(rt.region ? { ecsRegion: rt.region } : {}), ...(rt.image ? { image: rt.image } : {}),
        };
    const destination = { bucketName: this.primary.bucketName, prefix: this.primary.prefix, endpoint: this.primary.endpoint, region: this.primary.region };
    const credentialsOf = (a: BackupAccess) =>
      a.roleArn ? { taskRoleArn: a.roleArn } : { accessKeyId: a.accessKeyId!, secretAccessKey: a.secretAccessKey! };
    const alerts = {
      ...(c.alerts.webhookUrl ? { alertWebhookUrl: pulumi.secret(c.alerts.webhookUrl) } : {}),
      ...(c.alerts.healthcheckUrl ? { healthcheckUrl: pulumi.secret(c.alerts.healthcheckUrl) } : {}),
    };
    for (const source of c.sources) {
      const what =
        source.kind === "postgres" || source.kind === "redis" ? { sourceUrl: pulumi.secret(source.url) }
          : source.kind === "volume" ? { volume: source.volume }
            : { path: source.path };
      this.backups[source.name] = new ScheduledBackup(`${name}-${source.name}-backup`, {
        sourceName: source.name,
        sourceKind: source.kind,
        ...what,
        ...destination,
        ...credentialsOf(this.writers[source.name]!),
        ageRecipients: c.ageRecipients,
        schedule: source.schedule,
        rpo: source.rpo,
        ...alerts,
        ...runtime,
      }, { parent: this });
      if (c.ageIdentity) {
        this.verifications[source.name] = new ScheduledVerification(`${name}-${source.name}-verify`, {
          sourceName: source.name,
          sourceKind: source.kind,
          ...destination,
          ...credentialsOf(this.restorers[source.name]!),
          ageIdentity: pulumi.secret(c.ageIdentity),
          ...(source.kind === "postgres" && c.verification.scratchUrl ? { scratchUrl: pulumi.secret(c.verification.scratchUrl) } : {}),
          schedule: c.verification.schedule,
          statusSchedule: c.verification.statusSchedule,
          backupSchedule: source.schedule,
          maxShrink: c.alerts.maxShrink,
          ...(source.kind === "postgres" ? { minBackupSize: String(c.alerts.minBackupBytes) } : {}),
          ...(c.alerts.webhookUrl ? { alertWebhookUrl: pulumi.secret(c.alerts.webhookUrl) } : {}),
          ...runtime,
        }, { parent: this });
      }
    }

    this.registerOutputs({
      primaryBucket: this.primary.bucketName,
      replicaBuckets: this.replicas.map((r) => r.bucketName),
    });
  }
}
