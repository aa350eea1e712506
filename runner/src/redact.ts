/** Keeps secrets out of logs, errors and manifests. */

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`; non-URLs are returned as is. */
export function redactUrl(text: string): string {
  // Only a bare URL is parsed as one: "Error: ... postgres://u:pw@h" parses as a URL with the
  // scheme "error:" and would come back with its password intact.
  if (/\s/.test(text.trim())) return text.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, "$1***@");
  try {
    const u = new URL(text);
    if (u.password) u.password = "***";
    for (const k of [...u.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, "***");
    }
    return u.toString();
  } catch {
    return text.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, "$1***@");
  }
}

/** Replaces every occurrence of the given secret values in `text`. */
export function scrub(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join("***");
  }
  return out;
}
