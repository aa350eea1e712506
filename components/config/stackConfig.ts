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

/**
 * Whether Pulumi holds `lifeboat:<key>` encrypted. The engine tells the program per top-level key
 * only (PULUMI_CONFIG_SECRET_KEYS, which the language host sets from the stack's secure keys: a
 * structured key is listed when any value inside it is `secure:`), so a plaintext password beside a
 * secret one in the same key is for `lifeboat plan` to find (it reads each value's form).
 * SDK internal: runtime.isConfigSecret (@internal, so not in the typings; checked by
 * test/cli/sdkInternals.test.ts), which reads that list wherever the runtime keeps its config
 * (the process environment under Pulumi, the store `setAllConfig` fills under `lifeboat plan`).
 */
export function isSecretKey(key: string): boolean {
  return (pulumi.runtime as unknown as { isConfigSecret(k: string): boolean }).isConfigSecret(NAMESPACE + key);
}

/**
 * The running stack's validated config; throws a ConfigError before anything is declared, also
 * when a key holding a credential (an age identity, a password in a URL, …) is not a secret.
 */
export function loadStackConfig(): LifeboatConfig {
  return validateStackConfig(rawStackConfig(), pulumi.getStack(), { isSecret: (path) => isSecretKey(String(path[0])) });
}
