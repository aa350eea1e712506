/** Keeps secrets out of logs, errors, alerts and manifests. */

/**
 * The password of every URL in `text` (`scheme://user:PASSWORD@host`), and the value of every
 * secret-looking `key=value` (a URL's `?password=…`, a libpq `password='…'`, `PGPASSWORD=…`)
 * become `***`. It works on free text, not on parsed URLs, so that what a URL parser would reject
 * or misread is still covered: the userinfo runs to the last "@" before whitespace (an unencoded
 * "@", "/" or ":" in the password stays inside it), and a bare value runs to whitespace (an
 * unencoded "&" stays inside it). Over-redacting the rest of a token is the price of that. A
 * plain "key" is not a secret name here (prose such as "key=value", S3 keys, sslkey paths).
 */
export function redactUrl(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)\S*@/gi, "$1***@")
    .replace(/((?:^|[^\w-])[\w-]*(?:pass|pwd|secret|token|api_?key|access_?key)[\w-]*\s*=\s*)(?:'(?:[^'\\]|\\[\s\S])*(?:'|$)|\S*)/gi, "$1***");
}

/** Replaces every occurrence of the given secret values in `text`. */
export function scrub(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join("***");
  }
  return out;
}
