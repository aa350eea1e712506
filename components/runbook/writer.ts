/**
 * The runbook being written: its markdown lines so far, and the lines every section prints the
 * same way (runner commands, credentials, restore targets). Sections (./sections) append to it.
 */
import { listArgs, restoreArgs } from "lifeboat-core";
import type { RunbookBucket, RunbookInput, RunbookSource } from "./input";
import { shellJoin, shellQuote } from "./shell";
import { bucketDestination, pitrRestoreSpec, restoreSpecFor } from "./specs";
import { stockTargetVariable } from "./stockTools";
import { adminUrl, dbName, defaultTarget, pitrTargetDir } from "./targets";

export class RunbookWriter {
  readonly out: string[] = [];
  /** How the runner is invoked. */
  readonly run: string;
  /** The stack output with per-source credentials. */
  readonly creds: string;
  /** `--stack NAME` for pulumi commands. */
  readonly stackFlag: string;

  constructor(readonly i: RunbookInput) {
    this.run = i.runnerCommand ?? "npx lifeboat-runner";
    this.creds = i.credentialsOutput ?? "credentials";
    this.stackFlag = `--stack ${shellQuote(i.stack)}`;
  }

  /** The finished markdown: at most one blank line in a row, one newline at the end. */
  text(): string {
    return this.out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
  }

  /** Paragraphs (or list items), each followed by a blank line. */
  p(...paragraphs: string[]): void {
    for (const x of paragraphs) this.out.push(x, "");
  }

  code(lang: string, body: string): void {
    this.out.push("```" + lang, body.trimEnd(), "```", "");
  }

  cmd(argv: string[]): string {
    return `${this.run} ${shellJoin(argv)}`;
  }

  /** The restore of a source's newest backup; for a PITR source, of everything shipped (`--at latest`) into a data directory. */
  restoreCommand(s: RunbookSource, b: RunbookBucket = this.i.primary): string {
    if (s.pitr) return this.cmd(restoreArgs(pitrRestoreSpec(s, b, this.i.prefix, "latest")));
    return this.cmd(restoreArgs(restoreSpecFor(s, b, this.i.prefix)));
  }

  pitrCommand(s: RunbookSource, b: RunbookBucket = this.i.primary): string {
    return this.cmd(restoreArgs(pitrRestoreSpec(s, b, this.i.prefix)));
  }

  listCommand(s: RunbookSource, b: RunbookBucket = this.i.primary): string {
    return this.cmd(listArgs({ name: s.name, ...bucketDestination(b, this.i.prefix) }));
  }

  objectives(sources: RunbookSource[]): string {
    return sources.map((s) => `\`${s.name}\` RPO ${s.rpo}, RTO ${s.rto}`).join("; ");
  }

  where(b: RunbookBucket): string {
    const place = b.provider === "r2"
      ? `Cloudflare R2${b.jurisdiction && b.jurisdiction !== "default" ? `, jurisdiction ${b.jurisdiction}` : ""}${b.location ? `, location ${b.location}` : ""}`
      : `AWS S3, ${b.region}`;
    return `\`${b.bucketName}\` (${place}; endpoint ${b.endpoint})`;
  }

  useRestorer(source: string, output = this.creds): string {
    return `use_restorer ${shellQuote(source)}${output === this.creds ? "" : ` ${shellQuote(output)}`}`;
  }

  /** `use_restorer SOURCE OUTPUT` and a newline when the stack exports replica credentials. */
  replicaCreds(s: RunbookSource): string {
    return this.i.replicaCredentialsOutput ? `${this.useRestorer(s.name, this.i.replicaCredentialsOutput)}\n` : "";
  }

  /** `export TARGET_…=…` with the source's default target (a PITR source: a new data directory). */
  targetLine(s: RunbookSource): string {
    if (s.pitr) return `export TARGET_DIR=${shellQuote(pitrTargetDir(s))}   # empty or absent, on the host that will run it`;
    const v = stockTargetVariable(s.kind);
    const note =
      s.kind === "postgres" ? "# an EMPTY database; the password from PGPASSWORD or ~/.pgpass"
        : s.kind === "volume" || s.kind === "directory" ? "# an empty or new directory"
          : "# a file that does not exist yet";
    return `export ${v}=${shellQuote(defaultTarget(s))}   ${note}`;
  }

  /** What must exist before a restore into {@link defaultTarget}: the volume it names, or an empty database. */
  prepareTarget(s: RunbookSource): string[] {
    if (s.pitr) return [];
    if (s.kind === "volume" && !s.drTargetPath) return [`docker volume create ${shellQuote(`${s.volume ?? s.name}_restored`)}   # a fresh volume to restore into`];
    if (s.kind === "postgres") return [`createdb --maintenance-db=${shellQuote(adminUrl(defaultTarget(s)))} ${shellQuote(dbName(defaultTarget(s)))}   # an empty database (skip if it exists and is empty)`];
    return [];
  }
}
