import { Logger } from "pino";
import { errorMessage } from "./errors";
import { redactUrl } from "./redact";

export interface AlertOptions {
  /** Slack-compatible incoming webhook: receives `{"text": ...}`. */
  webhook?: string;
  /** Healthcheck-style ping URL: `URL/start` at start, `URL` on success, `URL/fail` on failure. */
  pingUrl?: string;
  timeoutMs?: number;
}

async function post(url: string, body: string | undefined, timeoutMs: number, log: Logger, what: string): Promise<void> {
  try {
    const r = await fetch(url, {
      method: "POST",
      headers: body ? { "content-type": "application/json" } : {},
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!r.ok) log.warn({ status: r.status, what }, `${what} answered HTTP ${r.status}`);
  } catch (e) {
    log.warn({ what, err: errorMessage(e) }, `${what} could not be sent: ${errorMessage(e)}`);
  }
}

function joinPing(base: string, suffix: string): string {
  return suffix ? base.replace(/\/+$/, "") + "/" + suffix : base;
}

/**
 * Alerts and pings never fail or block a run: each is bounded by a timeout and its errors are
 * logged as warnings. The webhook URL itself is never logged (it is a secret).
 */
export class Alerts {
  constructor(
    private readonly o: AlertOptions,
    private readonly log: Logger,
  ) {}

  private get timeout(): number {
    return this.o.timeoutMs ?? 5000;
  }

  async ping(kind: "start" | "success" | "fail", text?: string): Promise<void> {
    if (!this.o.pingUrl) return;
    const url = joinPing(this.o.pingUrl, kind === "success" ? "" : kind);
    await post(url, text && redactUrl(text), this.timeout, this.log, `healthcheck ${kind} ping`);
  }

  async alert(text: string): Promise<void> {
    if (!this.o.webhook) return;
    await post(this.o.webhook, JSON.stringify({ text: redactUrl(text) }), this.timeout, this.log, "alert webhook");
  }

  /** A failed run: webhook and fail ping, in parallel. */
  async failure(text: string): Promise<void> {
    await Promise.all([this.alert(text), this.ping("fail", text)]);
  }
}
