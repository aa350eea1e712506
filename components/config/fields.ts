import { z } from "zod";
import { assertCron, NAME_PATTERN, parseDuration } from "lifeboat-core";

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

export const nonNegativeInt = z
  .number({ error: "must be a whole number, zero or more" })
  .int({ error: "must be a whole number, zero or more" })
  .min(0, { error: "must be a whole number, zero or more" });

/** Lowercase names that become S3 key segments and Pulumi resource names. */
export const name = z.string({ error: "must be a string" }).regex(NAME_PATTERN, {
  error: "must be lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters",
});

/** A duration such as `15m`, `24h` or `7d`, kept as written; {@link parseDuration} gives seconds. */
export const duration = z.string({ error: "must be a duration such as 15m, 24h or 7d" }).superRefine((v, ctx) => {
  try {
    parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message.replace(/, got .*$/, "") });
  }
});

/** A five-field cron expression, evaluated in UTC. */
export const cron = z.string({ error: "must be a cron expression" }).superRefine((v, ctx) => {
  try {
    assertCron(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
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
export const ageRecipient = z.string({ error: "must be an age public key (age1…)" }).regex(AGE_RECIPIENT, {
  error: "must be an age public key: age1 followed by 58 bech32 characters (from age-keygen -y)",
});

/** An age identity (private key), only ever read from a secret. */
export const ageIdentity = z
  .string({ error: "must be an age identity (AGE-SECRET-KEY-1…)" })
  .refine((v) => isPlaceholder(v) || /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/m.test(v), {
    error: "must be an age identity (AGE-SECRET-KEY-1…), set with pulumi config set --secret",
  });

export const absolutePath = z
  .string({ error: "must be an absolute path" })
  .regex(/^\/[^\0]*$/, { error: "must be an absolute path (starting with /)" });
