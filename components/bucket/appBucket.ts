import { r2Endpoint } from "../access/r2Token";
import type { AppBucket } from "../config/schema";

/** How the runner reaches a `bucket` source's app bucket: `--bucket-url`, `--bucket-endpoint`, `--bucket-region`. */
export function appBucketAddress(b: AppBucket): { bucketUrl: string; bucketEndpoint: string; bucketRegion: string } {
  return {
    bucketUrl: `s3://${b.bucketName}${b.prefix ? "/" + b.prefix : ""}`,
    bucketEndpoint: b.provider === "r2" ? r2Endpoint(b.accountId, b.jurisdiction) : `https://s3.${b.region}.amazonaws.com`,
    bucketRegion: b.provider === "r2" ? "auto" : b.region,
  };
}
