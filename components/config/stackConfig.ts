import * as pulumi from "@pulumi/pulumi";
import { LifeboatConfig, validateStackConfig } from "./validate";

const NAMESPACE = "lifeboat:";

/**
 * Every `lifeboat:` key of the running stack, values parsed back from the strings Pulumi
 * hands the program (objects, arrays, numbers and booleans arrive as JSON text).
 */
export function rawStackConfig(all: Record<string, string> = pulumi.runtime.allConfig()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(all)) {
    if (!key.startsWith(NAMESPACE)) continue;
    out[key.slice(NAMESPACE.length)] = parseConfigValue(text);
  }
  return out;
}

/**
 * Structured values and booleans come back as JSON; short numbers as numbers. Anything else,
 * including a long digit string such as an account id, stays text.
 */
function parseConfigValue(text: string): unknown {
  const t = text.trim();
  if (t === "true" || t === "false") return t === "true";
  if (/^-?\d{1,15}(\.\d+)?$/.test(t)) return Number(t);
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch {
      return text;
    }
  }
  return text;
}

/** The running stack's validated config; throws a ConfigError before anything is declared. */
export function loadStackConfig(): LifeboatConfig {
  return validateStackConfig(rawStackConfig(), pulumi.getStack());
}
