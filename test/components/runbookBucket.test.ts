/**
 * The runbook's "Media buckets" section for a `bucket` source, from a real stack file: the
 * restore commands (one file, a prefix, the whole bucket, each with --dry-run first) with this
 * environment's names, the stock-tools fallback, and no bucket source in the archive sections.
 */
import { renderRunbook, runbookInputFromConfig } from "../../components/runbook";
import { validateStackConfig } from "../../components/config/validate";
import { rawStackConfig } from "../../components/config/stackConfig";
import { readStackFile } from "../../cli/plan/stackFile";
import { stockBucketFile } from "../../components/runbook/bucketSection";
import { ROOT } from "../cli/planCli";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const sf = readStackFile({ projectDir: ROOT, file: `${ROOT}/examples/media-bucket/Pulumi.prod.yaml` });
const config = validateStackConfig(rawStackConfig(sf.config), sf.stack);
const R2 = `https://${ACCOUNT}.r2.cloudflarestorage.com`;
const md = renderRunbook(runbookInputFromConfig(config, {
  primary: { bucketName: "lifeboat-prod-backups", endpoint: R2, region: "auto" },
  replicas: [{ bucketName: "lifeboat-prod-replica-1", endpoint: "https://s3.eu-central-1.amazonaws.com", region: "eu-central-1" }],
}));
const section = md.slice(md.indexOf("## Media buckets"), md.indexOf("\n## ", md.indexOf("## Media buckets") + 1));

describe("runbook: media bucket section", () => {
  it("lists the source with its app bucket, window and events, and says what cannot be caught", () => {
    expect(section).toContain(`| \`media\` | \`s3://acme-media/uploads\` (${R2}) | \`0 * * * *\` | 30 days | on (R2 queue) | 1h | 4h |`);
    expect(section).toMatch(/What cannot be caught: with events on, an object overwritten twice between its event and the copy is copied once/);
  });

  it("restores one file, a prefix and the whole bucket as of a time, each with --dry-run first", () => {
    const restore = `npx lifeboat-runner restore --source bucket --name media --at "$AT"`;
    const where = `--identity "$IDENTITY" --dest s3://lifeboat-prod-backups/backups --endpoint ${R2} --region auto`;
    expect(section).toContain(`${restore} --key path/to/file.jpg --to s3://acme-media/uploads --to-endpoint ${R2} --to-region auto --dry-run ${where}`);
    expect(section).toContain(`${restore} --prefix products/ --to s3://acme-media/uploads --to-endpoint ${R2} --to-region auto ${where}`);
    expect(section).toContain(`${restore} --to s3://acme-media-restored --to-endpoint ${R2} --to-region auto --dry-run ${where}`);
    expect(section).toContain("use_restorer media");
  });

  it("gives the stock-tools fallback for one file (rclone + age) against this environment's bucket", () => {
    const script = stockBucketFile({ name: "media" }, { dest: "s3://lifeboat-prod-backups/backups", endpoint: R2, region: "auto" });
    expect(section).toContain(script.trimEnd());
    expect(script).toContain("BASE=lifeboat-prod-backups/backups/media");
    expect(script).toContain(`age -d -i "$IDENTITY" copy.age`);
  });

  it("keeps the bucket source out of the archive sections (no --target-dir restore, no tar script for it)", () => {
    const rest = md.replace(section, "");
    expect(rest).not.toMatch(/restore --name media\b/);
    expect(rest).toMatch(/restore --name app-db\b/);
  });
});
