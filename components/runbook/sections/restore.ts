/**
 * Restores with the runner: each source whole into a fresh place, and one table or one file
 * (with the stock-tools variant beside each).
 */
import { restoreArgs, type SourceKind } from "lifeboat-core";
import type { RunbookSource } from "../input";
import { shellQuote } from "../shell";
import { restoreSpecFor, stockVarsFor } from "../specs";
import { stockRestoreScript } from "../stockTools";
import { adminUrl, dbName, defaultTarget, oneFileTarget, stagingTarget } from "../targets";
import type { RunbookWriter } from "../writer";

const SHORT_LABEL: Record<SourceKind, string> = {
  postgres: "PostgreSQL",
  volume: "Docker volume",
  directory: "directory",
  redis: "Redis",
  sqlite: "SQLite",
  bucket: "app bucket",
};

export function restoreWithRunner(w: RunbookWriter): void {
  const i = w.i;
  w.p(`## Restore with the runner`);
  w.p(
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
    w.p(`### \`${s.name}\`: ${SHORT_LABEL[s.kind]}, RPO ${s.rpo}, RTO ${s.rto}`);
    if (s.pitr) {
      w.p(`Point-in-time recovery (base backups plus streamed WAL, no dumps): everything shipped, into a new data directory; any other time and how to start it under "Restore to a point in time".`);
      w.code("bash", [w.useRestorer(s.name), w.targetLine(s), w.restoreCommand(s)].join("\n"));
      continue;
    }
    if (s.kind === "volume" && !s.drTargetPath) w.p(`On the Docker host, as root (the volume's directory belongs to Docker):`);
    w.code("bash", [w.useRestorer(s.name), ...w.prepareTarget(s), w.targetLine(s), w.restoreCommand(s)].join("\n"));
    w.p(afterRestore(s));
  }
}

function afterRestore(s: RunbookSource): string {
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

/** "Get back one table / one file": runner and stock-tools commands per Postgres and volume/directory source. */
export function oneTableOneFile(w: RunbookWriter): void {
  const i = w.i;
  const pg = i.sources.filter((s) => s.kind === "postgres" && !s.pitr);
  const files = i.sources.filter((s) => s.kind === "volume" || s.kind === "directory");
  if (!pg.length && !files.length) return;
  w.p(`## Get back one table / one file`);
  w.p(
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
    w.p(`### One table of \`${s.name}\``);
    w.code("bash", [
      w.useRestorer(s.name),
      `export SCHEMA=public TABLE=orders   # the table to get back`,
      `export TARGET_URL=${shellQuote(stagingTarget(s))}   # any database that does not hold it, e.g. a staging one`,
      `createdb --maintenance-db=${shellQuote(adminUrl(stagingTarget(s)))} ${shellQuote(dbName(stagingTarget(s)))}   # skip if it exists`,
      w.cmd(restoreArgs({ ...restoreSpecFor(s, i.primary, i.prefix), tables: ["$TABLE"], schemas: ["$SCHEMA"] })),
    ].join("\n"));
    w.p(
      `With stock tools only (\`pg_restore --schema --table\` from the decrypted dump: the table's columns and rows, ` +
        `not its indexes, triggers or sequences; refused if the database already holds it; its row count checked ` +
        `against the manifest's). Set SCHEMA, TABLE and the target, save it as a file and run it with \`bash FILE\` in an empty working directory:`,
    );
    w.code("bash", stockRestoreScript({ ...stockVarsFor(i, s, i.primary), target: stagingTarget(s), table: { schema: "public", name: "orders" } }));
  }
  for (const s of files) {
    w.p(`### One file of \`${s.name}\``);
    w.code("bash", [
      w.useRestorer(s.name),
      `export TARGET_DIR=${shellQuote(oneFileTarget(s))}   # an empty or new directory`,
      w.cmd(restoreArgs({ ...restoreSpecFor(s, i.primary, i.prefix), paths: ["path/inside/the/archive"] })),
    ].join("\n"));
    w.p(`With stock tools only (\`tar -x\` of that member; a file already in the directory is not overwritten). Set MEMBER, save it as a file and run it with \`bash FILE\`:`);
    w.code("bash", stockRestoreScript({ ...stockVarsFor(i, s, i.primary), target: oneFileTarget(s), member: "path/inside/the/archive" }));
  }
}
