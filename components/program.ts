import * as pulumi from "@pulumi/pulumi";
import { loadStackConfig, objectiveRows } from "./config";
import { DisasterRecovery } from "./disasterRecovery";

/**
 * The Lifeboat program for the current stack: read and validate its config, declare its
 * `DisasterRecovery`, return the stack outputs. `index.ts` exports what this returns;
 * `lifeboat plan` calls it under mocks, as often as it likes in one process.
 * Invalid config throws here, before any resource is declared.
 */
export function lifeboatProgram() {
  const config = loadStackConfig();
  const dr = new DisasterRecovery(`lifeboat-${config.environment}`, { config });
  return {
    environment: config.environment,
    /** Which profile's defaults apply, and why: `production (from the stack name "prod")`. */
    profile: `${config.profile} (${config.profileReason})`,
    primaryBucket: dr.primary.bucketName,
    primaryEndpoint: dr.primary.endpoint,
    primaryRegion: dr.primary.region,
    replicaBuckets: pulumi.output(dr.replicas.map((r) => r.bucketName)),
    /** Where new backups go: the primary bucket, or in failover the first replica. */
    writeBucket: dr.writeTarget.bucketName,
    /** This environment's runbook (markdown): also `npx lifeboat plan --stack NAME --runbook`. */
    runbook: dr.runbook,
    /** Whether failover is active, and in failover what each source was restored from and into. */
    failover: dr.failover,
    /** Per source: declared RPO/RTO and the worst-case RPO its schedule gives. */
    objectives: objectiveRows(config),
    /** Per source, the writer and restorer credentials (secrets) an operator hands to hosts outside Pulumi. */
    credentials: pulumi.secret(
      Object.fromEntries(
        config.sources.map((s) => [s.name, {
          writer: { accessKeyId: dr.writers[s.name]!.accessKeyId, secretAccessKey: dr.writers[s.name]!.secretAccessKey, roleArn: dr.writers[s.name]!.roleArn },
          restorer: { accessKeyId: dr.restorers[s.name]!.accessKeyId, secretAccessKey: dr.restorers[s.name]!.secretAccessKey, roleArn: dr.restorers[s.name]!.roleArn },
        }]),
      ),
    ),
  };
}
