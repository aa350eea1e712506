import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BackupBucket } from "./backupBucket";
import { Location } from "./config/schema";
import { LifeboatConfig } from "./config/validate";

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

  constructor(name: string, args: DisasterRecoveryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("lifeboat:index:DisasterRecovery", name, {}, opts);
    const c = args.config;
    const sources = c.sources.map((s) => s.name);
    const bucketFor = (role: string, loc: Location): BackupBucket => {
      const bucketOpts: pulumi.ComponentResourceOptions = { parent: this };
      if (loc.provider === "s3") {
        // One explicit provider per region, so a replica never lands in the primary's region by default.
        bucketOpts.providers = { aws: new aws.Provider(`${name}-${role}-aws`, { region: loc.region as aws.Region }, { parent: this }) };
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
    this.registerOutputs({
      primaryBucket: this.primary.bucketName,
      replicaBuckets: this.replicas.map((r) => r.bucketName),
    });
  }
}
