import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { s3ReplicationAssumeRolePolicy, s3ReplicationRolePolicy } from "./access/iamDocuments";
import { physicalName } from "./naming";

interface S3ReplicationArgs {
  /** Name of the source (primary) bucket. */
  sourceBucketName: pulumi.Input<string>;
  /** ARN of the source bucket. */
  sourceBucketArn: pulumi.Input<string>;
  /** KMS key the source bucket encrypts with. */
  sourceKmsKeyArn: pulumi.Input<string>;
  /** ARN of the replica bucket, in another region. */
  replicaBucketArn: pulumi.Input<string>;
  /** The replica's own KMS key, in the replica's region. */
  replicaKmsKeyArn: pulumi.Input<string>;
  /** S3 Replication Time Control: 99.99 % of objects within 15 minutes, billed extra. @default false */
  replicationTimeControl?: boolean;
}

/**
 * Native S3 → S3 replication of a backup bucket: a least-privilege role S3 assumes (read the
 * source's versions, write replicas, never replicate deletes), and a replication rule that
 * copies every new object re-encrypted with the replica's own key. Delete markers are not
 * replicated: a delete in the primary never reaches the DR copy. Declare it with the primary
 * region's provider (it is the source bucket's configuration).
 */
export class S3Replication extends pulumi.ComponentResource {
  readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: S3ReplicationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("lifeboat:index:S3Replication", name, {}, opts);
    const role = new aws.iam.Role(`${name}-role`, {
      name: physicalName("iamRole", name, "role"),
      assumeRolePolicy: pulumi.output(args.sourceBucketArn).apply((arn) => JSON.stringify(s3ReplicationAssumeRolePolicy({ sourceBucketArn: arn }))),
      description: `Lifeboat: S3 replication for ${name}`,
    }, { parent: this });
    new aws.iam.RolePolicy(`${name}-role-policy`, {
      name: physicalName("iamPolicy", name, "role-policy"),
      role: role.id,
      policy: pulumi
        .all([args.sourceBucketArn, args.replicaBucketArn, args.sourceKmsKeyArn, args.replicaKmsKeyArn])
        .apply(([sourceBucketArn, replicaBucketArn, sourceKmsKeyArn, replicaKmsKeyArn]) =>
          JSON.stringify(s3ReplicationRolePolicy({ sourceBucketArn, replicaBucketArn, sourceKmsKeyArn, replicaKmsKeyArn }))),
    }, { parent: this });
    const rtc = args.replicationTimeControl ?? false;
    new aws.s3.BucketReplicationConfig(`${name}-config`, {
      bucket: args.sourceBucketName,
      role: role.arn,
      rules: [{
        id: "replicate-all-backups",
        status: "Enabled",
        priority: 1,
        filter: { prefix: "" },
        deleteMarkerReplication: { status: "Disabled" },
        sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
        destination: {
          bucket: args.replicaBucketArn,
          storageClass: "STANDARD",
          encryptionConfiguration: { replicaKmsKeyId: args.replicaKmsKeyArn },
          ...(rtc
            ? { replicationTime: { status: "Enabled", time: { minutes: 15 } }, metrics: { status: "Enabled", eventThreshold: { minutes: 15 } } }
            : {}),
        },
      }],
    }, { parent: this });
    this.roleArn = role.arn;
    this.registerOutputs({ roleArn: this.roleArn });
  }
}
