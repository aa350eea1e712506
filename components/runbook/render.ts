/**
 * The generated runbook: markdown for one environment with its real bucket names, endpoints,
 * regions and prefix. Every `lifeboat-runner` command in it comes from the runner's own argv
 * builders (the ones the components and the runner's end-to-end tests use), and every
 * stock-tools script from ./stockTools (the one the stock-tools end-to-end test runs), so the
 * runbook cannot drift from what is tested. Pure: plain data in, a string out; no Pulumi.
 */
import { ListSpec, RestoreSpec, SourceKind, listArgs, replicateArgs, restoreArgs, statusArgs, verifyArgs } from "lifeboat-core";
import { isPlaceholder } from "../config/fields";
import type { Location } from "../config/schema";
import type { LifeboatConfig } from "../config/validate";
import { maxAgeFor } from "../schedule/cron";
import { shellJoin, shellQuote } from "./shell";
import { stockPitrScript, stockRestoreScript, stockTargetVariable } from "./stockTools";
import { RunbookBucketSource, renderBucketSection } from "./bucketSection";
import { appBucketAddress } from "../bucket/appBucket";
import { drTargetIn } from "./targets";

/** One bucket, as the runbook addresses it. */
export interface RunbookBucket {
  provider: "r2" | "s3";
  bucketName: string;
  /** S3 API endpoint: R2's account endpoint, or `https://s3.REGION.amazonaws.com`. */
  endpoint: string;
  /** `auto` for R2, the AWS region for S3. */
  region: string;
  /** R2 only. */
  accountId?: string;
  /** R2 only: `default`, `eu`, `fedramp`. */
  jurisdiction?: string;
  /** R2 only: location hint. */
  location?: string;
}

/** One source, with its objectives as the config resolved them. */
export interface RunbookSource {
  name: string;
  kind: SourceKind;
  /** Backup schedule (cron, UTC). */
  schedule: string;
  /** Declared recovery point objective, e.g. `1h`. */
  rpo: string;
  /** Declared recovery time objective, e.g. `4h`. */
  rto: string;
  /** Docker volume name (volume sources). */
  volume?: string;
  /** Host path (directory and SQLite sources). */
  path?: string;
  /** Where failover restores this database. Any password in it is removed before rendering. */
  drTargetUrl?: string;
  /**
   * The config key of a DR target URL that is set but cannot be read here (a `secure:` value in
   * an offline plan), e.g. `lifeboat:sources[0].drTargetUrl`: the runbook names the key instead.
   */
  drTargetUrlKey?: string;
  /** Where failover restores this volume, directory or file. */
  drTargetPath?: string;
  /** Postgres with point-in-time recovery: base backups (`basebackup`) plus a `wal-stream` sidecar instead of dumps. */
  pitr?: boolean;
  /** With pitr: how often the partial WAL segment is uploaded (the worst-case RPO), e.g. `60s`. */
  walFlushInterval?: string;
}

/** Everything the runbook needs, as plain data (no Outputs, no secrets). */
export interface RunbookInput {
  /** Environment name, e.g. `prod`. */
  environment: string;
  /** `production`, `staging` or `development`. */
  profile: string;
  /** Pulumi stack name, for `pulumi ... --stack`. */
  stack: string;
  /** Key prefix inside the buckets, e.g. `backups`. */
  prefix: string;
  primary: RunbookBucket;
  replicas: RunbookBucket[];
  sources: RunbookSource[];
  /** `bucket` sources (the app's own R2/S3 files): their own section. @default none */
  bucketSources?: RunbookBucketSource[];
  /** Whether the stack is in failover now (`lifeboat:failover`). */
  failover: boolean;
  verification: {
    /** Whether the stack runs scheduled restore drills (it holds an age identity). */
    enabled: boolean;
    /** Restore drill schedule (cron, UTC). */
    schedule: string;
    /** Health check schedule (cron, UTC). */
    statusSchedule: string;
  };
  alerting: {
    /** A Slack-compatible webhook is configured. */
    webhook: boolean;
    /** A healthcheck ping URL is configured. */
    healthcheck: boolean;
    /** A Postgres backup smaller than this is suspicious. */
    minBackupBytes: number;
    /** A backup smaller than (1 - maxShrink) of the previous one is suspicious. */
    maxShrink: number;
    /** A Postgres table that lost more than this share of its rows is named. @default the runner's */
    maxTableShrink?: number;
  };
  /** age public keys the backups are encrypted to (public; shown so the right private key can be found). */
  ageRecipients?: string[];
  /** Whether the stack config holds the age identity (`lifeboat:ageIdentity`, a secret). */
  ageIdentityInStack?: boolean;
  /** Stack output with per-source credentials. @default "credentials" */
  credentialsOutput?: string;
  /** Stack output with per-source read credentials for the replicas, when the stack exports one. */
  replicaCredentialsOutput?: string;
  /** How the runner is invoked. @default "npx lifeboat-runner" */
  runnerCommand?: string;
}

/** The runbook's placeholders for values it must not (or cannot) know. */
export const RUNBOOK_VARIABLES = {
  identity: "$IDENTITY",
  targetUrl: "$TARGET_URL",
  targetDir: "$TARGET_DIR",
  targetFile: "$TARGET_FILE",
  scratchUrl: "$SCRATCH_URL",
  /** Point-in-time recovery: the recovery target (`--at`). */
  at: "$AT",
} as const;

/** A data directory to restore a PITR source into: new, on the host that will run it. */
export function pitrTargetDir(s: Pick<RunbookSource, "name">): string {
  return `/var/lib/postgresql/restored/${s.name}`;
}

/** The restore spec of a point-in-time recovery: a data directory, the time from `$AT` (or `latest`). */
export function pitrRestoreSpec(s: Pick<RunbookSource, "name">, b: RunbookBucket, prefix: string, at: string = RUNBOOK_VARIABLES.at): RestoreSpec {
  return { name: s.name, at, targetDir: RUNBOOK_VARIABLES.targetDir, identity: RUNBOOK_VARIABLES.identity, ...destinationSpec(b, prefix) };
}

/** `s3://BUCKET/PREFIX`. */
export function bucketDest(b: Pick<RunbookBucket, "bucketName">, prefix: string): string {
  const p = prefix.replace(/^\/+|\/+$/g, "");
  return p ? `s3://${b.bucketName}/${p}` : `s3://${b.bucketName}`;
}

/** The runner's destination fields for a bucket. */
export function destinationSpec(b: RunbookBucket, prefix: string): Required<Pick<ListSpec, "dest" | "endpoint" | "region">> {
  return { dest: bucketDest(b, prefix), endpoint: b.endpoint, region: b.region };
}

/** A postgres URL without its password (and without any query secrets kept verbatim). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "";
    return u.toString().replace(/^(\w+:\/\/[^:@/]+):@/, "$1@");
  } catch {
    return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1@");
  }
}

/** The restore spec the runbook prints for a source: target from a shell variable. */
export function restoreSpecFor(s: Pick<RunbookSource, "name" | "kind">, b: RunbookBucket, prefix: string): RestoreSpec {
  const target: Partial<RestoreSpec> =
    s.kind === "postgres" ? { targetUrl: RUNBOOK_VARIABLES.targetUrl }
      : s.kind === "volume" || s.kind === "directory" ? { targetDir: RUNBOOK_VARIABLES.targetDir }
        : { targetFile: RUNBOOK_VARIABLES.targetFile };
  return { name: s.name, identity: RUNBOOK_VARIABLES.identity, ...target, ...destinationSpec(b, prefix) };
}

/** Where one table of a Postgres source is restored: a staging database beside the default target. */
export function stagingTarget(s: RunbookSource): string {
  const t = defaultTarget(s);
  return t.replace(/\/([^/?]*)(\?.*)?$/, (_m, db: string, q?: string) => `/${db.replace(/_restored$/, "")}_staging${q ?? ""}`);
}

/** Where one file of a volume/directory source is restored: a new directory, never the live one. */
export function oneFileTarget(s: RunbookSource): string {
  return `/srv/restore/${s.name}-files`;
}

/** The default restore target of a source (a fresh place, never the live one). */
export function defaultTarget(s: RunbookSource): string {
  if (s.kind === "postgres") {
    return s.drTargetUrl ? redactUrl(s.drTargetUrl) : `postgres://postgres@NEW-DB-HOST:5432/${s.name.replace(/[^A-Za-z0-9_]/g, "_")}_restored`;
  }
  // A DR target directory holds each source under its own name, where the failover restore job writes it.
  if (s.drTargetPath) return drTargetIn(s.kind, s.drTargetPath, s.name);
  switch (s.kind) {
    case "volume":
      return `/var/lib/docker/volumes/${s.volume ?? s.name}_restored/_data`;
    case "directory":
      return `${s.path ?? `/srv/${s.name}`}.restored`;
    case "redis":
      return `/srv/restore/${s.name}/dump.rdb`;
    case "sqlite":
      return `${s.path ?? `/srv/${s.name}.sqlite`}.restored`;
    case "bucket":
      return `s3://${s.name}-restored`;
  }
}

const KIND_LABEL: Record<SourceKind, string> = {
  postgres: "PostgreSQL database (pg_dump custom format)",
  volume: "Docker volume (tar)",
  directory: "directory (tar)",
  redis: "Redis (RDB snapshot)",
  sqlite: "SQLite database file",
  bucket: "app object storage bucket (incremental snapshots)",
};

const SHORT_LABEL: Record<SourceKind, string> = {
  postgres: "PostgreSQL",
  volume: "Docker volume",
  directory: "directory",
  redis: "Redis",
  sqlite: "SQLite",
  bucket: "app bucket",
};

const IDENTITY_FILE = (env: string) => `$HOME/.lifeboat/${env}-age-identity.txt`;

/** The markdown runbook for one environment. */
export function renderRunbook(input: RunbookInput): string {
  const r = new Renderer(input);
  return r.render();
}

class Renderer {
  private readonly out: string[] = [];
  private readonly run: string;
  private readonly creds: string;
  private readonly stackFlag: string;

  constructor(private readonly i: RunbookInput) {
    this.run = i.runnerCommand ?? "npx lifeboat-runner";
    this.creds = i.credentialsOutput ?? "credentials";
    this.stackFlag = `--stack ${shellQuote(i.stack)}`;
  }

  render(): string {
    this.header();
    this.whatWhere();
    this.prerequisites();
    this.health();
    this.list();
    this.restoreWithRunner();
    this.pointInTime();
    const target = this.i.failover ? this.i.replicas[0] ?? this.i.primary : this.i.primary;
    this.out.push(...renderBucketSection(this.i.bucketSources ?? [], { run: this.run, ...destinationSpec(target, this.i.prefix), useRestorer: (n) => this.useRestorer(n) }));
    this.restoreWithStockTools();
    this.oneTableOneFile();
    this.verify();
    this.failover();
    this.scenarios();
    return this.out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
  }

  // ---- helpers -------------------------------------------------------------------------

  /** Paragraphs (or list items), each followed by a blank line. */
  private p(...paragraphs: string[]): void {
    for (const x of paragraphs) this.out.push(x, "");
  }

  private code(lang: string, body: string): void {
    this.out.push("```" + lang, body.trimEnd(), "```", "");
  }

  private cmd(argv: string[]): string {
    return `${this.run} ${shellJoin(argv)}`;
  }

  /** The restore of a source's newest backup; for a PITR source, of everything shipped (`--at latest`) into a data directory. */
  private restoreCommand(s: RunbookSource, b: RunbookBucket = this.i.primary): string {
    if (s.pitr) return this.cmd(restoreArgs(pitrRestoreSpec(s, b, this.i.prefix, "latest")));
    return this.cmd(restoreArgs(restoreSpecFor(s, b, this.i.prefix)));
  }

  private pitrCommand(s: RunbookSource, b: RunbookBucket = this.i.primary): string {
    return this.cmd(restoreArgs(pitrRestoreSpec(s, b, this.i.prefix)));
  }

  private pitrTargetLine(s: RunbookSource): string {
    return `export TARGET_DIR=${shellQuote(pitrTargetDir(s))}   # empty or absent, on the host that will run it`;
  }

  private listCommand(s: RunbookSource, b: RunbookBucket = this.i.primary): string {
    return this.cmd(listArgs({ name: s.name, ...destinationSpec(b, this.i.prefix) }));
  }

  private objectives(sources: RunbookSource[]): string {
    return sources.map((s) => `\`${s.name}\` RPO ${s.rpo}, RTO ${s.rto}`).join("; ");
  }

  private where(b: RunbookBucket): string {
    const place = b.provider === "r2"
      ? `Cloudflare R2${b.jurisdiction && b.jurisdiction !== "default" ? `, jurisdiction ${b.jurisdiction}` : ""}${b.location ? `, location ${b.location}` : ""}`
      : `AWS S3, ${b.region}`;
    return `\`${b.bucketName}\` (${place}; endpoint ${b.endpoint})`;
  }

  private useRestorer(source: string, output = this.creds): string {
    return `use_restorer ${shellQuote(source)}${output === this.creds ? "" : ` ${shellQuote(output)}`}`;
  }

  /** `use_restorer SOURCE OUTPUT` and a newline when the stack exports replica credentials. */
  private replicaCreds(s: RunbookSource): string {
    return this.i.replicaCredentialsOutput ? `${this.useRestorer(s.name, this.i.replicaCredentialsOutput)}\n` : "";
  }

  private targetLine(s: RunbookSource): string {
    if (s.pitr) return this.pitrTargetLine(s);
    const v = stockTargetVariable(s.kind);
    const note =
      s.kind === "postgres" ? "# an EMPTY database; the password from PGPASSWORD or ~/.pgpass"
        : s.kind === "volume" || s.kind === "directory" ? "# an empty or new directory"
          : "# a file that does not exist yet";
    return `export ${v}=${shellQuote(defaultTarget(s))}   ${note}`;
  }

  // ---- sections ------------------------------------------------------------------------

  private header(): void {
    const i = this.i;
    this.p(
      `# Lifeboat runbook: ${i.environment}`,
      `Generated from the \`${i.stack}\` stack (profile ${i.profile}). Every command below uses this environment's real ` +
        `buckets, endpoints, regions and prefix (\`${i.prefix}\`). Secrets (keys, database passwords) are never in this ` +
        `page: the commands read them from shell variables you set from the stack's secret outputs.`,
      `Every backup is an ordinary object: \`pg_dump\`/\`tar\`/RDB/SQLite bytes, compressed with \`zstd\`, encrypted ` +
        `with \`age\` to public keys. Beside each backup \`KEY\` lies \`KEY.manifest.json\` (size, sha256, row counts); ` +
        `**an object without its manifest is not a backup** (a run that failed). Keys look like ` +
        `\`${i.prefix}/<source>/<tier>/<UTC time>-<random>.<ext>\`, tier \`daily\`, \`weekly\` (Sundays), \`monthly\` ` +
        `(1st) or \`yearly\` (1 January); a key is never overwritten.`,
    );
    if (i.failover) {
      this.p(
        `> **This stack is in FAILOVER now** (\`lifeboat:failover: true\`): new backups are written to the replica ` +
          `${this.where(i.replicas[0] ?? i.primary)}. The newest backups are there, not in the primary. See "Fail back".`,
      );
    }
  }

  private whatWhere(): void {
    const i = this.i;
    this.p(`## What is backed up, and where`);
    this.p(
      `Primary: ${this.where(i.primary)}.`,
      ...(i.replicas.length === 0
        ? ["No replica: this environment has no copy in another region."]
        : i.replicas.map((r, n) => `Replica ${n + 1}: ${this.where(r)}, ${this.replicationOf(r)}.`)),
    );
    this.out.push(
      "| source | what | schedule (cron, UTC) | RPO | RTO | backups under |",
      "| --- | --- | --- | --- | --- | --- |",
      ...i.sources.map((s) => {
        const what = KIND_LABEL[s.kind] + (s.volume ? ` \`${s.volume}\`` : s.path ? ` \`${s.path}\`` : "");
        return `| \`${s.name}\` | ${what} | \`${s.schedule}\` | ${s.rpo} | ${s.rto} | \`${bucketDest(i.primary, i.prefix)}/${s.name}/\` |`;
      }),
      "",
    );
    this.p(
      `RPO (recovery point objective) is the most data, in time, a restore may lose; RTO (recovery time objective) is ` +
        `how long restoring may take. Both are declared in \`Pulumi.${i.stack}.yaml\`; the schedule is checked against the RPO.`,
    );
  }

  private replicationOf(r: RunbookBucket): string {
    return this.i.primary.provider === "s3" && r.provider === "s3"
      ? "kept by S3 native replication (no delete markers replicated)"
      : "kept by the scheduled `replicate` job (copies new backups, checks sha256, never deletes)";
  }

  private prerequisites(): void {
    const i = this.i;
    this.p(`## Before you start`);
    this.p(
      `You need: \`age\`, \`zstd\`, \`jq\`, for databases the PostgreSQL client tools (\`pg_restore\` at least as new as ` +
        `the server), for the stock-tools path \`rclone\` and \`sha256sum\`; for the runner, Node.js 20 and a checkout of ` +
        `the infrastructure repository after \`npm ci\` (\`${this.run}\` runs the runner from there); and the Pulumi CLI ` +
        `logged in to the \`${i.stack}\` stack's backend.`,
    );
    this.p(`### 1. The age identity (private key)`);
    this.p(
      `Backups can only be read with the private key matching one of their recipients` +
        (i.ageRecipients && i.ageRecipients.length > 0 ? ` (${i.ageRecipients.map((k) => `\`${k}\``).join(", ")})` : "") +
        `. The backup hosts never hold it.` +
        (i.ageIdentityInStack
          ? ` This stack keeps a copy in its secret config \`lifeboat:ageIdentity\` (the restore drill uses it):`
          : ` This stack does not hold it: fetch it from where your team keeps it (password manager, sealed secret) into the file below.`),
    );
    this.code("bash", [
      `export IDENTITY="${IDENTITY_FILE(i.environment)}"`,
      `mkdir -p "$(dirname "$IDENTITY")"`,
      ...(i.ageIdentityInStack
        ? [`(umask 077 && pulumi config get lifeboat:ageIdentity ${this.stackFlag} > "$IDENTITY")`]
        : [`(umask 077 && cat > "$IDENTITY")   # paste the AGE-SECRET-KEY-1... line, then Ctrl-D`]),
      `age-keygen -y "$IDENTITY"   # prints the public key: it must be one of the recipients above`,
    ].join("\n"));
    this.p(`### 2. Read credentials`);
    this.p(
      `Each source has its own restorer identity that can read (never write or delete) that source's backups. ` +
        `They are in the stack's secret output \`${this.creds}\`. Define this helper once per shell, then load a ` +
        `source's credentials before working on it:`,
    );
    this.code("bash", [
      `use_restorer() {   # use_restorer SOURCE [OUTPUT]`,
      `  local c; c=$(pulumi stack output "\${2:-${this.creds}}" --show-secrets --json ${this.stackFlag}) || return 1`,
      `  export AWS_ACCESS_KEY_ID=$(jq -r --arg s "$1" '.[$s].restorer.accessKeyId' <<<"$c")`,
      `  export AWS_SECRET_ACCESS_KEY=$(jq -r --arg s "$1" '.[$s].restorer.secretAccessKey' <<<"$c")`,
      `}`,
      ...i.sources.map((s) => this.useRestorer(s.name)).slice(0, 1).map((l) => `${l}   # e.g.`),
    ].join("\n"));
    this.p(
      `If the stack runs on ECS, the restorer is an IAM role (\`.restorer.roleArn\`): assume it with ` +
        `\`aws sts assume-role\` and export the temporary keys and \`AWS_SESSION_TOKEN\` instead.`,
    );
    if (i.replicas.length > 0) {
      this.p(
        i.replicaCredentialsOutput
          ? `For the replica, use \`use_restorer SOURCE ${i.replicaCredentialsOutput}\`.`
          : `The restorer identities read the primary. To read a replica, use credentials allowed to list and read ` +
            `it: on S3, an IAM identity with \`s3:ListBucket\`, \`s3:GetObject\` and \`kms:Decrypt\` on the replica's key; ` +
            `on R2, an API token with Object Read on the bucket.`,
      );
    }
  }

  private health(): void {
    const i = this.i;
    this.p(`## Are the backups healthy?`);
    this.p(
      `\`status\` exits 0 when the newest backup of a source is younger than its \`--max-age\` (the schedule's ` +
        `longest gap plus an hour), not suspiciously small, not much smaller than the previous one, and its last ` +
        `verification passed, and its restore drills are neither over, near (80%) nor trending over its RTO; otherwise it exits 1 and says why.`,
    );
    this.code("bash", i.sources.map((s) => [
      this.useRestorer(s.name),
      this.cmd(statusArgs({
        name: s.name,
        maxAge: maxAgeFor(s.schedule),
        ...(s.kind === "postgres" ? { minSize: String(i.alerting.minBackupBytes) } : {}),
        maxShrink: i.alerting.maxShrink,
        ...(i.alerting.maxTableShrink !== undefined ? { maxTableShrink: i.alerting.maxTableShrink } : {}),
        rto: s.rto,
        ...destinationSpec(i.primary, i.prefix),
      })),
    ].join("\n")).join("\n\n"));
    const channels = [
      i.alerting.webhook ? "a Slack-compatible webhook" : "",
      i.alerting.healthcheck ? "healthcheck pings (`/start`, success, `/fail`)" : "",
    ].filter(Boolean);
    this.p(
      `Alerts: ${channels.length > 0 ? channels.join(" and ") : "**none configured** (set `lifeboat:alerts`)"}` +
        ` on failed backups, overdue or suspicious backups (Postgres under ${i.alerting.minBackupBytes} bytes, or ` +
        `shrunk by more than ${Math.round(i.alerting.maxShrink * 100)}%)` +
        (i.verification.enabled ? `, failed verifications; the health check runs on \`${i.verification.statusSchedule}\`` : "") +
        `. On a backup host, \`docker logs\` of the backup container shows each run as JSON lines.`,
    );
  }

  private list(): void {
    this.p(`## List backups`);
    this.p(`Per source: tier, time, size and whether verification passed. Restores pick from these.`);
    this.code("bash", this.i.sources.map((s) => `${this.useRestorer(s.name)}\n${this.listCommand(s)}`).join("\n\n"));
    if (this.i.replicas.length > 0) {
      this.p(`The same on the replica${this.i.replicas.length > 1 ? "s" : ""} (with credentials that read ${this.i.replicas.length > 1 ? "them" : "it"}):`);
      this.code("bash", this.i.replicas.flatMap((r) => this.i.sources.map((s) => this.replicaCreds(s) + this.listCommand(s, r))).join("\n"));
    }
  }

  private restoreWithRunner(): void {
    const i = this.i;
    this.p(`## Restore with the runner`);
    this.p(
      `\`restore\` takes the newest backup (\`--at 2026-01-31T23:00:00Z\` for the newest at or before a time, ` +
        `\`--key KEY\` for an exact one). It checks the identity against the backup's recipients, downloads and ` +
        `checks the sha256 against the manifest before touching the target, and for Postgres creates the roles the ` +
        `backup recorded that the server lacks (each LOGIN role it creates needs a password set), runs \`pg_restore\` ` +
        `into the empty database and compares every table's row count with the manifest (any difference fails the ` +
        `restore, naming each table). Always restore into a NEW place, check it, then switch over.`,
      `What a restore does to an existing target: it never deletes or merges into it. A non-empty target is refused ` +
        `unless you add \`--force\`, and then what it held is kept aside under a name the restore prints (\`keptAside\` ` +
        `in \`--json\`): a database is renamed to \`DB_before_restore_TIME\` and the backup restored into a new, empty ` +
        `\`DB\` (this needs the database's owner with CREATEDB and no other session connected; otherwise the restore ` +
        `refuses before changing anything); a directory's contents move to \`DIR.before-restore-TIME\` (to ` +
        `\`DIR/.before-restore-TIME\` on a mount point); a Redis/SQLite file is kept as \`FILE.before-restore-TIME\`. ` +
        `Delete the kept copy once the restored data checks out.`,
    );
    for (const s of i.sources) {
      this.p(`### \`${s.name}\`: ${SHORT_LABEL[s.kind]}, RPO ${s.rpo}, RTO ${s.rto}`);
      if (s.pitr) {
        this.p(`Point-in-time recovery (base backups plus streamed WAL, no dumps): everything shipped, into a new data directory; any other time and how to start it under "Restore to a point in time".`);
        this.code("bash", [this.useRestorer(s.name), this.targetLine(s), this.restoreCommand(s)].join("\n"));
        continue;
      }
      if (s.kind === "volume" && !s.drTargetPath) this.p(`On the Docker host, as root (the volume's directory belongs to Docker):`);
      this.code("bash", [this.useRestorer(s.name), ...this.prepareTarget(s), this.targetLine(s), this.restoreCommand(s)].join("\n"));
      this.p(this.afterRestore(s));
    }
  }

  /** What must exist before a restore into {@link defaultTarget}: the volume it names, or an empty database. */
  private prepareTarget(s: RunbookSource): string[] {
    if (s.pitr) return [];
    if (s.kind === "volume" && !s.drTargetPath) return [`docker volume create ${shellQuote(`${s.volume ?? s.name}_restored`)}   # a fresh volume to restore into`];
    if (s.kind === "postgres") return [`createdb --maintenance-db=${shellQuote(adminUrl(defaultTarget(s)))} ${shellQuote(dbName(defaultTarget(s)))}   # an empty database (skip if it exists and is empty)`];
    return [];
  }

  /** A secret config value named by its key, with the command that reads it. */
  private secretKey(key: string): string {
    return `the secret \`${key}\` (\`pulumi config get --path '${key}' ${this.stackFlag}\`)`;
  }

  private afterRestore(s: RunbookSource): string {
    switch (s.kind) {
      case "postgres":
        return `Then point the application at the restored database (or rename databases: ` +
          `\`ALTER DATABASE ... RENAME TO ...\` with the application stopped).`;
      case "volume":
        // With a DR target the restore wrote into that host directory; no `_restored` volume exists.
        return s.drTargetPath
          ? `Then stop the containers using \`${s.volume ?? s.name}\`, start them with the restored directory ` +
            `\`${defaultTarget(s)}\` bind-mounted in its place (or copy its contents back into an emptied \`${s.volume ?? s.name}\`).`
          : `Then stop the containers using \`${s.volume ?? s.name}\`, start them with the restored volume ` +
            `\`${s.volume ?? s.name}_restored\` mounted instead (or copy its contents back into an emptied \`${s.volume ?? s.name}\`).`;
      case "directory":
        return `Then stop what writes to \`${s.path ?? s.name}\` and swap the directories (\`mv\`).`;
      case "redis":
        return `Then stop Redis, put the file where its \`dir\`/\`dbfilename\` point (ownership of the redis user), and start it.`;
      case "sqlite":
        return `Then stop the application and move the restored file over \`${s.path ?? s.name}\` (remove its stale \`-wal\`/\`-shm\` files).`;
      case "bucket":
        return `Then point the application at the restored bucket, or restore into the app bucket itself with --force.`;
    }
  }

  private pointInTime(): void {
    const i = this.i;
    const pitr = i.sources.filter((s) => s.pitr);
    if (pitr.length === 0) return;
    this.p(`## Restore to a point in time`);
    this.p(
      `${pitr.map((s) => `\`${s.name}\``).join(", ")} ${pitr.length > 1 ? "have" : "has"} point-in-time recovery: a \`wal-stream\` sidecar ` +
        `ships the write-ahead log continuously (the partial segment every flush interval) and the scheduled job takes ` +
        `base backups (\`pg_basebackup\`) instead of dumps. A restore picks the newest base backup that finished at or ` +
        `before the target on the timeline that held it, decrypts it into a new data directory, and writes ` +
        `\`recovery.signal\` plus \`restore_command\`, \`recovery_target_time\`, \`recovery_target_timeline\` and ` +
        `\`recovery_target_action = 'promote'\` into its \`postgresql.auto.conf\`. You then start that directory with ` +
        `PostgreSQL: it fetches each WAL file it needs as it replays (\`lifeboat-runner wal-fetch\`, each object checked ` +
        `against its manifest, the next ones prefetched), stops at the target and opens read-write; the settings remove ` +
        `themselves when recovery ends.`,
    );
    for (const s of pitr) {
      const port = 5433;
      this.p(`### \`${s.name}\` as of a time — worst-case loss ${s.walFlushInterval ?? "60s"} (the WAL flush interval), RTO ${s.rto}`);
      this.p(
        `On the host that will run the restored database, with the same PostgreSQL major version as the source. ` +
          `\`$AT\` is a UTC (or offset) time, or \`latest\` for everything that was shipped; a time after the last ` +
          `shipped commit stops recovery with "recovery ended before configured recovery target was reached": use \`latest\` then.`,
      );
      this.code("bash", [
        this.useRestorer(s.name),
        this.targetLine(s),
        `export AT='2026-01-31T22:59:59Z'   # or: export AT=latest`,
        `sudo install -d -m 700 -o "$(id -u)" "$TARGET_DIR"   # a new, empty directory you can write to`,
        this.pitrCommand(s),
        `sudo chown -R postgres:postgres "$TARGET_DIR"   # PostgreSQL runs as the user that owns the directory`,
        ``,
        `# start it on a spare port, its socket in the data directory: WAL is replayed to $AT, then the server is promoted`,
        `sudo -u postgres pg_ctl start -D "$TARGET_DIR" -o "-p ${port} -k $TARGET_DIR" -l "$TARGET_DIR/restore.log" -w -t 3600`,
        `sudo -u postgres psql -h "$TARGET_DIR" -p ${port} -Atc 'SELECT pg_is_in_recovery()'   # f: recovery ended and it was promoted`,
        `sudo tail -n 20 "$TARGET_DIR/restore.log"   # "recovery stopping before commit ...", "selected new timeline ID", "archive recovery complete"`,
        `# still t (recovery paused or waiting for WAL that does not exist): promote by hand`,
        `sudo -u postgres pg_ctl promote -D "$TARGET_DIR"`,
      ].join("\n"));
      this.p(
        `The restore prints \`walGap\` when a WAL segment is missing in the bucket: replay stops before it. Check the ` +
          `data (recent rows, row counts), then point the application at port ${port} (or stop the old server and start ` +
          `this directory on its port). PostgreSQL fetched each WAL file as it replayed (\`restore_command\` runs ` +
          `\`lifeboat-runner wal-fetch\` on this host); when recovery ends it removes \`$TARGET_DIR/lifeboat_restore\` ` +
          `(the WAL index, the S3 credentials, the identity copy and the cache): if the server never left recovery, delete ` +
          `it by hand. Then follow "After a promotion" below: the restored server is on a new timeline.`,
      );
    }
    this.afterPromotion(pitr);
    this.p(`### What the database needs for wal-stream`);
    this.p(
      `The sidecar (\`wal-stream\`, flushing every ${[...new Set(pitr.map((s) => s.walFlushInterval ?? "60s"))].join(" / ")}) ` +
        `and \`basebackup\` connect with replication rights; managed providers (Supabase, Neon, Railway) do not allow ` +
        `that: use their own PITR there. On the source server:`,
    );
    this.code("sql", `CREATE ROLE lifeboat_repl WITH LOGIN REPLICATION PASSWORD '...';   -- the sidecar's and basebackup's user`);
    this.code("", [
      `# postgresql.conf (wal_level needs a restart)`,
      `wal_level = replica`,
      `max_wal_senders = 10          # at least 2: wal-stream plus a running basebackup`,
      `max_replication_slots = 10`,
      ``,
      `# pg_hba.conf (then SELECT pg_reload_conf()): replication from the backup host only, with a password`,
      `host  replication  lifeboat_repl  10.0.0.0/24  scram-sha-256`,
    ].join("\n"));
    this.p(
      `\`wal-stream\` keeps the physical replication slot ${pitr.map((s) => `\`${`lifeboat_${s.name.replace(/-/g, "_")}`.slice(0, 63)}\``).join(", ")} (the runner's default; \`--slot\` to choose): ` +
        `while the sidecar is down the server keeps the WAL it has not received, so disk use grows on the database ` +
        `server (the \`--max-lag\` alert fires). If you retire the sidecar, drop the slot ` +
        `(\`SELECT pg_drop_replication_slot('...')\`). Replay past the end of a base backup needs wal-stream running.`,
    );
  }

  /** The steps after a restored server or a standby was promoted (a new timeline), in order. */
  private afterPromotion(pitr: RunbookSource[]): void {
    this.p(`### After a promotion (a new timeline)`);
    this.p(
      `A restored server (above) or a promoted standby writes on a new timeline. Base backups and WAL of the old ` +
        `timeline stay in the bucket for the PITR window and still restore times before the promotion; times after it ` +
        `need WAL and a base backup of the new timeline. In this order, for ${pitr.map((s) => `\`${s.name}\``).join(", ")}:`,
    );
    for (const s of pitr) {
      const slot = `lifeboat_${s.name.replace(/-/g, "_")}`.slice(0, 63);
      this.code("bash", [
        `# 1. Point the wal-stream sidecar of ${s.name} at the new primary (its LIFEBOAT_SOURCE_URL / --url; same --name,`,
        `#    spool and state volume) and restart it. It creates its slot there, uploads the timeline's .history file,`,
        `#    alerts "new timeline" and takes a base backup on it (--on-new-timeline basebackup, the default).`,
        `# 2. Check that the base backup ran; if it failed, or the sidecar runs with --on-new-timeline alert, take one now:`,
        this.useRestorer(s.name),
        this.cmd(statusArgs({ name: s.name, dest: bucketDest(this.i.primary, this.i.prefix), endpoint: this.i.primary.endpoint, region: this.i.primary.region })) +
          `   # "WAL: ... timeline N" and no "new timeline" problem`,
        `# the sidecar's container holds the bucket, public key and replication URL settings a base backup needs:`,
        `docker exec WAL-STREAM-CONTAINER lifeboat-runner basebackup --name ${shellQuote(s.name)} --fast-checkpoint`,
        `# 3. No recovery target may stay behind (it would be carried into later base backups): this prints nothing`,
        `sudo -u postgres grep -E '^(recovery_target|restore_command)' "$PGDATA/postgresql.auto.conf" || echo clean`,
        `# 4. If the old primary comes back, keep it down; retire its slot before it fills its disk`,
        `psql -h OLD-PRIMARY -U postgres -c "SELECT pg_drop_replication_slot('${slot}')"`,
      ].join("\n"));
    }
  }

  private restoreWithStockTools(): void {
    const i = this.i;
    this.p(`## Restore with stock tools only`);
    this.p(
      `For the day the runner itself is the problem: rclone, sha256sum, age, zstd and pg_restore/tar, nothing of ` +
        `Lifeboat. Each script is complete for this environment: load the source's credentials (\`use_restorer\` ` +
        `above, or export \`AWS_ACCESS_KEY_ID\`/\`AWS_SECRET_ACCESS_KEY\` by hand), save the script as a file, check ` +
        `the target line, and run it with \`bash FILE\` in an empty working directory. \`KEY=''\` restores the newest ` +
        `backup; set it to a key from the listing for an older one. The Postgres script is the one Lifeboat's ` +
        `end-to-end test runs against a real backup.`,
    );
    for (const s of i.sources) {
      this.p(`### \`${s.name}\` with stock tools`);
      if (s.pitr) {
        this.p(
          `\`${s.name}\` has base backups and WAL, not dumps. Set \`AT\` to a zoned time or \`latest\`; run it as a user ` +
            `who may \`sudo chown\` (or as root). It picks the base backup that finished at or before \`AT\`, fetches the WAL of ` +
            `that base backup's timeline only, checks every object's sha256 against its manifest, writes the recovery ` +
            `settings and hands the directory to \`postgres\`; then start it as under "Restore to a point in time".`,
        );
        this.code("bash", stockPitrScript({ ...stockVarsFor(i, s, i.primary), at: "latest", targetDir: pitrTargetDir(s) }));
        continue;
      }
      const prepare = s.kind === "volume" ? this.prepareTarget(s) : [];
      if (prepare.length > 0) {
        this.p(`First, on the Docker host: the script restores into that volume's directory, so the volume must exist.`);
        this.code("bash", prepare.join("\n"));
      }
      this.code("bash", this.stockScript(s));
    }
    this.p(
      `After a Postgres restore, compare row counts with the manifest (\`jq '.postgres.tables' manifest.json\`), ` +
        `e.g. \`psql "$TARGET_URL" -c 'SELECT count(*) FROM ONLY public.orders'\`.`,
    );
  }

  /** "Get back one table / one file": runner and stock-tools commands per Postgres and volume/directory source. */
  private oneTableOneFile(): void {
    const i = this.i;
    const pg = i.sources.filter((s) => s.kind === "postgres" && !s.pitr);
    const files = i.sources.filter((s) => s.kind === "volume" || s.kind === "directory");
    if (!pg.length && !files.length) return;
    this.p(`## Get back one table / one file`);
    this.p(
      `Most incidents are one table or one file, not the whole database. Restore it into a separate place and copy ` +
        `back what you need; never restore over the live data. \`restore --table\` (repeatable, with \`--schema\`) ` +
        `brings a table back whole (its indexes, constraints, triggers, owned sequences and their values, grants; ` +
        `the schemas, types and functions it needs when the target lacks them) into any database, e.g. a staging ` +
        `one, and checks its row count against the manifest; a foreign key or view that needs a table you did not ` +
        `select is listed as not restored. A table of the same name in the target is refused; with \`--force\` it is ` +
        `moved, with its indexes and sequences, into the schema \`lifeboat_before_restore_TIME\` (printed), never dropped. ` +
        `\`restore --path\` (repeatable; a path inside the archive, shell wildcards, a directory with everything under ` +
        `it) extracts only those files into an empty or new directory.`,
    );
    for (const s of pg) {
      this.p(`### One table of \`${s.name}\``);
      this.code("bash", [
        this.useRestorer(s.name),
        `export SCHEMA=public TABLE=orders   # the table to get back`,
        `export TARGET_URL=${shellQuote(stagingTarget(s))}   # any database that does not hold it, e.g. a staging one`,
        `createdb --maintenance-db=${shellQuote(adminUrl(stagingTarget(s)))} ${shellQuote(dbName(stagingTarget(s)))}   # skip if it exists`,
        this.cmd(restoreArgs({ ...restoreSpecFor(s, i.primary, i.prefix), tables: ["$TABLE"], schemas: ["$SCHEMA"] })),
      ].join("\n"));
      this.p(
        `With stock tools only (\`pg_restore --schema --table\` from the decrypted dump: the table's columns and rows, ` +
          `not its indexes, triggers or sequences; refused if the database already holds it; its row count checked ` +
          `against the manifest's). Set SCHEMA, TABLE and the target, save it as a file and run it with \`bash FILE\` in an empty working directory:`,
      );
      this.code("bash", stockRestoreScript({ ...stockVarsFor(i, s, i.primary), target: stagingTarget(s), table: { schema: "public", name: "orders" } }));
    }
    for (const s of files) {
      this.p(`### One file of \`${s.name}\``);
      this.code("bash", [
        this.useRestorer(s.name),
        `export TARGET_DIR=${shellQuote(oneFileTarget(s))}   # an empty or new directory`,
        this.cmd(restoreArgs({ ...restoreSpecFor(s, i.primary, i.prefix), paths: ["path/inside/the/archive"] })),
      ].join("\n"));
      this.p(`With stock tools only (\`tar -x\` of that member; a file already in the directory is not overwritten). Set MEMBER, save it as a file and run it with \`bash FILE\`:`);
      this.code("bash", stockRestoreScript({ ...stockVarsFor(i, s, i.primary), target: oneFileTarget(s), member: "path/inside/the/archive" }));
    }
  }

  /** The stock-tools script of a source against a bucket: exactly {@link stockRestoreScript}. */
  stockScript(s: RunbookSource, b: RunbookBucket = this.i.primary): string {
    return stockRestoreScript(stockVarsFor(this.i, s, b));
  }

  private verify(): void {
    const i = this.i;
    this.p(`## Verify a backup`);
    this.p(
      `\`verify\` downloads a backup, checks its sha256, decrypts it and, for Postgres, restores it into a scratch ` +
        `database it creates and drops on the server in \`$SCRATCH_URL\` and compares row counts with the manifest; ` +
        `it records the result beside the backups (\`list\` shows it).` +
        (i.verification.enabled
          ? ` The stack runs it on \`${i.verification.schedule}\` for every source.`
          : ` This stack schedules no drill (no \`lifeboat:ageIdentity\`): run it by hand after every restore test.`) +
        (i.sources.some((s) => s.pitr)
          ? ` For a point-in-time source (${i.sources.filter((s) => s.pitr).map((s) => `\`${s.name}\``).join(", ")}) it checks the newest ` +
            `base backup instead: unpacked into a temporary directory and checked with \`pg_verifybackup\` against the ` +
            `\`backup_manifest\` inside it (every file's checksum, and the WAL from the backup's start to its end), and that the ` +
            `WAL chain in the bucket from its start to the newest WAL has no gap (it names the first missing segment); no scratch ` +
            `database. That is an integrity check, not a restore drill: it measures no RTO.`
          : ""),
    );
    this.code("bash", [
      ...(i.sources.some((s) => s.kind === "postgres" && !s.pitr) ? [`export SCRATCH_URL='postgres://postgres@SCRATCH-HOST:5432/postgres'   # may CREATE/DROP databases`] : []),
      ...i.sources.map((s) => [
        this.useRestorer(s.name),
        this.cmd(verifyArgs({
          name: s.name,
          identity: RUNBOOK_VARIABLES.identity,
          ...(s.kind === "postgres" && !s.pitr ? { scratchUrl: RUNBOOK_VARIABLES.scratchUrl } : {}),
          ...destinationSpec(i.primary, i.prefix),
        })),
      ].join("\n")),
    ].join("\n\n"));
  }

  private failover(): void {
    const i = this.i;
    this.p(`## Fail over and fail back`);
    const replica = i.replicas[0];
    if (!replica) {
      this.p(`This environment has no replica, so it cannot fail over: add one under \`lifeboat:replicas\` in \`Pulumi.${i.stack}.yaml\`.`);
      return;
    }
    this.p(`### Fail over (the primary ${i.primary.provider === "r2" ? "R2 bucket" : "region"} is unavailable)`);
    this.code("bash", `pulumi config set lifeboat:failover true ${this.stackFlag}\npulumi up ${this.stackFlag}`);
    const targets = i.sources.map((s) => {
      const t = s.kind === "postgres" ? (s.drTargetUrl ? `\`${redactUrl(s.drTargetUrl)}\`` : s.drTargetUrlKey && this.secretKey(s.drTargetUrlKey)) : s.drTargetPath && `\`${defaultTarget(s)}\``;
      return `| \`${s.name}\` | ${t || "none configured: restore by hand (below)"} | ${s.rto} |`;
    });
    this.p(
      `What \`pulumi up\` then does: the scheduled backups write to the replica ${this.where(replica)} instead of ` +
        `\`${i.primary.bucketName}\`; one-shot restore jobs restore the newest verified backup of each source that ` +
        `has a DR target into it; the stack outputs say what was restored from where. Nothing in either bucket is ` +
        `deleted or overwritten.`,
    );
    this.out.push("| source | DR target | RTO |", "| --- | --- | --- |", ...targets, "");
    this.p(`Any source by hand from the replica (with credentials that read it), e.g. those without a DR target:`);
    this.code("bash", i.sources.map((s) => [this.replicaCreds(s).trimEnd(), ...this.prepareTarget(s), this.targetLine(s), this.restoreCommand(s, replica)].filter(Boolean).join("\n")).join("\n\n"));
    this.p(`### Fail back (the primary is healthy again)`);
    this.code("bash", `pulumi config set lifeboat:failover false ${this.stackFlag}\npulumi up ${this.stackFlag}`);
    this.p(
      `The backups go back to \`${i.primary.bucketName}\` from their next run; the DR restore jobs are removed (the ` +
        `restored data stays where it is). Backups written to the replica during the failover stay on the replica ` +
        `only: replication runs primary → replica, never back. They expire with the replica's own lifecycle rules. ` +
        `Until the primary has a newer backup, restore from the replica (commands above). To keep them in the ` +
        `primary too, copy them back (create-only, never overwrites; needs credentials that can read the replica ` +
        `and put on the primary, the replica side as \`LIFEBOAT_REPLICA_ACCESS_KEY_ID\`/\`LIFEBOAT_REPLICA_SECRET_ACCESS_KEY\`):`,
    );
    this.code("bash", this.cmd(replicateArgs({
      all: true,
      ...destinationSpec(replica, i.prefix),
      to: bucketDest(i.primary, i.prefix),
      toEndpoint: i.primary.endpoint,
      toRegion: i.primary.region,
    })));
  }

  private scenarios(): void {
    const i = this.i;
    const of = (...kinds: SourceKind[]) => i.sources.filter((s) => kinds.includes(s.kind));
    const dbs = of("postgres", "redis", "sqlite");
    const vols = of("volume", "directory", "sqlite");
    this.p(`## Scenarios`);
    this.p(`Each scenario names the objectives this environment's config promises. "Lose at most RPO" means the data written after the newest backup; "within RTO" is the time the restore may take.`);

    this.p(`### Database corruption (bad migration, accidental DELETE, broken disk pages) — ${dbs.length ? this.objectives(dbs) : "no database sources here"}`);
    this.p(
      `1. Stop the writers (scale the application down) so the damage stops spreading.`,
      `2. Find the last good time: \`list\` the source (above) and pick the newest backup from before the damage.`,
      `3. Restore it into a NEW empty database, never over the live one:`,
    );
    if (dbs.length > 0) {
      this.code("bash", dbs.map((s) => s.pitr
        ? [
          this.useRestorer(s.name), this.targetLine(s),
          `export AT='2026-01-31T22:59:59Z'   # point-in-time: ONE SECOND before the damage (the DROP/DELETE/migration), UTC`,
          this.pitrCommand(s),
        ].join("\n")
        : [
          this.useRestorer(s.name), this.targetLine(s),
          this.cmd(restoreArgs({ ...restoreSpecFor(s, i.primary, i.prefix), at: "2026-01-31T23:00:00Z" })) + "   # the time before the damage",
        ].join("\n")).join("\n\n"));
    }
    const pitrDbs = dbs.filter((s) => s.pitr);
    if (pitrDbs.length > 0) {
      this.p(
        `For ${pitrDbs.map((s) => `\`${s.name}\``).join(", ")} (point-in-time recovery) the restore replays the WAL up to ` +
          `\`$AT\`: set it to a second before the damage (find the time in the application's or PostgreSQL's log), start ` +
          `the directory with \`pg_ctl\` and check it as under "Restore to a point in time"; only what was written after ` +
          `\`$AT\` is lost.`,
      );
    }
    this.p(
      `4. Check it (row counts are compared with the manifest automatically; spot-check recent rows), then point the application at it.`,
      `5. What was written after that backup is lost (at most the RPO), unless it can be re-entered or exported from the damaged database.`,
    );

    this.p(`### Lost volume (deleted volume, failed disk) — ${vols.length ? this.objectives(vols) : "no volume or directory sources here"}`);
    this.p(
      `1. Stop the containers that use it.`,
      `2. Create a fresh volume or directory and restore the newest backup into it:`,
    );
    if (vols.length > 0) {
      this.code("bash", vols.map((s) => [
        this.useRestorer(s.name),
        ...(s.kind === "volume" && !s.drTargetPath ? [`docker volume create ${shellQuote(`${s.volume ?? s.name}_restored`)}`] : []),
        this.targetLine(s), this.restoreCommand(s),
      ].join("\n")).join("\n\n"));
    }
    this.p(`3. Start the containers with the restored volume mounted. Files written after the backup are lost (at most the RPO).`);

    this.p(`### Server loss (the Docker host is gone) — ${this.objectives(i.sources)}`);
    this.p(
      `1. Provision a new host (same Docker networks, volumes created empty).`,
      `2. Restore every source into it with the commands under "Restore with the runner", databases first.`,
      `3. Point \`lifeboat:runtime\` at the new host in \`Pulumi.${i.stack}.yaml\` (e.g. \`host\`) and run ` +
        `\`pulumi up ${this.stackFlag}\` so the scheduled backups run again; check with the status commands.`,
      `4. If the whole ${i.primary.provider === "r2" ? "provider" : "region"} is gone, not just the host, fail over (above) instead.`,
    );

    this.p(`### Ransomware or a compromised account — ${this.objectives(i.sources)}`);
    this.p(
      `The backup hosts hold only the age public key: an attacker on them cannot decrypt backups, and ` +
        `${i.primary.provider === "s3" ? "S3 object lock (the writers cannot delete either)" : "R2 bucket-lock rules"} keep every ` +
        `backup until its retention ends, whatever credentials leak.`,
      `1. Isolate: take the affected hosts off the network; do not restore onto them.`,
      `2. Rotate every credential the attacker may have seen (database passwords, cloud keys; \`pulumi up\` after ` +
        `replacing the Lifeboat identities), from a clean machine.`,
      `3. Find when the compromise began and pick, per source, the newest backup from before it (\`list\`); ` +
        `\`verify\` it on a clean machine.`,
      `4. Restore into fresh hosts with \`--at\` that time (commands as under "Database corruption"), or from the ` +
        `replica if the primary's account is the one compromised.`,
      `5. Data since that backup is lost: at least the RPO, more if the attack went unnoticed for longer.`,
    );
  }
}

/** The stock-tools variables of one source against one bucket, with this runbook's placeholders. */
export function stockVarsFor(i: Pick<RunbookInput, "prefix" | "environment">, s: RunbookSource, b: RunbookBucket) {
  return {
    kind: s.kind,
    endpoint: b.endpoint,
    region: b.region,
    bucket: b.bucketName,
    prefix: i.prefix,
    source: s.name,
    key: "",
    identity: IDENTITY_FILE(i.environment),
    target: defaultTarget(s),
  };
}

function adminUrl(url: string): string {
  try {
    const u = new URL(url);
    u.pathname = "/postgres";
    return u.toString();
  } catch {
    return url;
  }
}

function dbName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, "")) || "restored";
  } catch {
    return "restored";
  }
}

/** The resolved names of one bucket (what the Pulumi resources give back). */
export interface ResolvedBucket {
  bucketName: string;
  endpoint: string;
  region: string;
}

/**
 * The runbook input of one environment from its validated config and the resolved names of
 * its buckets (`buckets.replicas` in the order of `config.replicas`). Pure: call it inside a
 * `pulumi.all(...).apply(...)` over the buckets' names, endpoints and regions.
 */
export function runbookInputFromConfig(
  config: LifeboatConfig,
  buckets: { primary: ResolvedBucket; replicas: ResolvedBucket[] },
  extra: Pick<RunbookInput, "credentialsOutput" | "replicaCredentialsOutput" | "runnerCommand"> = {},
): RunbookInput {
  const bucket = (loc: Location, b: ResolvedBucket): RunbookBucket => ({
    provider: loc.provider,
    bucketName: b.bucketName,
    endpoint: b.endpoint,
    region: b.region,
    ...(loc.provider === "r2"
      ? { accountId: loc.accountId, jurisdiction: loc.jurisdiction, ...(loc.location ? { location: loc.location } : {}) }
      : {}),
  });
  if (buckets.replicas.length !== config.replicas.length) {
    throw new Error(`runbookInputFromConfig: ${config.replicas.length} replicas configured, ${buckets.replicas.length} resolved`);
  }
  return {
    environment: config.environment,
    profile: config.profile,
    stack: config.stack,
    prefix: config.prefix,
    primary: bucket(config.storage, buckets.primary),
    replicas: config.replicas.map((r, n) => bucket(r, buckets.replicas[n]!)),
    bucketSources: config.sources.flatMap((s): RunbookBucketSource[] => s.kind !== "bucket" ? [] : [{
      name: s.name,
      ...appBucketAddress(s.bucket),
      windowDays: s.windowDays!,
      events: s.events,
      schedule: s.schedule,
      rpo: s.rpo,
      rto: s.rto,
    }]),
    // Bucket sources have their own section (above); every other section is about archives.
    sources: config.sources.flatMap((s, n): RunbookSource[] => s.kind === "bucket" ? [] : [{
      name: s.name,
      kind: s.kind,
      schedule: s.schedule,
      rpo: s.rpo,
      rto: s.rto,
      ...(s.kind === "volume" ? { volume: s.volume } : {}),
      ...(s.kind === "directory" || s.kind === "sqlite" ? { path: s.path } : {}),
      // An offline plan cannot decrypt a secret DR target; the runbook then names its config key.
      ...(s.kind === "postgres" && s.drTargetUrl
        ? isPlaceholder(s.drTargetUrl) ? { drTargetUrlKey: `lifeboat:sources[${n}].drTargetUrl` } : { drTargetUrl: s.drTargetUrl }
        : {}),
      ...(s.kind !== "postgres" && s.drTargetPath ? { drTargetPath: s.drTargetPath } : {}),
      ...(s.kind === "postgres" && s.pitr ? { pitr: true, walFlushInterval: s.walFlushInterval } : {}),
    }]),
    failover: config.failover,
    verification: { enabled: !!config.ageIdentity, schedule: config.verification.schedule, statusSchedule: config.verification.statusSchedule },
    alerting: {
      webhook: !!config.alerts.webhookUrl,
      healthcheck: !!config.alerts.healthcheckUrl,
      minBackupBytes: config.alerts.minBackupBytes,
      maxShrink: config.alerts.maxShrink,
      maxTableShrink: config.alerts.maxTableShrink,
    },
    ageRecipients: [...config.ageRecipients],
    ageIdentityInStack: !!config.ageIdentity,
    ...extra,
  };
}
