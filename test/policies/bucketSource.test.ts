import { checkBucketSources } from "../../policies/bucketSource";
import { checkWriterPrivilege } from "../../policies/writerPrivilege";
import { DEFAULT_SETTINGS, PolicyResourceInput } from "../../policies/model";
import { cliInProcess } from "../cli/planCli";

/** The resources `lifeboat plan` declares for a stack file, as the policies see them. */
async function planned(file: string): Promise<{ resources: PolicyResourceInput[]; violations: { policy: string; message: string }[]; code: number }> {
  const r = await cliInProcess("plan", "--config", file, "--json");
  const out = JSON.parse(r.stdout);
  return { resources: out.resources, violations: out.violations, code: r.code };
}

const edit = (rs: PolicyResourceInput[], pick: (r: PolicyResourceInput) => boolean, change: (r: PolicyResourceInput) => PolicyResourceInput) =>
  rs.map((r) => (pick(r) ? change(structuredClone(r)) : r));

describe("lifeboat-bucket-source", () => {
  it("an S3 bucket source plans clean: its job's writer may read its own snapshots, and nothing else flags", async () => {
    const p = await planned("test/fixtures/bucket/Pulumi.prod-s3.yaml");
    expect(p.violations).toEqual([]);
    expect(p.code).toBe(0);
  });

  it("flags stored copies kept less than twice the window, and a missing R2 lock", async () => {
    const { resources } = await planned("examples/media-bucket/Pulumi.prod.yaml");
    expect(checkBucketSources(resources, DEFAULT_SETTINGS)).toEqual([]);
    const shortCopies = edit(resources, (r) => r.type === "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", (r) => {
      for (const rule of r.inputs.rules as any[]) if (rule.conditions.prefix === "backups/media/objects/") rule.deleteObjectsTransition.condition.maxAge = 45 * 86_400;
      return r;
    });
    expect(checkBucketSources(shortCopies, DEFAULT_SETTINGS).map((f) => f.message)).toEqual([
      "bucket source backups/media/: stored copies (backups/media/objects/) expire after 45 days, less than twice the 30-day snapshot window: a kept snapshot would reference expired copies (expire backups/media/objects/ after 60 days)",
    ]);
    const noLock = edit(resources, (r) => r.type === "cloudflare:index/r2BucketLock:R2BucketLock", (r) => {
      r.inputs.rules = (r.inputs.rules as any[]).filter((rule) => rule.prefix !== "backups/media/objects/");
      return r;
    });
    expect(checkBucketSources(noLock, DEFAULT_SETTINGS).map((f) => f.message)).toEqual([
      "bucket source backups/media/: R2 lock on backups/media/objects/ is missing days, under the 30-day window: add a bucket-lock rule for at least 30 days",
    ]);
  });

  it("flags an app-bucket reader that can write, and an app-reader token over more than one bucket", async () => {
    const s3 = (await planned("test/fixtures/bucket/Pulumi.prod-s3.yaml")).resources;
    const writes = edit(s3, (r) => r.type === "aws:iam/userPolicy:UserPolicy" && r.name.includes("app-reader"), (r) => {
      const doc = JSON.parse(r.inputs.policy as string);
      doc.Statement[1].Action = ["s3:GetObject", "s3:PutObject"];
      r.inputs.policy = JSON.stringify(doc);
      return r;
    });
    const found = checkBucketSources(writes, DEFAULT_SETTINGS).map((f) => f.message);
    expect(found).toHaveLength(2); // current and previous rotation period
    expect(found[0]).toMatch(/^app-bucket reader policy lifeboat-prod-s3-media-app-reader-policy-\S+ allows s3:PutObject: it may only get and list the app's bucket$/);

    const r2 = (await planned("examples/media-bucket/Pulumi.prod.yaml")).resources;
    const wide = edit(r2, (r) => r.type === "cloudflare:index/accountToken:AccountToken" && r.name.includes("app-reader"), (r) => {
      (r.inputs.policies as any[])[0].resources = JSON.stringify({ "com.cloudflare.api.account.0123456789abcdef0123456789abcdef": "*" });
      return r;
    });
    expect(checkBucketSources(wide, DEFAULT_SETTINGS).map((f) => f.message)[0]).toMatch(/^app-bucket reader token lifeboat-prod-media-app-reader-token-\S+ is scoped to com\.cloudflare\.api\.account\.0123456789abcdef0123456789abcdef: scope it to the app's one R2 bucket$/);
  });
});

describe("lifeboat-writer-least-privilege and a bucket source's job", () => {
  it("allows reads scoped to its snapshots/ only: the same read of its stored copies, or an unconditioned list, is flagged", async () => {
    const { resources } = await planned("test/fixtures/bucket/Pulumi.prod-s3.yaml");
    expect(checkWriterPrivilege(resources, DEFAULT_SETTINGS)).toEqual([]);
    const isWriter = (r: PolicyResourceInput) => r.type === "aws:iam/userPolicy:UserPolicy" && r.name.includes("media-writer");
    const widen = (sid: string, change: (st: any) => void) => edit(resources, isWriter, (r) => {
      const doc = JSON.parse(r.inputs.policy as string);
      change(doc.Statement.find((st: any) => st.Sid === sid));
      r.inputs.policy = JSON.stringify(doc);
      return r;
    });
    const copies = widen("ReadOwnSnapshots", (st) => (st.Resource = st.Resource.replace("/snapshots/*", "/objects/*")));
    expect(checkWriterPrivilege(copies, DEFAULT_SETTINGS).map((f) => f.message)[0]).toMatch(/allows reads \(s3:GetObject\): an S3 writer must not read or list backups$/);
    const list = widen("ListOwnSnapshots", (st) => delete st.Condition);
    expect(checkWriterPrivilege(list, DEFAULT_SETTINGS).map((f) => f.message)[0]).toMatch(/allows reads \(s3:ListBucket\): an S3 writer must not read or list backups$/);
  });
});
