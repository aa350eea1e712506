import pino, { Logger } from "pino";

/**
 * JSON lines on stderr (stdout carries command output and `--json` results). Secrets are
 * redacted by path in case they ever end up in a logged object.
 */
export function makeLogger(level = process.env.LIFEBOAT_LOG_LEVEL || "info"): Logger {
  return pino(
    {
      name: "lifeboat-runner",
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ["url", "password", "secret", "identity", "*.url", "*.password", "*.secret"], censor: "***" },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
