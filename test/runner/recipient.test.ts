/**
 * A typo'd age recipient: refused by the runner's own checks (bech32 checksum), and if age is
 * ever the one to refuse, its own message is what the run reports, not zstd's SIGPIPE.
 */
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseRecipients } from "../../runner/src/age";
import { encode } from "../../runner/src/pipeline";

const GOOD = execFileSync("age-keygen", { encoding: "utf8" }).match(/public key: (age1\w+)/)![1]!;
/** One character changed: the alphabet and length still fit, only the checksum breaks. */
const TYPO = GOOD.slice(0, 10) + (GOOD[10] === "x" ? "y" : "x") + GOOD.slice(11);

test("parseRecipients refuses a recipient whose checksum does not match, naming the flag", () => {
  expect(parseRecipients([GOOD])).toEqual([GOOD]);
  expect(() => parseRecipients([TYPO])).toThrow(/--recipient: .*checksum does not match \(a typo\?\)/);
  expect(() => parseRecipients([`${GOOD},${TYPO}`])).toThrow(/--recipient/);
});

test("when age refuses to encrypt, the run reports age's own message, without its report-a-bug banner", async () => {
  // Several MB of incompressible data: zstd is still writing when age exits, so it dies of SIGPIPE.
  const enc = encode(Readable.from([randomBytes(8 << 20)]), [], [TYPO], 1);
  const drain = pipeline(enc.body, new Writable({ write: (_c, _e, cb) => cb() })).catch(() => undefined);
  const err = await enc.done.then(() => undefined, (e: Error) => e);
  await drain;
  expect(err?.message).toMatch(/^age exited with code 1: age: error: malformed recipient .*invalid checksum/);
  expect(err?.message).not.toMatch(/SIGPIPE|filippo\.io/);
});
