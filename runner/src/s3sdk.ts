import type * as S3Sdk from "@aws-sdk/client-s3";

let sdk: typeof S3Sdk | undefined;

/**
 * `@aws-sdk/client-s3`, loaded on first use. Loading it takes 0.2–0.3 s of CPU and ~25 MB, so a
 * command that never talks to S3 (local mode: `backup --no-upload --local-dir`) must not pay for
 * it: modules import only its types and call this where they build a client or a command.
 */
export function s3sdk(): typeof S3Sdk {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (sdk ??= require("@aws-sdk/client-s3") as typeof S3Sdk);
}
