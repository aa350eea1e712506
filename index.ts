import * as pulumi from "@pulumi/pulumi";
import { DisasterRecovery, loadStackConfig } from "./components";

// The Lifeboat program: one environment per stack, all of it from stack config.
// Invalid config throws here, before any resource is declared.
const config = loadStackConfig();
const dr = new DisasterRecovery(`lifeboat-${config.environment}`, { config });

export const environment = config.environment;
export const primaryBucket = dr.primary.bucketName;
export const primaryEndpoint = dr.primary.endpoint;
export const primaryRegion = dr.primary.region;
export const replicaBuckets = pulumi.output(dr.replicas.map((r) => r.bucketName));
export const objectives = config.sources.map((s) => ({ source: s.name, rpo: s.rpo, rto: s.rto, schedule: s.schedule }));
