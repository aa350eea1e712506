import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BackupAccess, bucketAccessFields } from "./backupAccess";
import { BackupBucket } from "./backupBucket";
import { BucketEvents } from "./bucketEvents";
import { appBucketAddress } from "./bucket/appBucket";
import { ConfigError } from "./config/errors";
import { Location } from "./config/schema";
import { LifeboatConfig } from "./config/validate";
import { S3Replication } from "./s3Replication";
import { DockerRunner, DockerRuntimeArgs, dockerRunner } from "./schedule/docker";
import { EcsGrants, EcsRuntimeArgs, EcsSharedIds, ecsRuntime, grantEcsJobs } from "./schedule/ecs";
import { JobRuntimeArgs } from "./schedule/jobArgs";
import { HostJob, dockerScheduler } from "./schedule/scheduler";
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
  /** Per bucket source: the read-only identity on the app's own bucket. */
  readonly appReaders: Record<string, BackupAccess> = {};
  /** Per bucket source with events on: the queue, notification rule and consumer token. */
  readonly bucketEvents: Record<string, BucketEvents> = {};
  /** Per source: the restore drill and hourly health check (only with an age identity). */
  readonly verifications: Record<string, ScheduledVerification> = {};
  /** Where new backups go: the primary, or in failover the first replica. */
  readonly writeTarget: BackupBucket;
  /** Failover only: per source with a DR target, the one-shot restore into it. */
  readonly restores: Record<string, FailoverRestore> = {};
  /**
   * Docker: the host's two scheduler containers: `backup` (every backup job: writer keys, source
   * URLs and mounts, public keys only) and `verify` (drills, health checks, replication: read
   * credentials and the age identity, no source password).
   */
  readonly schedulers: { backup?: pulumi.Output<string>; verify?: pulumi.Output<string> } = {};
  /** The runbook for this environment (markdown): real names, exact commands, scenarios. */
  readonly runbook: pulumi.Output<string>;
  /** What a failover does: whether it is active, where backups go, what was restored from where. */
  readonly failover: pulumi.Output<{ active: boolean; writeBucket: string; restores: { source: string; from: string; to: string }[] }>;

  constructor(name: string, args: DisasterRecoveryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("lifeboat:index:DisasterRecovery", name, {}, opts);
    const c = args.config;
    const sources = c.sources.map((s) => s.name);
    // Replicas carry WAL too (replicate copies wal/), so every bucket gets the same WAL rules.
    const walRetentionDays = Object.fromEntries(c.sources.flatMap((s) => (s.wal ? [[s.name, s.wal.retentionDays]] : [])));
    // Every AWS resource gets an explicit provider with a region from config, never the default
    // provider (which needs a region neither stack sets): one per S3 location, so a replica never
    // lands in the primary's region, and IAM identities on a bucket use that bucket's provider.
    const awsProviders = new Map<BackupBucket, aws.Provider>();
    const bucketFor = (role: string, loc: Location): BackupBucket => {
      const provider = loc.provider === "s3" ? new aws.Provider(`${name}-${role}-aws`, { region: loc.region as aws.Region }, { parent: this }) : undefined;
      const bucketOpts: pulumi.ComponentResourceOptions = { parent: this, ...(provider ? { providers: { aws: provider } } : {}) };
      const bucket = new BackupBucket(`${name}-${role}`, {
        provider: loc.provider,
        ...(loc.bucketName ? { bucketName: loc.bucketName } : {}),
        prefix: c.prefix,
        sources,
        bucketSources: c.sources.flatMap((s) => (s.kind === "bucket" ? [{ name: s.name, windowDays: s.windowDays! }] : [])),
        retention: c.retention,
        compliance: c.compliance,
        walRetentionDays,
        protect: c.protect,
        ...(loc.infrequentAccessAfterDays ? { infrequentAccessAfterDays: loc.infrequentAccessAfterDays } : {}),
        ...(loc.provider === "r2"
          ? { accountId: loc.accountId, jurisdiction: loc.jurisdiction, ...(loc.location ? { location: loc.location } : {}) }
          : { region: loc.region, objectLockMode: c.objectLockMode }),
      }, bucketOpts);
      if (provider) awsProviders.set(bucket, provider);
      return bucket;
    };
    /** Options for a child that declares AWS resources about these buckets (the first S3 one's provider). */
    const onBuckets = (...buckets: BackupBucket[]): pulumi.ComponentResourceOptions => {
      const provider = buckets.map((b) => awsProviders.get(b)).find((p) => p !== undefined);
      return { parent: this, ...(provider ? { providers: { aws: provider } } : {}) };
    };
    this.primary = bucketFor("backups", c.storage);
    this.replicas = c.replicas.map((r, i) => bucketFor(`replica-${i + 1}`, r));

    // The runtime, declared once for the environment. Docker: one provider and one runner image
    // for the host; every job runs in one of the host's two schedulers (declared below), and the
    // components get the image's id and the provider instead of declaring their own.
    const rt = c.runtime;
    // ECS tasks, their roles, secrets, logs and schedules live in the cluster's region.
    const clusterRegion = rt.kind === "ecs" ? ecsRegion(rt) : undefined;
    const ecsProvider = clusterRegion ? new aws.Provider(`${name}-ecs-aws`, { region: clusterRegion as aws.Region }, { parent: this }) : undefined;
    let host: { args: DockerRuntimeArgs; runner: DockerRunner } | undefined;
    let runtime: JobRuntimeArgs & { runtime: "docker" | "ecs" };
    let jobOpts: pulumi.ComponentResourceOptions = { parent: this };
    let ecsShared: EcsSharedIds | undefined;
    const ecsGrants: EcsGrants[] = [];
    if (rt.kind === "docker") {
      const args: DockerRuntimeArgs = { ...(rt.host ? { dockerHost: rt.host } : {}), ...(rt.image ? { image: rt.image } : {}), build: rt.build, ...(rt.network ? { network: rt.network } : {}) };
      host = { args, runner: dockerRunner(name, args, this) };
      runtime = { runtime: "docker", dockerScheduler: "host", imageId: host.runner.image, ...(rt.network ? { network: rt.network } : {}) };
      if (host.runner.provider) jobOpts = { parent: this, providers: { docker: host.runner.provider } };
    } else {
      // ECS: one task per job (Fargate costs nothing idle); the log group, execution role and
      // scheduler role are the environment's, granted once for every job below.
      const ecs: EcsRuntimeArgs = {
        clusterArn: rt.clusterArn, subnetIds: rt.subnetIds, securityGroupIds: rt.securityGroupIds, assignPublicIp: rt.assignPublicIp,
        cpu: rt.cpu, memory: rt.memory, logRetentionDays: rt.logRetentionDays, ecsRegion: clusterRegion!, ...(rt.image ? { image: rt.image } : {}),
      };
      ecsShared = ecsRuntime(name, ecs, this, ecsProvider);
      runtime = { runtime: "ecs", ...ecs, ecsShared };
      jobOpts = { parent: this, providers: { aws: ecsProvider! } };
    }
    /** Jobs for the host's schedulers: the backup side, and the verify side (drills, health checks, replication). */
    const hostJobs: { backup: HostJob[]; verify: HostJob[] } = { backup: [], verify: [] };
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
        }, onBuckets(primary));
        return;
      }
      const access = new BackupAccess(`${name}-replicator-${i + 1}`, {
        ...bucketAccessFields(primary),
        role: "replicator",
        replica: bucketAccessFields(replica),
        // An R2 source's token travels as AWS_* keys, so the S3 side needs keys too, never a task role.
        identity: primary.provider === "r2" ? "user" : identity,
        rotationDays: c.credentialRotationDays,
      }, onBuckets(primary, replica));
      const replication = new ScheduledReplication(`${name}-replicate-${i + 1}`, {
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
      }, jobOpts);
      // The verify side: it already reads the primary (restorer) and never holds a source's
      // password or a writer key; the backup side must never hold read credentials.
      hostJobs.verify.push(...replication.jobs);
      if (replication.ecsGrants) ecsGrants.push(replication.ecsGrants);
    });

    // Failover: new backups go to the first replica, verification follows them there, and each
    // source with a DR target gets a one-shot restore of its newest verified backup from it.
    this.writeTarget = c.failover ? this.replicas[0]! : this.primary;
    const target = this.writeTarget;
    for (const source of c.sources) {
      for (const role of ["writer", "restorer"] as const) {
        const access = new BackupAccess(`${name}-${source.name}-${role}`, {
          ...bucketAccessFields(target),
          // A bucket source's job also reads its own previous snapshot manifest (incremental).
          role: role === "writer" && source.kind === "bucket" ? "bucketWriter" : role,
          source: source.name,
          identity,
          rotationDays: c.credentialRotationDays,
        }, onBuckets(target));
        (role === "writer" ? this.writers : this.restorers)[source.name] = access;
      }
    }

    const destination = { bucketName: target.bucketName, prefix: target.prefix, endpoint: target.endpoint, region: target.region };
    for (const source of c.sources) {
      const what =
        source.kind === "postgres" || source.kind === "redis" ? { sourceUrl: pulumi.secret(source.url) }
          : source.kind === "volume" ? { volume: source.volume }
            : source.kind === "bucket" ? this.appBucket(name, source, c.credentialRotationDays)
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
          ? source.kind === "bucket" ? { objectLockMode: c.objectLockMode } : { objectLockRetention: c.retention, objectLockMode: c.objectLockMode }
          : {}),
        ...(source.kind === "postgres" && source.pitr
          ? { pitr: true, walFlushInterval: source.walFlushInterval, ...(source.wal ? { walRetentionDays: source.wal.retentionDays } : {}) }
          : {}),
        ...alerts,
        ...runtime,
      }, jobOpts);
      hostJobs.backup.push(...this.backups[source.name]!.jobs);
      if (this.backups[source.name]!.ecsGrants) ecsGrants.push(this.backups[source.name]!.ecsGrants!);
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
        maxTableShrink: source.maxTableShrink,
        rto: source.rto,
        ...(source.kind === "postgres" && source.freshness ? { freshness: { column: source.freshness.column, within: source.freshness.within ?? source.rpo } } : {}),
        ...(source.kind === "postgres" && source.assertions?.length ? { assertions: source.assertions } : {}),
        ...(source.kind === "postgres" ? { minBackupSize: String(c.alerts.minBackupBytes) } : {}),
        ...webhook,
        ...runtime,
      }, jobOpts);
      hostJobs.verify.push(...this.verifications[source.name]!.jobs);
      if (this.verifications[source.name]!.ecsGrants) ecsGrants.push(this.verifications[source.name]!.ecsGrants!);
      if (source.kind === "bucket") continue; // restored by hand into a bucket (runbook), never by failover
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
      }, jobOpts);
      if (this.restores[source.name]!.ecsGrants) ecsGrants.push(this.restores[source.name]!.ecsGrants!);
    }

    if (ecsShared && rt.kind === "ecs") {
      grantEcsJobs(name, ecsShared, rt.clusterArn, {
        taskDefinitionArns: ecsGrants.flatMap((g) => g.taskDefinitionArns),
        passRoleArns: ecsGrants.flatMap((g) => g.passRoleArns),
        secretArns: ecsGrants.flatMap((g) => g.secretArns),
      }, this, ecsProvider);
    }
    if (host) {
      for (const side of ["backup", "verify"] as const) {
        if (hostJobs[side].length) this.schedulers[side] = dockerScheduler(name, side, host.args, host.runner, hostJobs[side], this).name;
      }
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

  /**
   * A bucket source's app bucket, as ScheduledBackup takes it: where it is, the read-only identity
   * Lifeboat declares on it (always an access key: the runner reads the app bucket with its own
   * key, apart from the backup-bucket identity), and with events on the queue feeding the consumer.
   */
  private appBucket(name: string, s: BucketSourceConfig, rotationDays: number) {
    const b = s.bucket;
    const base = `${name}-${s.name}`;
    const where = b.provider === "r2"
      ? { provider: "r2" as const, accountId: b.accountId, jurisdiction: b.jurisdiction, bucketName: b.bucketName }
      : { provider: "s3" as const, region: b.region, bucketName: b.bucketName, bucketArn: `arn:aws:s3:::${b.bucketName}`, ...(b.kmsKeyArn ? { kmsKeyArn: b.kmsKeyArn } : {}) };
    // IAM is global; the provider only needs a region, and never the default provider's.
    const opts: pulumi.ComponentResourceOptions = b.provider === "s3"
      ? { parent: this, providers: { aws: new aws.Provider(`${base}-app-aws`, { region: b.region as aws.Region }, { parent: this }) } }
      : { parent: this };
    const reader = new BackupAccess(`${base}-app-reader`, { ...where, ...(b.prefix ? { prefix: b.prefix } : {}), role: "appReader", identity: "user", rotationDays }, opts);
    this.appReaders[s.name] = reader;
    let events: { queue: pulumi.Output<string>; queueToken: pulumi.Output<string> } | undefined;
    if (s.events && b.provider === "r2") {
      const feed = new BucketEvents(`${base}-events`, {
        accountId: b.accountId, bucketName: b.bucketName, jurisdiction: b.jurisdiction, ...(b.prefix ? { prefix: b.prefix } : {}), rotationDays,
      }, { parent: this });
      this.bucketEvents[s.name] = feed;
      events = { queue: feed.queue, queueToken: feed.queueToken };
    }
    return {
      ...appBucketAddress(b),
      window: `${s.windowDays}d`,
      appAccessKeyId: reader.accessKeyId!,
      appSecretAccessKey: reader.secretAccessKey!,
      ...(events ? { events } : {}),
    };
  }
}

type BucketSourceConfig = Extract<LifeboatConfig["sources"][number], { kind: "bucket" }>;

/**
 * The ECS runtime's region: the cluster's, from its ARN (`arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`),
 * or `runtime.region` when the ARN has none. Tasks, schedules and secrets must be in the cluster's
 * region, so a `runtime.region` that names another one is rejected.
 */
export function ecsRegion(rt: { region?: string | undefined; clusterArn: string }): string {
  const fromArn = rt.clusterArn.split(":")[3] || undefined;
  if (rt.region && fromArn && rt.region !== fromArn) {
    throw new ConfigError([{ key: "lifeboat:runtime.region", message: `is ${rt.region}, but the cluster in lifeboat:runtime.clusterArn is in ${fromArn}: ECS tasks run in their cluster's region` }]);
  }
  const region = fromArn ?? rt.region;
  if (!region) throw new ConfigError([{ key: "lifeboat:runtime.region", message: "is required: the cluster ARN names no region" }]);
  return region;
}
