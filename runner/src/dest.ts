import { UsageError } from "./errors";
import { joinKey } from "lifeboat-core";

export interface S3Dest {
  bucket: string;
  /** Key prefix without leading/trailing slashes; may be empty. */
  prefix: string;
}

/** Parses `s3://BUCKET/PREFIX`. */
export function parseDest(text: string | undefined, flag = "--dest"): S3Dest {
  if (!text) throw new UsageError(`${flag} s3://BUCKET/PREFIX (or LIFEBOAT_DEST) is required`);
  const m = /^s3:\/\/([^/]+)(\/.*)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: must look like s3://BUCKET/PREFIX, got ${JSON.stringify(text)}`);
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UsageError(`${flag}: ${JSON.stringify(bucket)} is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)`);
  }
  const prefix = joinKey(m[2] ?? "");
  return { bucket, prefix };
}
