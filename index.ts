import * as pulumi from "@pulumi/pulumi";
import { DisasterRecovery, loadStackConfig, objectiveRows } from "./components";

// The Lifeboat program: one environment per stack, all of it from stack config.
// Invalid config throws here, before any resource is declared.
const config = loadStackConfig();
const dr = new DisasterRecovery(`lifeboat-${config.environment}`, { config });

export const environment = config.environment;
/** Which profile's defaults apply, and why: `production (from the stack name "prod")`. */
export const profile = `${config.profile} (${config.profileReason})`;
export const primaryBucket = dr.primary.bucketName;
export const primaryEndpoint = dr.primary.endpoint;
export const primaryRegion = dr.primary.region;
export const replicaBuckets = pulumi.output(dr.replicas.map((r) => r.bucketName));
/** Where new backups go: the primary bucket, or in failover the first replica. */
export const writeBucket = dr.writeTarget.bucketName;
/** This environment's runbook (markdown): also `npx lifeboat plan --stack NAME --runbook`. */
export const runbook = dr.runbook;
/** Whether failover is active, and in failover what each source was restored from and into. */
export const failover = dr.failover;
/** Per source: declared RPO/RTO and the worst-case RPO its schedule gives. */
export const objectives = objectiveRows(config);

/** Per source, the writer and restorer credentials (secrets) an operator hands to hosts outside Pulumi. */
export const credentials = pulumi.secret(
  Object.fromEntries(
    config.sources.map((s) => [s.name, {
      writer: { accessKeyId: dr.writers[s.name]!.accessKeyId, secretAccessKey: dr.writers[s.name]!.secretAccessKey, roleArn: dr.writers[s.name]!.roleArn },
      restorer: { accessKeyId: dr.restorers[s.name]!.accessKeyId, secretAccessKey: dr.restorers[s.name]!.secretAccessKey, roleArn: dr.restorers[s.name]!.roleArn },
    }]),
  ),
);
