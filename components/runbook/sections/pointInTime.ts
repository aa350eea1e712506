/**
 * Point-in-time recovery of PITR sources: the restore and start of a data directory, the steps
 * after a promotion, and what the database needs for wal-stream. Absent without PITR sources.
 */
import { statusArgs } from "lifeboat-core";
import type { RunbookSource } from "../input";
import { shellQuote } from "../shell";
import { bucketDestination } from "../specs";
import type { RunbookWriter } from "../writer";

export function pointInTime(w: RunbookWriter): void {
  const i = w.i;
  const pitr = i.sources.filter((s) => s.pitr);
  if (pitr.length === 0) return;
  w.p(`## Restore to a point in time`);
  w.p(
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
    w.p(`### \`${s.name}\` as of a time — worst-case loss ${s.walFlushInterval ?? "60s"} (the WAL flush interval), RTO ${s.rto}`);
    w.p(
      `On the host that will run the restored database, with the same PostgreSQL major version as the source. ` +
        `\`$AT\` is a UTC (or offset) time, or \`latest\` for everything that was shipped; a time after the last ` +
        `shipped commit stops recovery with "recovery ended before configured recovery target was reached": use \`latest\` then.`,
    );
    w.code("bash", [
      w.useRestorer(s.name),
      w.targetLine(s),
      `export AT='2026-01-31T22:59:59Z'   # or: export AT=latest`,
      `sudo install -d -m 700 -o "$(id -u)" "$TARGET_DIR"   # a new, empty directory you can write to`,
      w.pitrCommand(s),
      `sudo chown -R postgres:postgres "$TARGET_DIR"   # PostgreSQL runs as the user that owns the directory`,
      ``,
      `# start it on a spare port, its socket in the data directory: WAL is replayed to $AT, then the server is promoted`,
      `sudo -u postgres pg_ctl start -D "$TARGET_DIR" -o "-p ${port} -k $TARGET_DIR" -l "$TARGET_DIR/restore.log" -w -t 3600`,
      `sudo -u postgres psql -h "$TARGET_DIR" -p ${port} -Atc 'SELECT pg_is_in_recovery()'   # f: recovery ended and it was promoted`,
      `sudo tail -n 20 "$TARGET_DIR/restore.log"   # "recovery stopping before commit ...", "selected new timeline ID", "archive recovery complete"`,
      `# still t (recovery paused or waiting for WAL that does not exist): promote by hand`,
      `sudo -u postgres pg_ctl promote -D "$TARGET_DIR"`,
    ].join("\n"));
    w.p(
      `The restore prints \`walGap\` when a WAL segment is missing in the bucket: replay stops before it. Check the ` +
        `data (recent rows, row counts), then point the application at port ${port} (or stop the old server and start ` +
        `this directory on its port). PostgreSQL fetched each WAL file as it replayed (\`restore_command\` runs ` +
        `\`lifeboat-runner wal-fetch\` on this host); when recovery ends it removes \`$TARGET_DIR/lifeboat_restore\` ` +
        `(the WAL index, the S3 credentials, the identity copy and the cache): if the server never left recovery, delete ` +
        `it by hand. Then follow "After a promotion" below: the restored server is on a new timeline.`,
    );
  }
  afterPromotion(w, pitr);
  w.p(`### What the database needs for wal-stream`);
  w.p(
    `The sidecar (\`wal-stream\`, flushing every ${[...new Set(pitr.map((s) => s.walFlushInterval ?? "60s"))].join(" / ")}) ` +
      `and \`basebackup\` connect with replication rights; managed providers (Supabase, Neon, Railway) do not allow ` +
      `that: use their own PITR there. On the source server:`,
  );
  w.code("sql", `CREATE ROLE lifeboat_repl WITH LOGIN REPLICATION PASSWORD '...';   -- the sidecar's and basebackup's user`);
  w.code("", [
    `# postgresql.conf (wal_level needs a restart)`,
    `wal_level = replica`,
    `max_wal_senders = 10          # at least 2: wal-stream plus a running basebackup`,
    `max_replication_slots = 10`,
    ``,
    `# pg_hba.conf (then SELECT pg_reload_conf()): replication from the backup host only, with a password`,
    `host  replication  lifeboat_repl  10.0.0.0/24  scram-sha-256`,
  ].join("\n"));
  w.p(
    `\`wal-stream\` keeps the physical replication slot ${pitr.map((s) => `\`${`lifeboat_${s.name.replace(/-/g, "_")}`.slice(0, 63)}\``).join(", ")} (the runner's default; \`--slot\` to choose): ` +
      `while the sidecar is down the server keeps the WAL it has not received, so disk use grows on the database ` +
      `server (the \`--max-lag\` alert fires). If you retire the sidecar, drop the slot ` +
      `(\`SELECT pg_drop_replication_slot('...')\`). Replay past the end of a base backup needs wal-stream running.`,
  );
}

/** The steps after a restored server or a standby was promoted (a new timeline), in order. */
function afterPromotion(w: RunbookWriter, pitr: RunbookSource[]): void {
  w.p(`### After a promotion (a new timeline)`);
  w.p(
    `A restored server (above) or a promoted standby writes on a new timeline. Base backups and WAL of the old ` +
      `timeline stay in the bucket for the PITR window and still restore times before the promotion; times after it ` +
      `need WAL and a base backup of the new timeline. In this order, for ${pitr.map((s) => `\`${s.name}\``).join(", ")}:`,
  );
  for (const s of pitr) {
    const slot = `lifeboat_${s.name.replace(/-/g, "_")}`.slice(0, 63);
    w.code("bash", [
      `# 1. Point the wal-stream sidecar of ${s.name} at the new primary (its LIFEBOAT_SOURCE_URL / --url; same --name,`,
      `#    spool and state volume) and restart it. It creates its slot there, uploads the timeline's .history file,`,
      `#    alerts "new timeline" and takes a base backup on it (--on-new-timeline basebackup, the default).`,
      `# 2. Check that the base backup ran; if it failed, or the sidecar runs with --on-new-timeline alert, take one now:`,
      w.useRestorer(s.name),
      w.cmd(statusArgs({ name: s.name, ...bucketDestination(w.i.primary, w.i.prefix) })) +
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
