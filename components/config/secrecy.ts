import { ConfigIssue, configKey } from "./errors";

/**
 * Fields that hold secrets (credentials in URLs, webhook tokens, the age identity), wherever they
 * sit in the stack config. `pulumi up` decrypts `secure:` values before the program sees them, so
 * a malformed one must never be echoed back in an error, a log or a CI transcript; and one that
 * carries a credential must be a Pulumi secret, not text in the stack file.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(["url", "drTargetUrl", "webhookUrl", "healthcheckUrl", "scratchUrl", "ageIdentity"]);

/**
 * Whether the value at `path` (keys below `lifeboat:`, e.g. `["sources", 0, "url"]`) is held
 * encrypted by Pulumi. `lifeboat plan` knows it per value (it reads the stack file, where each
 * secret is a `secure:` leaf); a Pulumi program only per top-level key (see `loadStackConfig`).
 */
export type SecretOracle = (path: ReadonlyArray<string | number>, value: string) => boolean;

/**
 * Whether a connection URL (postgres://, redis://, …) carries a password: in the userinfo
 * (`user:PASSWORD@`, `:PASSWORD@`; up to the last `@` before any `?`/`#`, as the runner reads an
 * unencoded `@`, and also when the password holds an unencoded `/`, which the runner refuses only
 * later) or as libpq's `password=` query parameter.
 */
export function urlHasPassword(url: string): boolean {
  const rest = url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, "");
  const query = rest.search(/[?#]/);
  const beforeQuery = query < 0 ? rest : rest.slice(0, query);
  const at = beforeQuery.lastIndexOf("@");
  const userinfo = at < 0 ? "" : beforeQuery.slice(0, at);
  const colon = userinfo.indexOf(":");
  if (colon >= 0 && colon < userinfo.length - 1) return true;
  return query >= 0 && /(^|&)password=[^&#]/i.test(rest.slice(query + 1));
}

/**
 * What credential a secret field's value carries, in a few words, or undefined when it carries
 * none (a `redis://redis:6379/0` or a `postgres://app@db/app` that relies on `.pgpass` may stay text).
 * The age identity (it decrypts every backup), a Slack-style webhook (its path is the token that
 * posts to the channel) and a healthcheck ping URL (anyone holding it can report a backup as done)
 * are credentials whole.
 */
export function credentialIn(field: string, value: string): string | undefined {
  if (value === "") return undefined;
  switch (field) {
    case "ageIdentity":
      return "the age private key";
    case "webhookUrl":
      return "the alert webhook URL (its path is the token)";
    case "healthcheckUrl":
      return "the healthcheck ping URL (its path is the token)";
    default:
      return SECRET_FIELDS.has(field) && urlHasPassword(value) ? "a password" : undefined;
  }
}

/**
 * Every value of a secret field that carries a credential but is not held encrypted by Pulumi
 * (`isSecret` says which are), as issues naming its key and the command that sets it as a secret.
 * Values are never quoted. `raw` is the `lifeboat:` keys as written, before validation.
 */
export function plaintextSecretIssues(raw: Record<string, unknown>, isSecret: SecretOracle): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const visit = (value: unknown, path: (string | number)[]): void => {
    if (Array.isArray(value)) value.forEach((v, i) => visit(v, [...path, i]));
    else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
    else if (typeof value === "string") {
      const field = path[path.length - 1];
      const what = typeof field === "string" ? credentialIn(field, value) : undefined;
      if (what && !isSecret(path, value)) issues.push({ key: configKey(path), message: plaintextMessage(path, what) });
    }
  };
  for (const [k, v] of Object.entries(raw)) visit(v, [k]);
  return issues;
}

function plaintextMessage(path: ReadonlyArray<string | number>, what: string): string {
  const key = configKey(path);
  // `--path` sets one value inside a structured key; the brackets need quotes in a shell.
  const command = path.length === 1 ? `pulumi config set --secret ${key} …` : `pulumi config set --path --secret '${key}' …`;
  return (
    `holds ${what} in clear text: it must be a Pulumi secret, set with \`${command}\` ` +
    `(the stack file then holds it as secure: ciphertext). The value is not shown; if the file with it in clear was ever committed or shared, ` +
    `remove it from the history and change the credential`
  );
}
