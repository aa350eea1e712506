import { Logger } from "pino";
import { z } from "zod";
import { RunError, errorMessage } from "../errors";
import { Store } from "../store";
import { BucketBackupParams, copyObject } from "./backup";
import { JOURNAL_DIR, SnapshotEntry, bucketPrefix, timedKey, timedKeyTime } from "./snapshot";
import { randomSuffix } from "./store";

/**
 * R2 event notifications pulled from a Cloudflare Queue over its HTTP pull API
 * (`POST /accounts/{account_id}/queues/{queue_id}/messages/pull`, then `/messages/ack`), each
 * created object copied as it appears and each delete journalled under `journal/`. The next
 * snapshot is the reconciling full pass: an event that never came (or came late) changes nothing
 * it would see. What events cannot catch: an object overwritten twice between its event and our
 * copy is copied once, in its last version; the middle version is never read.
 */

/** The body of an R2 event notification (developers.cloudflare.com/r2/buckets/event-notifications). */
export const R2Event = z.object({
  account: z.string().optional(),
  action: z.string(),
  bucket: z.string(),
  object: z.object({ key: z.string(), size: z.number().optional(), eTag: z.string().optional() }),
  eventTime: z.string(),
});
export type R2Event = z.infer<typeof R2Event>;

/** One journal record: an event-driven copy (with the entry a snapshot would record) or a delete. */
export const JournalRecord = z.object({
  version: z.literal(1),
  source: z.string(),
  op: z.enum(["put", "delete"]),
  key: z.string(),
  /** When the event happened (the store's time for it). */
  eventTime: z.string(),
  action: z.string(),
  entry: z.unknown().optional(),
});
export type JournalRecord = z.infer<typeof JournalRecord>;

const CREATE_ACTIONS = ["PutObject", "CopyObject", "CompleteMultipartUpload"];
const DELETE_ACTIONS = ["DeleteObject", "LifecycleDeletion"];

/**
 * What one message asks for (pure): a put or a delete of a key relative to the source's prefix,
 * or nothing (another bucket, outside the prefix, an action we do not act on) with the reason.
 */
export function eventAction(body: unknown, bucket: string, prefix: string): { op: "put" | "delete"; key: string; event: R2Event } | { skip: string } {
  let parsed: unknown = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      return { skip: "not JSON" };
    }
  }
  const r = R2Event.safeParse(parsed);
  if (!r.success) return { skip: "not an R2 event notification" };
  const e = r.data;
  if (e.bucket !== bucket) return { skip: `bucket ${e.bucket}, not ${bucket}` };
  const base = prefix ? prefix + "/" : "";
  if (!e.object.key.startsWith(base) || e.object.key.length === base.length) return { skip: `${e.object.key} is outside ${base || "the bucket"}` };
  const key = e.object.key.slice(base.length);
  if (CREATE_ACTIONS.includes(e.action)) return { op: "put", key, event: e };
  if (DELETE_ACTIONS.includes(e.action)) return { op: "delete", key, event: e };
  return { skip: `action ${e.action}` };
}

interface PulledMessage {
  body: unknown;
  id?: string;
  lease_id: string;
  attempts?: number;
}

/** The Cloudflare Queues HTTP pull API: pull a batch, ack or retry by lease id. */
export class QueueClient {
  constructor(
    private readonly api: string,
    private readonly account: string,
    private readonly queue: string,
    private readonly token: string,
    private readonly timeoutMs = 30_000,
  ) {}

  private async post(path: string, body: unknown): Promise<unknown> {
    const url = `${this.api.replace(/\/$/, "")}/accounts/${encodeURIComponent(this.account)}/queues/${encodeURIComponent(this.queue)}/messages/${path}`;
    let r: Response;
    try {
      r = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new RunError(`queue ${path} failed: ${errorMessage(e)}`);
    }
    const text = await r.text();
    let json: { success?: boolean; result?: unknown; errors?: Array<{ message?: string }> } = {};
    try {
      json = JSON.parse(text);
    } catch {
      /* reported below */
    }
    if (!r.ok || json.success === false) throw new RunError(`queue ${path} failed: HTTP ${r.status}${json.errors?.length ? `: ${json.errors.map((e) => e.message).join("; ")}` : ""}`);
    return json.result;
  }

  async pull(batchSize: number, visibilityTimeoutMs: number): Promise<PulledMessage[]> {
    const res = (await this.post("pull", { batch_size: batchSize, visibility_timeout_ms: visibilityTimeoutMs })) as { messages?: PulledMessage[] } | PulledMessage[] | null;
    return (Array.isArray(res) ? res : res?.messages) ?? [];
  }

  async ack(acks: string[], retries: string[], delaySeconds: number): Promise<void> {
    if (!acks.length && !retries.length) return;
    await this.post("ack", { acks: acks.map((lease_id) => ({ lease_id })), retries: retries.map((lease_id) => ({ lease_id, delay_seconds: delaySeconds })) });
  }
}

export interface EventsResult {
  copied: number;
  deleted: number;
  skipped: number;
  retried: number;
}

/**
 * Handles one pulled batch: copies created objects, journals each copy and delete, acks what was
 * journalled and asks the queue to retry what failed (a failed copy is never acked: a later pull
 * or the next snapshot gets it).
 */
export async function handleBatch(p: BucketBackupParams, queue: QueueClient, msgs: PulledMessage[], log: Logger, retryDelaySeconds = 30): Promise<EventsResult> {
  const res: EventsResult = { copied: 0, deleted: 0, skipped: 0, retried: 0 };
  const acks: string[] = [];
  const retries: string[] = [];
  for (const m of msgs) {
    const a = eventAction(m.body, p.app.dest.bucket, p.app.dest.prefix);
    if ("skip" in a) {
      log.info({ id: m.id }, `queue message ${m.id ?? m.lease_id} skipped: ${a.skip}`);
      res.skipped++;
      acks.push(m.lease_id);
      continue;
    }
    try {
      let entry: SnapshotEntry | undefined;
      if (a.op === "put") {
        entry = await copyObject(p, a.key);
        // Gone again already: its delete event follows; nothing to journal for the put.
        if (!entry) {
          res.skipped++;
          acks.push(m.lease_id);
          continue;
        }
      }
      const rec: JournalRecord = { version: 1, source: p.name, op: a.op, key: a.key, eventTime: a.event.eventTime, action: a.event.action, ...(entry ? { entry } : {}) };
      await p.store.putSmall(timedKey(p.store.prefix, p.name, JOURNAL_DIR, new Date(), randomSuffix(), ".json"), JSON.stringify(rec) + "\n", { onWarning: p.warn });
      if (a.op === "put") res.copied++;
      else res.deleted++;
      acks.push(m.lease_id);
    } catch (e) {
      p.warn(`event for ${a.key} (${a.event.action}) not handled, left to a retry and the next snapshot: ${errorMessage(e)}`);
      retries.push(m.lease_id);
      res.retried++;
    }
  }
  await queue.ack(acks, retries, retryDelaySeconds);
  return res;
}

/**
 * The journal records of a source between two times (exclusive, inclusive), oldest first, as
 * `key → the last record for it`: what a restore lays over the snapshot it starts from.
 */
export async function journalSince(store: Store, name: string, after: Date, until: Date): Promise<Map<string, JournalRecord>> {
  const out = new Map<string, JournalRecord>();
  const objs = await store.list(bucketPrefix(store.prefix, name, JOURNAL_DIR));
  const inRange = objs
    .map((o) => ({ key: o.key, t: timedKeyTime(o.key) }))
    .filter((o): o is { key: string; t: Date } => !!o.t && o.t.getTime() > after.getTime() && o.t.getTime() <= until.getTime())
    .sort((a, b) => a.t.getTime() - b.t.getTime() || (a.key < b.key ? -1 : 1));
  for (const o of inRange) {
    const r = JournalRecord.safeParse(JSON.parse(await store.getText(o.key)));
    if (!r.success) throw new RunError(`journal record ${o.key} is invalid`);
    out.set(r.data.key, r.data);
  }
  return out;
}
