/**
 * The runbook's "Media buckets" section: restoring a `bucket` source (one file, a prefix, the
 * whole bucket as of a time) with the runner, and one file with stock tools (rclone + age). Pure.
 */
import { shellJoin, shellQuote, shellValue } from "./shell";

/** A `bucket` source as the runbook shows it. */
export interface RunbookBucketSource {
  name: string;
  /** `s3://APPBUCKET[/PREFIX]`. */
  bucketUrl: string;
  bucketEndpoint: string;
  bucketRegion: string;
  /** Restore window in days: snapshots are kept this long. */
  windowDays: number;
  /** R2 event notifications feed a `bucket-events` consumer between snapshots. */
  events: boolean;
  schedule: string;
  rpo: string;
  rto: string;
}

/** Where this environment's backups are, and how the runner is invoked. */
interface BucketSectionContext {
  run: string;
  /** `s3://BACKUPBUCKET/PREFIX`. */
  dest: string;
  endpoint: string;
  region: string;
  /** The shell line that loads the source's restorer credentials (`use_restorer NAME`). */
  useRestorer: (source: string) => string;
}

/**
 * What cannot be caught, said plainly: with events on, an object overwritten twice between the
 * event and the copy is copied once (its newest bytes); without events, anything that lives and
 * dies between two snapshots.
 */
export function renderBucketSection(sources: readonly RunbookBucketSource[], c: BucketSectionContext): string[] {
  if (sources.length === 0) return [];
  const out: string[] = ["## Media buckets (the app's own R2/S3 files)", ""];
  const p = (...xs: string[]) => xs.forEach((x) => out.push(x, ""));
  const code = (body: string) => out.push("```bash", body.trimEnd(), "```", "");
  const cmd = (argv: string[]) => `${c.run} ${shellJoin(argv)}`;
  const where = ["--dest", c.dest, "--endpoint", c.endpoint, "--region", c.region];
  p(
    `Each run lists the app's bucket, copies only objects that are new or changed (by key and ETag) through age into ` +
      `\`${c.dest}/<source>/objects/\` under keys that never repeat, then writes the snapshot manifest last under ` +
      `\`snapshots/\` (every key with size, ETag, last-modified, content-type, metadata and its stored copy). A ` +
      `snapshot is kept for the source's window; stored copies twice as long, and each snapshot re-copies any object ` +
      `whose stored copy is older than the window, so every kept snapshot can be restored whole. Restores write into ` +
      `a bucket with the target's own credentials (\`LIFEBOAT_TARGET_ACCESS_KEY_ID\`/\`LIFEBOAT_TARGET_SECRET_ACCESS_KEY\`; ` +
      `default: the app bucket's read-only key, which cannot write, so set them). \`--dry-run\` prints what would be ` +
      `created, overwritten and deleted; nothing is deleted from the target without \`--force\`.`,
  );
  out.push("| source | app bucket | schedule (cron, UTC) | window | events | RPO | RTO |", "| --- | --- | --- | --- | --- | --- | --- |");
  for (const s of sources) {
    out.push(`| \`${s.name}\` | \`${s.bucketUrl}\` (${s.bucketEndpoint}) | \`${s.schedule}\` | ${s.windowDays} days | ${s.events ? "on (R2 queue)" : "off"} | ${s.rpo} | ${s.rto} |`);
  }
  out.push("");
  p(
    `What cannot be caught: ${sources.some((s) => s.events) ? "with events on, an object overwritten twice between its event and the copy is copied once, with its newest bytes (the first version is lost); " : ""}` +
      `between two snapshots, an object created and deleted (or overwritten) again before the next run${sources.some((s) => s.events) ? " when no event reached the consumer" : ""}. ` +
      `Restores reach back as far as the window: an older time has no snapshot.`,
  );
  for (const s of sources) {
    const restore = (extra: string[]) => cmd(["restore", "--source", "bucket", "--name", s.name, "--at", "$AT", ...extra, "--identity", "$IDENTITY", ...where]);
    const to = ["--to", s.bucketUrl, "--to-endpoint", s.bucketEndpoint, "--to-region", s.bucketRegion];
    const appBucket = s.bucketUrl.replace(/^s3:\/\//, "").split("/")[0]!;
    const restoredTo = ["--to", `s3://${appBucket}-restored`, "--to-endpoint", s.bucketEndpoint, "--to-region", s.bucketRegion];
    p(`### \`${s.name}\`: \`${s.bucketUrl}\`, window ${s.windowDays} days`);
    p(`Snapshots and sizes, and the newest snapshot's age against the RPO:`);
    code([c.useRestorer(s.name), cmd(["list", "--name", s.name, ...where]), cmd(["status", "--name", s.name, ...where])].join("\n"));
    p(`One file as it was at a time (\`latest\` for the newest snapshot); try with \`--dry-run\` first:`);
    code([
      c.useRestorer(s.name),
      `export AT='2026-01-31T22:59:59Z'   # or latest`,
      `export LIFEBOAT_TARGET_ACCESS_KEY_ID=... LIFEBOAT_TARGET_SECRET_ACCESS_KEY=...   # a key that can write the target bucket`,
      restore(["--key", "path/to/file.jpg", ...to, "--dry-run"]),
      restore(["--key", "path/to/file.jpg", ...to]),
    ].join("\n"));
    p(`A prefix, into the app's bucket (objects that exist now and did not then are left alone; add \`--force\` to delete them):`);
    code([restore(["--prefix", "products/", ...to, "--dry-run"]), restore(["--prefix", "products/", ...to])].join("\n"));
    p(`The whole bucket as of a time ("Empty bucket" was clicked, a bad job overwrote files): into a NEW bucket first, check it, then switch the app over or restore in place with \`--force\`:`);
    code([restore([...restoredTo, "--dry-run"]), restore(restoredTo)].join("\n"));
    p(`#### One file with stock tools only (rclone + age)`);
    p(
      `When the runner is not at hand: the restorer's credentials as \`AWS_ACCESS_KEY_ID\`/\`AWS_SECRET_ACCESS_KEY\`, the age identity ` +
        `in \`$IDENTITY\`. The snapshot manifest is JSON; its entry for the key names the stored copy's key and sha256 (jq prints it).`,
    );
    code(stockBucketFile(s, c));
  }
  return out;
}

/** Getting one file back with rclone, jq, sha256sum and age only. */
export function stockBucketFile(s: Pick<RunbookBucketSource, "name">, c: Pick<BucketSectionContext, "dest" | "endpoint" | "region">): string {
  const [bucket, ...prefix] = c.dest.replace(/^s3:\/\//, "").split("/");
  return `unset AWS_CA_BUNDLE   # rclone 1.60 fails with it set
export RCLONE_CONFIG_LIFEBOAT_TYPE=s3 RCLONE_CONFIG_LIFEBOAT_PROVIDER=Other RCLONE_CONFIG_LIFEBOAT_ENV_AUTH=true
export RCLONE_CONFIG_LIFEBOAT_ENDPOINT=${shellValue(c.endpoint)} RCLONE_CONFIG_LIFEBOAT_REGION=${shellValue(c.region)}
BASE=${shellQuote(`${bucket}/${[...prefix, s.name].join("/")}`)}
KEY='path/to/file.jpg'          # the app key to get back
AT='20260131T225959'            # UTC, as in key names: the newest snapshot at or before it
# 1. The newest snapshot manifest at or before AT (key names start with their UTC time).
snap=$(rclone lsf --files-only "lifeboat:$BASE/snapshots/" | awk -v at="$AT" '$0 <= at' | sort | tail -n 1)
test -n "$snap" || { echo "no snapshot at or before $AT" >&2; exit 1; }
rclone cat "lifeboat:$BASE/snapshots/$snap" > snapshot.json
# 2. The key's entry: its stored copy's key and sha256.
jq -c --arg k "$KEY" '[.. | objects | select(.key? == $k)] | first' snapshot.json
COPY='...'; SHA256='...'         # from that entry
# 3. Download, check, decrypt.
rclone cat "lifeboat:${bucket}/$COPY" > copy.age
test "$(sha256sum copy.age | cut -d' ' -f1)" = "$SHA256" || { echo "sha256 mismatch" >&2; exit 1; }
age -d -i "$IDENTITY" copy.age > "$(basename "$KEY")"
`;
}
