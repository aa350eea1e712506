import { z } from "zod";
import { assertCron, bech32Hrp, humanDuration, NAME_PATTERN, parseDuration, worstCaseIntervalSeconds } from "lifeboat-core";

/**
 * The value `lifeboat plan` puts in place of a `secure:` config value it cannot decrypt
 * offline. Fields that may hold secrets accept it, so a plan never fails on a secret.
 */
export const SECRET_PLACEHOLDER = "[secret]";

/** A value that was set with `pulumi config set --secret` and is unknown to an offline plan. */
export function isPlaceholder(value: unknown): boolean {
  return value === SECRET_PLACEHOLDER;
}

export const positiveInt = z
  .number({ error: "must be a positive integer" })
  .int({ error: "must be a positive integer" })
  .positive({ error: "must be a positive integer" });

/**
 * The longest retention any provider takes: S3 object lock's default retention is at most
 * 36 500 days (100 years); R2 bucket locks and lifecycle rules are held to the same bound.
 */
export const MAX_RETENTION_DAYS = 36_500;

/** A positive integer no larger than `max` (a provider limit, said in `why`). */
export function boundedInt(max: number, why: string) {
  return positiveInt.max(max, { error: `must be at most ${max} (${why})` });
}

export const nonNegativeInt = z
  .number({ error: "must be a whole number, zero or more" })
  .int({ error: "must be a whole number, zero or more" })
  .min(0, { error: "must be a whole number, zero or more" });

/** Lowercase names that become S3 key segments and Pulumi resource names. */
export const name = z.string({ error: "must be a string" }).regex(NAME_PATTERN, {
  error: "must be lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters",
});

/** Recovery objectives longer than a year (a yearly schedule's gap) describe no real backup plan. */
export const MAX_OBJECTIVE_SECONDS = 366 * 86_400;

/**
 * A duration such as `15m`, `24h` or `7d`, at most `maxSeconds`, kept as written;
 * {@link parseDuration} gives seconds.
 */
export function duration(maxSeconds = MAX_OBJECTIVE_SECONDS) {
  return z.string({ error: "must be a duration such as 15m, 24h or 7d" }).superRefine((v, ctx) => {
    let seconds: number;
    try {
      seconds = parseDuration(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message.replace(/, got .*$/, "") });
      return;
    }
    if (seconds > maxSeconds) ctx.addIssue({ code: "custom", message: `must be at most ${humanDuration(maxSeconds)}, got ${v}` });
  });
}

/**
 * A five-field cron expression, evaluated in UTC, that fires: `0 0 31 2 *` is valid syntax but no
 * day matches it, so a backup, drill or status check on it would silently never run.
 */
export const cron = z.string({ error: "must be a cron expression" }).superRefine((v, ctx) => {
  try {
    assertCron(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return;
  }
  try {
    worstCaseIntervalSeconds(v);
  } catch {
    ctx.addIssue({
      code: "custom",
      message: "never fires: no time within 400 days matches it (does that day exist in that month?), so the job would never run",
    });
  }
});

/** A URL with one of `schemes`, or the offline plan's secret placeholder. */
export function secretUrl(schemes: string[], what: string) {
  const message = `must be a ${what} URL (${schemes.map((s) => s + "://").join(" or ")})`;
  return z.string({ error: message }).refine(
    (v) => isPlaceholder(v) || schemes.some((s) => v.startsWith(s + "://")),
    { error: message },
  );
}

/** age X25519 recipients are bech32: `age1` followed by 58 characters of the bech32 alphabet. */
export const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const AGE_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** Text holding an age private key anywhere: never to be echoed, wherever it was pasted. */
export function looksLikeAgeIdentity(text: string): boolean {
  return /AGE-SECRET-KEY-1/i.test(text);
}

/**
 * An age public key with a valid bech32 checksum: a typo'd recipient would otherwise pass here
 * and make every backup fail to encrypt later. A pasted private key is named as such, not echoed.
 */
export const ageRecipient = z.string({ error: "must be an age public key (age1…)" }).superRefine((v, ctx) => {
  if (looksLikeAgeIdentity(v)) {
    ctx.addIssue({
      code: "custom",
      message: "this is an age identity (private key), not a recipient: put its public key here (age-keygen -y), and remove the private key from the stack file and its history",
    });
  } else if (!AGE_RECIPIENT.test(v.trim())) {
    ctx.addIssue({ code: "custom", message: "must be an age public key: age1 followed by 58 bech32 characters (from age-keygen -y)" });
  } else if (bech32Hrp(v.trim()) !== "age") {
    ctx.addIssue({ code: "custom", message: `is not a valid age public key: its bech32 checksum does not match (a typo?), got ${JSON.stringify(v)}` });
  }
});

/** An age identity (private key), only ever read from a secret: its value is never echoed. */
export const ageIdentity = z
  .string({ error: "must be an age identity (AGE-SECRET-KEY-1…)" })
  .refine((v) => isPlaceholder(v) || v.split(/\r?\n/).some((line) => AGE_IDENTITY.test(line.trim()) && bech32Hrp(line.trim()) === "age-secret-key-"), {
    error: "must be an age identity (AGE-SECRET-KEY-1… with a valid checksum, from age-keygen), set with pulumi config set --secret",
  });

export const absolutePath = z
  .string({ error: "must be an absolute path" })
  .regex(/^\/[^\0]*$/, { error: "must be an absolute path (starting with /)" });
