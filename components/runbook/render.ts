/**
 * The generated runbook: markdown for one environment with its real bucket names, endpoints,
 * regions and prefix. Every `lifeboat-runner` command in it comes from the runner's own argv
 * builders, with specs built by the functions the scheduled jobs use (./specs), and every
 * stock-tools script from ./stockTools (the one the stock-tools end-to-end test runs), so the
 * runbook cannot drift from what is tested. Each section is in ./sections (the app buckets' in
 * ./bucketSection); this file puts them in order. Pure: plain data in, a string out; no Pulumi.
 */
import { renderBucketSection } from "./bucketSection";
import type { RunbookInput } from "./input";
import { health, list, verify } from "./sections/health";
import { failover } from "./sections/failover";
import { header, prerequisites, whatWhere } from "./sections/overview";
import { pointInTime } from "./sections/pointInTime";
import { oneTableOneFile, restoreWithRunner } from "./sections/restore";
import { scenarios } from "./sections/scenarios";
import { restoreWithStockTools } from "./sections/stock";
import { bucketUrl } from "./specs";
import { RunbookWriter } from "./writer";

/** The markdown runbook for one environment. */
export function renderRunbook(input: RunbookInput): string {
  const w = new RunbookWriter(input);
  for (const section of [header, whatWhere, prerequisites, health, list, restoreWithRunner, pointInTime, appBuckets, restoreWithStockTools, oneTableOneFile, verify, failover, scenarios]) {
    section(w);
  }
  return w.text();
}

/** The app buckets' section, against the bucket backups go to now (the replica in failover). */
function appBuckets(w: RunbookWriter): void {
  const target = w.i.failover ? w.i.replicas[0] ?? w.i.primary : w.i.primary;
  w.out.push(...renderBucketSection(w.i.bucketSources ?? [], {
    run: w.run, dest: bucketUrl(target, w.i.prefix), endpoint: target.endpoint, region: target.region, useRestorer: (n) => w.useRestorer(n),
  }));
}
