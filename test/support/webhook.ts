import { createServer, Server } from "node:http";
import { freePort } from "./ports";

export interface Hook {
  url: string;
  received: Array<{ path: string; body: string; at: number }>;
  stop(): Promise<void>;
}

/** A tiny HTTP server that records POSTed bodies: stands in for Slack webhooks and healthcheck pings. */
export async function startWebhook(): Promise<Hook> {
  const received: Array<{ path: string; body: string; at: number }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ path: req.url!, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() });
      res.writeHead(200).end("ok");
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
