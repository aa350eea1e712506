/**
 * The runner specs and stock-tools values the runbook prints, built by the functions the
 * scheduled jobs use (../schedule/commands) with this runbook's shell variables as targets, so
 * a printed command cannot differ from what a job runs.
 */
import type { RestoreSpec } from "lifeboat-core";
import { JobDestination, destUrl, destinationSpec, restoreSpec, restoreTargetField } from "../schedule/commands";
import { RUNBOOK_VARIABLES, RunbookBucket, RunbookInput, RunbookSource } from "./input";
import { defaultTarget } from "./targets";

/** Where the age identity is kept on the operator's machine. */
export const IDENTITY_FILE = (env: string) => `$HOME/.lifeboat/${env}-age-identity.txt`;

/** A bucket and the stack's key prefix, as the job builders take them. */
function jobDestination(b: RunbookBucket, prefix: string): JobDestination {
  return { bucket: b.bucketName, prefix, endpoint: b.endpoint, region: b.region };
}

/** `s3://BUCKET/PREFIX`. */
export function bucketUrl(b: RunbookBucket, prefix: string): string {
  return destUrl(jobDestination(b, prefix));
}

/** The runner's destination fields for a bucket. */
export function bucketDestination(b: RunbookBucket, prefix: string): ReturnType<typeof destinationSpec> {
  return destinationSpec(jobDestination(b, prefix));
}

/** The restore spec the runbook prints for a source: its target from the shell variable its kind takes. */
export function restoreSpecFor(s: Pick<RunbookSource, "name" | "kind">, b: RunbookBucket, prefix: string): RestoreSpec {
  return restoreSpec({ name: s.name, kind: s.kind, identity: RUNBOOK_VARIABLES.identity, ...jobDestination(b, prefix) }, RUNBOOK_VARIABLES[restoreTargetField(s.kind)]);
}

/** The restore spec of a point-in-time recovery: a data directory, the time from `$AT` (or `latest`). */
export function pitrRestoreSpec(s: Pick<RunbookSource, "name">, b: RunbookBucket, prefix: string, at: string = RUNBOOK_VARIABLES.at): RestoreSpec {
  return { ...restoreSpec({ name: s.name, kind: "postgres", identity: RUNBOOK_VARIABLES.identity, ...jobDestination(b, prefix) }), at, targetDir: RUNBOOK_VARIABLES.targetDir };
}

/** The stock-tools variables of one source against one bucket, with this runbook's placeholders. */
export function stockVarsFor(i: Pick<RunbookInput, "prefix" | "environment">, s: RunbookSource, b: RunbookBucket) {
  return {
    kind: s.kind,
    endpoint: b.endpoint,
    region: b.region,
    bucket: b.bucketName,
    prefix: i.prefix,
    source: s.name,
    key: "",
    identity: IDENTITY_FILE(i.environment),
    target: defaultTarget(s),
  };
}
