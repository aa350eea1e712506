import { Logger } from "pino";
import { parseAt } from "../catalog";
import { EXIT_FAILED, EXIT_OK, UsageError, errorMessage } from "../errors";
import { VerifyOpts } from "../commands/verify";
import { intOption, makeAlerts, output } from "../context";
import { requireTools } from "../proc";
import { Store } from "../store";
import { verificationKey, verifySnapshot } from "./report";
import { pickSnapshot } from "./restore";
import { SnapshotRef } from "./store";

/**
 * `verify` of a bucket source: a sample of the chosen snapshot's stored copies (`--sample`, or
 * every one with `--sample all`) downloaded, decrypted and checked against the manifest; the
 * result is recorded beside the other verifications and shown by list and status.
 */
export async function bucketVerifyCommand(o: VerifyOpts & { sample?: string }, store: Store, name: string, refs: SnapshotRef[], log: Logger): Promise<number> {
  if (!o.identity) throw new UsageError("--identity KEYFILE (or LIFEBOAT_AGE_IDENTITY_FILE) is required: stored copies are encrypted to an age public key");
  const sample = o.sample === "all" ? Number.MAX_SAFE_INTEGER : intOption("--sample", o.sample ?? "20", 1, 1_000_000);
  const at = parseAt(o.at);
  if (at === "latest-verified") throw new UsageError("--at latest-verified: not for a bucket source; give latest or a time");
  requireTools([{ cmd: "age", why: "decrypts the stored copies" }]);
  const alerts = makeAlerts(o, log);
  const ref = o.key ? refs.find((r) => r.key === o.key || r.key.endsWith("/" + o.key)) : pickSnapshot(refs, name, at);
  if (!ref) throw new UsageError(`--key: no snapshot ${o.key} of ${name}`);
  const { record, checked, objects } = await verifySnapshot(store, ref, o.identity, sample, log);
  if (o.record) {
    await store.putSmall(verificationKey(store, name), JSON.stringify(record, null, 2) + "\n").catch((e) => log.warn(`could not record the verification result: ${errorMessage(e)}`));
  }
  const ok = record.ok;
  if (ok) await alerts.ping("success");
  else await alerts.failure(`Lifeboat: verification of ${name} snapshot ${ref.key} FAILED: ${record.problems.join("; ")}`);
  output(
    o,
    { ...record, checked, objects },
    [`verify ${ok ? "ok" : "FAILED"}: ${ref.key}`, `  ${checked} of ${objects} stored objects downloaded, decrypted and checked (sha256, size) in ${record.durationSeconds.toFixed(1)}s`, ...record.problems.map((p) => `  PROBLEM: ${p}`)].join("\n"),
  );
  return ok ? EXIT_OK : EXIT_FAILED;
}
