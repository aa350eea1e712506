import * as aws from "@pulumi/aws";
import { ABORT_MULTIPART_DAYS, PrefixRule } from "./rules";

/**
 * S3 lifecycle rules: expire each prefix's current versions on the calendar, keep a
 * noncurrent version (there should be none: keys never repeat) for `noncurrentDays`, remove
 * expired delete markers, and abort incomplete multipart uploads after a day.
 */
export function s3LifecycleRules(rules: PrefixRule[], noncurrentDays: number): aws.types.input.s3.BucketLifecycleConfigurationRule[] {
  const out: aws.types.input.s3.BucketLifecycleConfigurationRule[] = rules.map((r) => ({
    id: `expire-${r.id}`,
    status: "Enabled",
    filter: { prefix: r.prefix },
    expiration: { days: r.expireDays },
    noncurrentVersionExpiration: { noncurrentDays },
    ...(r.infrequentAccessDays ? { transitions: [{ days: r.infrequentAccessDays, storageClass: "GLACIER_IR" }] } : {}),
  }));
  out.push({
    id: "abort-incomplete-multipart-and-markers",
    status: "Enabled",
    filter: { prefix: "" },
    abortIncompleteMultipartUpload: { daysAfterInitiation: ABORT_MULTIPART_DAYS },
    expiration: { expiredObjectDeleteMarker: true },
  });
  return out;
}

/** Bucket policy: deny any request not over TLS, and any put asking for other encryption than the bucket's KMS key. */
export function s3BucketPolicy(bucketArn: string, kmsKeyArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
      {
        Sid: "DenyOtherEncryption",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:PutObject",
        Resource: `${bucketArn}/*`,
        Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption": "aws:kms" } },
      },
      {
        Sid: "DenyOtherKmsKey",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:PutObject",
        Resource: `${bucketArn}/*`,
        Condition: { StringNotEqualsIfExists: { "s3:x-amz-server-side-encryption-aws-kms-key-id": kmsKeyArn } },
      },
    ],
  });
}
