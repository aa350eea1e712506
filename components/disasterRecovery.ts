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
import { ScheduledReplication } from "./scheduledReplication";
import { ScheduledVerification } from "./scheduledVerification";
import { replicationSchedule } from "./schedule/cron";
import { FailoverRestore } from "./failoverRestore";
import { renderRunbook, runbookInputFromConfig } from "./runbook";

export interface DisasterRecoveryArgs {
  /** One environment's validated configuration (see `validateStackConfig`). */
  config: LifeboatConfig;
}

/**
 * Everything one environment needs to survive a disaster, declared from its stack config: the
 * primary backup bucket and its replicas in other regions or providers, replication between
 * them, a writer and a restorer identity per source, a scheduled backup per source, and (with
 * an age identity) a restore drill and hourly health check per source.
 *
 * With `failover: true` the first replica becomes the write target: writers, backups,
 * verification and restorers point at it, and every source with a DR target (`drTargetUrl`,
 * `drTargetPath`) gets a one-shot restore of its newest verified backup from it. Buckets and
 * replication stay as they are, so turning failover off again is the same `pulumi up` in reverse.
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
  /** Where new backups go: the primary, or in failover the first replica. */
  readonly writeTarget: BackupBucket;
  /** Failover only: per source with a DR target, the one-shot restore into it. */
  readonly restores: Record<string, FailoverRestore> = {};
  /** The runbook for this environment (markdown): real names, exact commands, scenarios. */
  readonly runbook: pulumi.Output<string>;
  /** What a failover does: whether it is active, where backups go, what was restored from where. */
  readonly failover: pulumi.Output<{ active: boolean; writeBucket: string; restores: { source: string; from: string; to: string }[] }>;

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

    const rt = c.runtime;
    const runtime: DockerRuntimeArgs & EcsRuntimeArgs & { runtime: "docker" | "ecs" } =
      rt.kind === "docker"
        ? { runtime: "docker", ...(rt.host ? { dockerHost: rt.host } : {}), ...(rt.image ? { image: rt.image } : {}), build: rt.build, ...(rt.network ? { network: rt.network } : {}) }
        : {
          runtime: "ecs", clusterArn: rt.clusterArn, subnetIds: rt.subnetIds, securityGroupIds: rt.securityGroupIds, assignPublicIp: rt.assignPublicIp,
          cpu: rt.cpu, memory: rt.memory, logRetentionDays: rt.logRetentionDays, ...(rt.region ? { ecsRegion: rt.region } : {}), ...(rt.image ? { image: rt.image } : {}),
        };
    const identity = rt.kind === "ecs" ? "role" : "user";
    const credentialsOf = (a: BackupAccess) =>
      a.roleArn ? { taskRoleArn: a.roleArn } : { accessKeyId: a.accessKeyId!, secretAccessKey: a.secretAccessKey! };
    const webhook = c.alerts.webhookUrl ? { alertWebhookUrl: pulumi.secret(c.alerts.webhookUrl) } : {};
    const alerts = { ...webhook, ...(c.alerts.healthcheckUrl ? { healthcheckUrl: pulumi.secret(c.alerts.healthcheckUrl) } : {}) };

    // Replication from the primary: S3 → S3 natively; every other pair by a scheduled replicate job
    // that copies new backups and alerts when the replica lags by more than the tightest RPO.
    const tightestRpo = c.sources.reduce((a, s) => (s.rpoSeconds < a.rpoSeconds ? s : a));
    this.replicas.forEach((replica, i) => {
      const primary = this.primary;
      const loc = c.replicas[i]!;
      if (primary.provider === "s3" && replica.provider === "s3") {
        new S3Replication(`${name}-replication-${i + 1}`, {
          sourceBucketName: primary.bucketName,
          sourceBucketArn: primary.arn!,
          sourceKmsKeyArn: primary.kmsKeyArn!,
          replicaBucketArn: replica.arn!,
          replicaKmsKeyArn: replica.kmsKeyArn!,
          replicationTimeControl: loc.provider === "s3" && loc.replicationTimeControl,
        }, { parent: this, providers: { aws: awsProviders.get("backups")! } });
        return;
      }
      const access = new BackupAccess(`${name}-replicator-${i + 1}`, {
        ...bucketAccessFields(primary),
        role: "replicator",
        replica: bucketAccessFields(replica),
        // An R2 source's token travels as AWS_* keys, so the S3 side needs keys too, never a task role.
        identity: primary.provider === "r2" ? "user" : identity,
        rotationDays: c.credentialRotationDays,
      }, { parent: this });
      new ScheduledReplication(`${name}-replicate-${i + 1}`, {
        bucketName: primary.bucketName,
        prefix: primary.prefix,
        endpoint: access.endpoint,
        region: access.region,
        replicaBucketName: replica.bucketName,
        replicaPrefix: replica.prefix,
        replicaEndpoint: access.replicaEndpoint!,
        replicaRegion: access.replicaRegion!,
        ...credentialsOf(access),
        ...(access.replicaAccessKeyId ? { replicaAccessKeyId: access.replicaAccessKeyId, replicaSecretAccessKey: access.replicaSecretAccessKey! } : {}),
        schedule: replicationSchedule(tightestRpo.rpoSeconds),
        rpo: tightestRpo.rpo,
        // The backups' healthcheck URL is theirs: a replicate job pinging it would mask a missed backup.
        ...webhook,
        ...runtime,
      }, { parent: this });
    });

    // Failover: new backups go to the first replica, verification follows them there, and each
    // source with a DR target gets a one-shot restore of its newest verified backup from it.
    this.writeTarget = c.failover ? this.replicas[0]! : this.primary;
    const target = this.writeTarget;
    for (const source of c.sources) {
      for (const role of ["writer", "restorer"] as const) {
        const access = new BackupAccess(`${name}-${source.name}-${role}`, {
          ...bucketAccessFields(target),
          role,
          source: source.name,
          identity,
          rotationDays: c.credentialRotationDays,
        }, { parent: this });
        (role === "writer" ? this.writers : this.restorers)[source.name] = access;
      }
    }

    const destination = { bucketName: target.bucketName, prefix: target.prefix, endpoint: target.endpoint, region: target.region };
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
        // S3: each object locked for its tier's whole life (a compliance prefix named like the source: at least its days).
        ...(target.provider === "s3"
          ? { objectLockRetention: c.retention, objectLockMode: c.objectLockMode, objectLockMinDays: c.compliance.find((p) => p.prefix === source.name)?.days ?? 0 }
          : {}),
        ...(source.kind === "postgres" && source.pitr ? { pitr: true, walFlushInterval: source.walFlushInterval } : {}),
        ...alerts,
        ...runtime,
      }, { parent: this });
      if (!c.ageIdentity) continue;
      const ageIdentity = pulumi.secret(c.ageIdentity);
      this.verifications[source.name] = new ScheduledVerification(`${name}-${source.name}-verify`, {
        sourceName: source.name,
        sourceKind: source.kind,
        ...destination,
        ...credentialsOf(this.restorers[source.name]!),
        ageIdentity,
        ...(source.kind === "postgres" && c.verification.scratchUrl ? { scratchUrl: pulumi.secret(c.verification.scratchUrl) } : {}),
        schedule: c.verification.schedule,
        statusSchedule: c.verification.statusSchedule,
        backupSchedule: source.schedule,
        maxShrink: c.alerts.maxShrink,
        ...(source.kind === "postgres" ? { minBackupSize: String(c.alerts.minBackupBytes) } : {}),
        ...webhook,
        ...runtime,
      }, { parent: this });
      const drTarget = source.kind === "postgres" ? source.drTargetUrl : source.drTargetPath;
      if (!c.failover || drTarget === undefined) continue;
      this.restores[source.name] = new FailoverRestore(`${name}-${source.name}-failover-restore`, {
        sourceName: source.name,
        sourceKind: source.kind,
        ...destination,
        ...credentialsOf(this.restorers[source.name]!),
        ageIdentity,
        ...(source.kind === "postgres" ? { targetUrl: pulumi.secret(drTarget) } : { targetPath: drTarget }),
        ...webhook,
        ...runtime,
      }, { parent: this });
    }

    type RestoreRow = { source: string; from: string; to: string };
    const rows: pulumi.Output<RestoreRow>[] = c.failover
      ? c.sources.map((src) => {
        const r = this.restores[src.name];
        return r
          ? r.from.apply((from): RestoreRow => ({ source: src.name, from, to: r.to }))
          : pulumi.output<RestoreRow>({ source: src.name, from: "", to: "nothing restored: no drTargetUrl/drTargetPath configured" });
      })
      : [];
    this.failover = pulumi.all([target.bucketName, pulumi.all(rows)]).apply(([writeBucket, restores]) => ({ active: c.failover, writeBucket, restores }));

    const resolved = (b: BackupBucket) =>
      pulumi.all([b.bucketName, b.endpoint, b.region]).apply(([bucketName, endpoint, region]) => ({ bucketName, endpoint, region }));
    this.runbook = pulumi
      .all([resolved(this.primary), pulumi.all(this.replicas.map(resolved))])
      .apply(([primary, replicas]) => renderRunbook(runbookInputFromConfig(c, { primary, replicas })));

    this.registerOutputs({
      runbook: this.runbook,
      primaryBucket: this.primary.bucketName,
      replicaBuckets: this.replicas.map((r) => r.bucketName),
      failover: this.failover,
    });
  }
}
