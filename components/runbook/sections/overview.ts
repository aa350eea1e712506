/**
 * The runbook's opening sections: what it is, what is backed up where, and what to set up before
 * any restore (the age identity, read credentials).
 */
import type { SourceKind } from "lifeboat-core";
import type { RunbookBucket } from "../input";
import { IDENTITY_FILE, bucketUrl } from "../specs";
import type { RunbookWriter } from "../writer";

const KIND_LABEL: Record<SourceKind, string> = {
  postgres: "PostgreSQL database (pg_dump custom format)",
  volume: "Docker volume (tar)",
  directory: "directory (tar)",
  redis: "Redis (RDB snapshot)",
  sqlite: "SQLite database file",
  bucket: "app object storage bucket (incremental snapshots)",
};

export function header(w: RunbookWriter): void {
  const i = w.i;
  w.p(
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
    w.p(
      `> **This stack is in FAILOVER now** (\`lifeboat:failover: true\`): new backups are written to the replica ` +
        `${w.where(i.replicas[0] ?? i.primary)}. The newest backups are there, not in the primary. See "Fail back".`,
    );
  }
}

export function whatWhere(w: RunbookWriter): void {
  const i = w.i;
  w.p(`## What is backed up, and where`);
  w.p(
    `Primary: ${w.where(i.primary)}.`,
    ...(i.replicas.length === 0
      ? ["No replica: this environment has no copy in another region."]
      : i.replicas.map((r, n) => `Replica ${n + 1}: ${w.where(r)}, ${replicationOf(w, r)}.`)),
  );
  w.out.push(
    "| source | what | schedule (cron, UTC) | RPO | RTO | backups under |",
    "| --- | --- | --- | --- | --- | --- |",
    ...i.sources.map((s) => {
      const what = KIND_LABEL[s.kind] + (s.volume ? ` \`${s.volume}\`` : s.path ? ` \`${s.path}\`` : "");
      return `| \`${s.name}\` | ${what} | \`${s.schedule}\` | ${s.rpo} | ${s.rto} | \`${bucketUrl(i.primary, i.prefix)}/${s.name}/\` |`;
    }),
    "",
  );
  w.p(
    `RPO (recovery point objective) is the most data, in time, a restore may lose; RTO (recovery time objective) is ` +
      `how long restoring may take. Both are declared in \`Pulumi.${i.stack}.yaml\`; the schedule is checked against the RPO.`,
  );
}

function replicationOf(w: RunbookWriter, r: RunbookBucket): string {
  return w.i.primary.provider === "s3" && r.provider === "s3"
    ? "kept by S3 native replication (no delete markers replicated)"
    : "kept by the scheduled `replicate` job (copies new backups, checks sha256, never deletes)";
}

export function prerequisites(w: RunbookWriter): void {
  const i = w.i;
  w.p(`## Before you start`);
  w.p(
    `You need: \`age\`, \`zstd\`, \`jq\`, for databases the PostgreSQL client tools (\`pg_restore\` at least as new as ` +
      `the server), for the stock-tools path \`rclone\` and \`sha256sum\`; for the runner, Node.js 20 and a checkout of ` +
      `the infrastructure repository after \`npm ci\` (\`${w.run}\` runs the runner from there); and the Pulumi CLI ` +
      `logged in to the \`${i.stack}\` stack's backend.`,
  );
  w.p(`### 1. The age identity (private key)`);
  w.p(
    `Backups can only be read with the private key matching one of their recipients` +
      (i.ageRecipients && i.ageRecipients.length > 0 ? ` (${i.ageRecipients.map((k) => `\`${k}\``).join(", ")})` : "") +
      `. The backup hosts never hold it.` +
      (i.ageIdentityInStack
        ? ` This stack keeps a copy in its secret config \`lifeboat:ageIdentity\` (the restore drill uses it):`
        : ` This stack does not hold it: fetch it from where your team keeps it (password manager, sealed secret) into the file below.`),
  );
  w.code("bash", [
    `export IDENTITY="${IDENTITY_FILE(i.environment)}"`,
    `mkdir -p "$(dirname "$IDENTITY")"`,
    ...(i.ageIdentityInStack
      ? [`(umask 077 && pulumi config get lifeboat:ageIdentity ${w.stackFlag} > "$IDENTITY")`]
      : [`(umask 077 && cat > "$IDENTITY")   # paste the AGE-SECRET-KEY-1... line, then Ctrl-D`]),
    `age-keygen -y "$IDENTITY"   # prints the public key: it must be one of the recipients above`,
  ].join("\n"));
  w.p(`### 2. Read credentials`);
  w.p(
    `Each source has its own restorer identity that can read (never write or delete) that source's backups. ` +
      `They are in the stack's secret output \`${w.creds}\`. Define this helper once per shell, then load a ` +
      `source's credentials before working on it:`,
  );
  w.code("bash", [
    `use_restorer() {   # use_restorer SOURCE [OUTPUT]`,
    `  local c; c=$(pulumi stack output "\${2:-${w.creds}}" --show-secrets --json ${w.stackFlag}) || return 1`,
    `  export AWS_ACCESS_KEY_ID=$(jq -r --arg s "$1" '.[$s].restorer.accessKeyId' <<<"$c")`,
    `  export AWS_SECRET_ACCESS_KEY=$(jq -r --arg s "$1" '.[$s].restorer.secretAccessKey' <<<"$c")`,
    `}`,
    ...i.sources.map((s) => w.useRestorer(s.name)).slice(0, 1).map((l) => `${l}   # e.g.`),
  ].join("\n"));
  w.p(
    `If the stack runs on ECS, the restorer is an IAM role (\`.restorer.roleArn\`): assume it with ` +
      `\`aws sts assume-role\` and export the temporary keys and \`AWS_SESSION_TOKEN\` instead.`,
  );
  if (i.replicas.length > 0) {
    w.p(
      i.replicaCredentialsOutput
        ? `For the replica, use \`use_restorer SOURCE ${i.replicaCredentialsOutput}\`.`
        : `The restorer identities read the primary. To read a replica, use credentials allowed to list and read ` +
          `it: on S3, an IAM identity with \`s3:ListBucket\`, \`s3:GetObject\` and \`kms:Decrypt\` on the replica's key; ` +
          `on R2, an API token with Object Read on the bucket.`,
    );
  }
}
