import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { bech32Hrp } from "lifeboat-core";
import { UsageError } from "./errors";

/** An age X25519 recipient (public key): `age1` followed by 58 bech32 characters. */
const RECIPIENT_RE = /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/;

export function parseRecipients(values: string[]): string[] {
  const out: string[] = [];
  for (const raw of values.flatMap((v) => v.split(","))) {
    const r = raw.trim();
    if (!r) continue;
    if (r.startsWith("AGE-SECRET-KEY-")) {
      throw new UsageError("--recipient: that is an age private key (AGE-SECRET-KEY-...); the backup host must only hold the public key (age1...)");
    }
    if (!RECIPIENT_RE.test(r)) {
      throw new UsageError(`--recipient: not an age public key (expected age1 followed by 58 characters), got ${JSON.stringify(r.slice(0, 12) + (r.length > 12 ? "..." : ""))}`);
    }
    // A typo keeps the alphabet and length: only the checksum catches it, here rather than in
    // every backup's age process.
    if (bech32Hrp(r) !== "age") {
      throw new UsageError(`--recipient: not a valid age public key: its bech32 checksum does not match (a typo?), got ${JSON.stringify(r)}`);
    }
    if (!out.includes(r)) out.push(r);
  }
  return out;
}

/** Short stable fingerprint of a recipient, recorded in manifests: the first 16 hex of sha256. */
export function recipientFingerprint(recipient: string): string {
  return createHash("sha256").update(recipient).digest("hex").slice(0, 16);
}

/**
 * Checks that an identity file exists and holds an age private key, and returns the
 * public keys it corresponds to (via `age-keygen -y`). Never returns or logs the key itself.
 */
export function identityRecipients(file: string | undefined, flag = "--identity"): string[] {
  if (!file) {
    throw new UsageError(`${flag} KEYFILE (or LIFEBOAT_AGE_IDENTITY_FILE) is required: backups are encrypted to an age public key and only its private key can read them`);
  }
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new UsageError(`${flag}: identity file ${file} does not exist or cannot be read`);
  }
  if (!st.isFile()) throw new UsageError(`${flag}: ${file} is not a file`);
  const text = readFileSync(file, "utf8");
  if (!/AGE-SECRET-KEY-1[0-9A-Z]+/.test(text)) {
    throw new UsageError(`${flag}: ${file} holds no age private key (AGE-SECRET-KEY-1...)`);
  }
  const r = spawnSync("age-keygen", ["-y", file], { encoding: "utf8" });
  if (r.error) throw new UsageError("age-keygen: command not found; install age");
  if (r.status !== 0) throw new UsageError(`${flag}: ${file} is not a valid age identity: ${r.stderr.trim()}`);
  return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("age1"));
}

/** age's request for bug reports, which it appends to every error: noise in our reports and alerts. */
const AGE_BANNER_RE = /^age: report unexpected or unhelpful errors at \S+\s*$/gm;

/** age's stderr without the bug-report banner (a scrubber for its processes). */
export function stripAgeBanner(stderr: string): string {
  return stderr.replace(AGE_BANNER_RE, "").trim();
}
