import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { QUEUE_PERMISSION_GROUPS, R2Jurisdiction, accountTokenResources, permissionGroupIds } from "./access/r2Token";
import { rotatingName, rotationEpoch, rotationWindow } from "./access/rotation";
import { physicalName } from "./naming";

/**
 * What R2 reports to the queue: every way an object is created or overwritten (`object-create`:
 * PutObject, CopyObject, CompleteMultipartUpload) and explicit deletes (`object-delete`). Deletes
 * by the app bucket's own lifecycle (`LifecycleDeletion`) are left to the next snapshot: they are
 * the app's policy, not an accident to replay. (Cloudflare R2 event notifications, API
 * `PUT /accounts/{account_id}/event_notifications/r2/{bucket_name}/configuration/queues/{queue_id}`.)
 */
export const BUCKET_EVENT_ACTIONS = ["PutObject", "CopyObject", "CompleteMultipartUpload", "DeleteObject"] as const;

export interface BucketEventsArgs {
  /** The Cloudflare account of the app's R2 bucket (the queue is created there too). */
  accountId: string;
  /** The app's R2 bucket. */
  bucketName: string;
  /** The bucket's jurisdiction. @default "default" */
  jurisdiction?: R2Jurisdiction;
  /** Only keys under this prefix are reported (no leading or trailing `/`). @default the whole bucket */
  prefix?: string;
  /** Queue name (lowercase letters, digits, dashes, at most 63). @default from the component name */
  queueName?: string;
  /** Days the queue token is current before the next `pulumi up` replaces it. @default 90 */
  rotationDays?: number;
  /** The time the program runs at (ISO 8601), for tests and reproducible plans. @default now */
  now?: string;
}

/**
 * Low-RPO feed for a `bucket` source on R2: a Cloudflare Queue with an HTTP pull consumer, an R2
 * event-notification rule on the app's bucket (object-create and object-delete, prefix-filtered),
 * and an account token that can pull from and acknowledge on the queue, for the runner's
 * `bucket-events` container. The periodic snapshot stays the reconciling full pass: a message
 * that is lost, expires in the queue or arrives after a second overwrite is caught there.
 *
 * Queue permissions are account-wide in Cloudflare (no group narrows a token to one queue): the
 * token can read and write every queue of the account, and nothing else. It rotates like the
 * other Lifeboat credentials (current and previous period alive, see `BackupAccess`).
 */
export class BucketEvents extends pulumi.ComponentResource {
  readonly queueId: pulumi.Output<string>;
  /** `ACCOUNT_ID/QUEUE_ID`, the runner's `--queue`. */
  readonly queue: pulumi.Output<string>;
  /** The current pull/ack token (secret). */
  readonly queueToken: pulumi.Output<string>;

  constructor(name: string, args: BucketEventsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("lifeboat:index:BucketEvents", name, {}, opts);
    const fail = (msg: string): never => {
      throw new pulumi.ResourceError(`BucketEvents ${name}: ${msg}`, this);
    };
    if (!/^[0-9a-f]{32}$/.test(args.accountId)) fail(`accountId must be a 32-character hex Cloudflare account id`);
    if (args.prefix !== undefined && !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(args.prefix)) fail(`prefix ${JSON.stringify(args.prefix)} must be key segments joined by '/', without a leading or trailing '/'`);
    const queueName = args.queueName ?? physicalName("queue", name);
    if (!/^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$/.test(queueName)) fail(`queueName ${JSON.stringify(queueName)} must be 2-63 lowercase letters, digits and dashes`);
    const child = { parent: this };

    const queue = new cloudflare.Queue(name, { accountId: args.accountId, queueName }, child);
    new cloudflare.QueueConsumer(`${name}-consumer`, { accountId: args.accountId, queueId: queue.queueId, type: "httpPull" }, child);
    new cloudflare.R2BucketEventNotification(`${name}-notification`, {
      accountId: args.accountId,
      bucketName: args.bucketName,
      jurisdiction: args.jurisdiction ?? "default",
      queueId: queue.queueId,
      rules: [{
        actions: [...BUCKET_EVENT_ACTIONS],
        ...(args.prefix ? { prefix: args.prefix + "/" } : {}),
        description: `lifeboat ${name}: copy created objects and journal deletes`,
      }],
    }, child);

    const days = args.rotationDays ?? 90;
    const window = rotationWindow(args.now === undefined ? new Date() : new Date(args.now), days);
    const previous = rotationEpoch(new Date(window.startsAt.getTime() - 1), days);
    const groups = cloudflare.getAccountApiTokenPermissionGroupsListOutput({ accountId: args.accountId }, child);
    const permissionGroups = groups.results.apply((results) => permissionGroupIds(results ?? [], QUEUE_PERMISSION_GROUPS).map((id) => ({ id })));
    const tokens = [previous, window.epoch].map((epoch) =>
      new cloudflare.AccountToken(rotatingName(`${name}-token`, epoch), {
        accountId: args.accountId,
        name: physicalName("r2Token", `lifeboat ${name} queue consumer ${epoch}`),
        policies: [{ effect: "allow", permissionGroups, resources: accountTokenResources(args.accountId) }],
      }, child));

    this.queueId = queue.queueId;
    this.queue = queue.queueId.apply((id) => `${args.accountId}/${id}`);
    this.queueToken = pulumi.secret(tokens[1]!.value.apply((v) => v ?? ""));
    this.registerOutputs({ queueId: this.queueId, queue: this.queue, queueToken: this.queueToken });
  }
}
