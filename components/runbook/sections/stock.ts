/**
 * Restores with stock tools only (rclone, sha256sum, age, zstd, pg_restore/tar): the shared
 * scripts of ../stockTools with this environment's values.
 */
import { stockVarsFor } from "../specs";
import { stockPitrScript, stockRestoreScript } from "../stockTools";
import { pitrTargetDir } from "../targets";
import type { RunbookWriter } from "../writer";

export function restoreWithStockTools(w: RunbookWriter): void {
  const i = w.i;
  w.p(`## Restore with stock tools only`);
  w.p(
    `For the day the runner itself is the problem: rclone, sha256sum, age, zstd and pg_restore/tar, nothing of ` +
      `Lifeboat. Each script is complete for this environment: load the source's credentials (\`use_restorer\` ` +
      `above, or export \`AWS_ACCESS_KEY_ID\`/\`AWS_SECRET_ACCESS_KEY\` by hand), save the script as a file, check ` +
      `the target line, and run it with \`bash FILE\` in an empty working directory. \`KEY=''\` restores the newest ` +
      `backup; set it to a key from the listing for an older one. The Postgres script is the one Lifeboat's ` +
      `end-to-end test runs against a real backup.`,
  );
  for (const s of i.sources) {
    w.p(`### \`${s.name}\` with stock tools`);
    if (s.pitr) {
      w.p(
        `\`${s.name}\` has base backups and WAL, not dumps. Set \`AT\` to a zoned time or \`latest\`; run it as a user ` +
          `who may \`sudo chown\` (or as root). It picks the base backup that finished at or before \`AT\`, fetches the WAL of ` +
          `that base backup's timeline only, checks every object's sha256 against its manifest, writes the recovery ` +
          `settings and hands the directory to \`postgres\`; then start it as under "Restore to a point in time".`,
      );
      w.code("bash", stockPitrScript({ ...stockVarsFor(i, s, i.primary), at: "latest", targetDir: pitrTargetDir(s) }));
      continue;
    }
    const prepare = s.kind === "volume" ? w.prepareTarget(s) : [];
    if (prepare.length > 0) {
      w.p(`First, on the Docker host: the script restores into that volume's directory, so the volume must exist.`);
      w.code("bash", prepare.join("\n"));
    }
    w.code("bash", stockRestoreScript(stockVarsFor(i, s, i.primary)));
  }
  w.p(
    `After a Postgres restore, compare row counts with the manifest (\`jq '.postgres.tables' manifest.json\`), ` +
      `e.g. \`psql "$TARGET_URL" -c 'SELECT count(*) FROM ONLY public.orders'\`.`,
  );
}
