import { Logger } from "pino";
import { parseRecipients } from "../age";
import { ENV } from "lifeboat-core";
import { EXIT_FAILED, EXIT_OK, UsageError, errorMessage } from "../errors";
import { CommonOpts, StoreOpts, checkName, intOption, makeAlerts, makeStore, runDeadline, s3Bounds } from "../context";
import { requireTools } from "../proc";
import { RUNNER_VERSION } from "../version";
import { envCredentials, otherBucket, parseWindow } from "./app";
import { QueueClient, handleBatch } from "./events";

export interface BucketEventsOpts extends StoreOpts, CommonOpts {
  name?: string;
  bucketUrl?: string;
  bucketEndpoint?: string;
  bucketRegion?: string;
  queue?: string;
  cloudflareApi: string;
  recipient: string[];
  pollInterval: string;
  window?: string;
}

/**
 * `bucket-events`: long-running, like wal-stream. Pulls R2 event notifications from the queue,
 * copies created objects and journals deletes (see bucket/events.ts); stops after the batch in
 * hand on SIGTERM/SIGINT. The queue token comes only from LIFEBOAT_QUEUE_TOKEN.
 */
export async function bucketEventsCommand(o: BucketEventsOpts, log: Logger): Promise<number> {
  const name = checkName(o.name);
  const recipients = parseRecipients(o.recipient ?? []);
  if (!recipients.length) throw new UsageError("--recipient age1... (or LIFEBOAT_AGE_RECIPIENTS) is required: every stored copy is encrypted to an age public key");
  if (!o.bucketUrl) throw new UsageError(`--bucket-url s3://APPBUCKET[/PREFIX] (or ${ENV.bucketUrl}) is required`);
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(o.queue ?? "");
  if (!m) throw new UsageError(`--queue (${ENV.queue}): must be ACCOUNT_ID/QUEUE_ID, got ${JSON.stringify(o.queue ?? "")}`);
  const token = process.env[ENV.queueToken];
  if (!token) throw new UsageError(`${ENV.queueToken} is required: the API token that pulls from and acks the queue (Queues edit)`);
  try {
    const u = new URL(o.cloudflareApi);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error();
  } catch {
    throw new UsageError(`--cloudflare-api: must be an http(s) URL, got ${JSON.stringify(o.cloudflareApi)}`);
  }
  const poll = intOption("--poll-interval", o.pollInterval, 1, 3600);
  const windowSeconds = parseWindow(o.window);
  const credentials = envCredentials(ENV.bucketAccessKeyId, ENV.bucketSecretAccessKey, true);
  const bounds = s3Bounds(o, runDeadline(o));
  const store = makeStore(o, { bounds });
  const app = otherBucket({ url: "--bucket-url", endpoint: "--bucket-endpoint", region: "--bucket-region" }, o.bucketUrl, o.bucketEndpoint, o.bucketRegion, credentials, bounds);
  const tools = requireTools([{ cmd: "age", why: "encrypts every stored copy" }]);
  const alerts = makeAlerts(o, log);
  const queue = new QueueClient(o.cloudflareApi, m[1]!, m[2]!, token);
  let stopping = false;
  const stop = () => {
    stopping = true;
    log.info("bucket-events stopping after the batch in hand");
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const p = { name, store, app, recipients, windowSeconds, concurrency: 1, tools: { ...tools, "lifeboat-runner": RUNNER_VERSION }, started: new Date(), log, warn: (t: string) => log.warn(t) };
  log.info({ source: name, bucket: app.url, queue: o.queue }, `bucket-events for ${name} started`);
  let failures = 0;
  while (!stopping) {
    try {
      const msgs = await queue.pull(50, 120_000);
      if (msgs.length) {
        const r = await handleBatch(p, queue, msgs, log);
        log.info({ source: name, ...r }, `bucket-events: ${r.copied} copied, ${r.deleted} deletes journalled, ${r.skipped} skipped, ${r.retried} left to retry`);
      }
      failures = 0;
      if (!msgs.length) await sleep(poll * 1000, () => stopping);
    } catch (e) {
      failures++;
      log.error({ err: errorMessage(e) }, `bucket-events: ${errorMessage(e)}`);
      // One alert per run of failures, not one per poll.
      if (failures === 1) await alerts.failure(`Lifeboat: bucket-events for ${name} FAILING: ${errorMessage(e)}`);
      await sleep(Math.min(300, poll * 2 ** Math.min(failures, 6)) * 1000, () => stopping);
    }
  }
  return failures ? EXIT_FAILED : EXIT_OK;
}

async function sleep(ms: number, stop: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!stop() && Date.now() < end) await new Promise((r) => setTimeout(r, Math.min(200, end - Date.now())));
}
