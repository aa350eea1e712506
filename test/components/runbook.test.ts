/**
 * The generated runbook (components/runbook): real names in its commands, runner commands equal
 * to the runner's own argv builders, stock-tools scripts equal to the shared script the
 * end-to-end test runs, and docs/runbook.md's stock-restore block equal to that shared script.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { listArgs, restoreArgs, statusArgs, verifyArgs } from "lifeboat-core";
import {
  RunbookInput, renderRunbook, runbookInputFromConfig, shellJoin, shellQuote, STOCK_DECODE, STOCK_FETCH, STOCK_ONE_FILE, STOCK_ONE_TABLE, STOCK_PITR_SCRIPT, STOCK_RESTORE_SCRIPT, stockRestoreScript,
} from "../../components/runbook";
import { maxAgeFor } from "../../components/schedule/cron";
import { validateStackConfig } from "../../components/config/validate";
import { rawStackConfig } from "../../components/config/stackConfig";
import { readStackFile } from "../../cli/plan/stackFile";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const R2_ENDPOINT = `https://${ACCOUNT}.eu.r2.cloudflarestorage.com`;
const S3_ENDPOINT = "https://s3.eu-central-1.amazonaws.com";

const prod: RunbookInput = {
  environment: "prod",
  profile: "production",
  stack: "prod",
  prefix: "backups",
  primary: { provider: "r2", bucketName: "lifeboat-prod-backups", endpoint: R2_ENDPOINT, region: "auto", accountId: ACCOUNT, jurisdiction: "eu", location: "weur" },
  replicas: [{ provider: "s3", bucketName: "lifeboat-prod-replica-1", endpoint: S3_ENDPOINT, region: "eu-central-1" }],
  sources: [
    { name: "app-db", kind: "postgres", schedule: "0 * * * *", rpo: "1h", rto: "45m", drTargetUrl: "postgres://app:hunter2-secret@dr-db.internal:5432/app" },
    { name: "n8n-data", kind: "volume", schedule: "0 3 * * *", rpo: "24h", rto: "4h", volume: "n8n_data", drTargetPath: "/srv/dr/n8n" },
  ],
  failover: false,
  verification: { enabled: true, schedule: "0 5 * * 0", statusSchedule: "0 * * * *" },
  alerting: { webhook: true, healthcheck: false, minBackupBytes: 1_000_000, maxShrink: 0.5, maxTableShrink: 0.5 },
  ageRecipients: ["age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx"],
  ageIdentityInStack: true,
};

const md = renderRunbook(prod);
const dest = { dest: "s3://lifeboat-prod-backups/backups", endpoint: R2_ENDPOINT, region: "auto" };
const RUN = "npx lifeboat-runner ";

/** The body of the markdown section whose heading starts with `heading`, up to the next heading of the same or a higher level. */
function section(doc: string, heading: string): string {
  let fenced = false;
  // Headings outside code blocks only (bash comments start with `# ` too).
  const lines = doc.split("\n").map((l) => {
    if (l.startsWith("```")) fenced = !fenced;
    return fenced || l.startsWith("```") ? ` ${l}` : l;
  });
  const start = lines.findIndex((l) => l.startsWith(heading));
  if (start < 0) throw new Error(`no heading ${heading}`);
  const level = /^#+/.exec(heading)![0].length;
  const end = lines.findIndex((l, n) => n > start && /^#+ /.test(l) && /^#+/.exec(l)![0].length <= level);
  return lines.slice(start, end < 0 ? undefined : end).map((l) => l.replace(/^ /, "")).join("\n");
}

/** Every fenced bash block of a markdown fragment. */
function blocks(doc: string): string[] {
  return [...doc.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function runnerLines(doc: string): string[] {
  return doc.split("\n").filter((l) => l.startsWith(RUN)).map((l) => l.replace(/\s+#.*$/, ""));
}

describe("renderRunbook for a prod-like environment (R2 primary, S3 replica, postgres + volume)", () => {
  test("says what is backed up where: a row per source with schedule, RPO and RTO, and both buckets", () => {
    const where = section(md, "## What is backed up");
    expect(where).toContain("| `app-db` | PostgreSQL database (pg_dump custom format) | `0 * * * *` | 1h | 45m | `s3://lifeboat-prod-backups/backups/app-db/` |");
    expect(where).toContain("| `n8n-data` | Docker volume (tar) `n8n_data` | `0 3 * * *` | 24h | 4h | `s3://lifeboat-prod-backups/backups/n8n-data/` |");
    expect(where).toContain(`\`lifeboat-prod-backups\` (Cloudflare R2, jurisdiction eu, location weur; endpoint ${R2_ENDPOINT})`);
    expect(where).toContain(`Replica 1: \`lifeboat-prod-replica-1\` (AWS S3, eu-central-1; endpoint ${S3_ENDPOINT}), kept by the scheduled \`replicate\` job`);
  });

  test("one runner restore command per source, equal to restoreArgs with this environment's bucket, endpoint, region and prefix", () => {
    const restores = runnerLines(section(md, "## Restore with the runner"));
    expect(restores).toEqual([
      RUN + shellJoin(restoreArgs({ name: "app-db", identity: "$IDENTITY", targetUrl: "$TARGET_URL", ...dest })),
      RUN + shellJoin(restoreArgs({ name: "n8n-data", identity: "$IDENTITY", targetDir: "$TARGET_DIR", ...dest })),
    ]);
    // What that looks like: real names, secrets only as variables.
    expect(restores[0]).toBe(
      `npx lifeboat-runner restore --name app-db --identity "$IDENTITY" --target-url "$TARGET_URL" --dest s3://lifeboat-prod-backups/backups --endpoint ${R2_ENDPOINT} --region auto`,
    );
    // The targets: a fresh database / volume, the DR target's password never printed.
    const s = section(md, "## Restore with the runner");
    expect(s).toContain("export TARGET_URL=postgres://app@dr-db.internal:5432/app");
    expect(s).toContain("export TARGET_DIR=/srv/dr/n8n/n8n-data ");
    expect(md).not.toContain("hunter2");
  });

  test("'Get back one table / one file': runner commands from restoreArgs with --table/--schema and --path, stock scripts equal to the ones the stock-tools e2e test runs", () => {
    const s = section(md, "## Get back one table / one file");
    expect(runnerLines(s)).toEqual([
      RUN + shellJoin(restoreArgs({ name: "app-db", identity: "$IDENTITY", targetUrl: "$TARGET_URL", tables: ["$TABLE"], schemas: ["$SCHEMA"], ...dest })),
      RUN + shellJoin(restoreArgs({ name: "n8n-data", identity: "$IDENTITY", targetDir: "$TARGET_DIR", paths: ["path/inside/the/archive"], ...dest })),
    ]);
    expect(s).toContain("export TARGET_URL=postgres://app@dr-db.internal:5432/app_staging ");
    const stock = blocks(s).filter((b) => b.startsWith("#!/usr/bin/env bash"));
    const vars = { endpoint: R2_ENDPOINT, region: "auto", bucket: "lifeboat-prod-backups", prefix: "backups", key: "", identity: "$HOME/.lifeboat/prod-age-identity.txt" };
    expect(stock).toEqual([
      stockRestoreScript({ ...vars, kind: "postgres", source: "app-db", target: "postgres://app@dr-db.internal:5432/app_staging", table: { schema: "public", name: "orders" } }),
      stockRestoreScript({ ...vars, kind: "volume", source: "n8n-data", target: "/srv/restore/n8n-data-files", member: "path/inside/the/archive" }),
    ]);
    expect(stock[0]).toMatch(/pg_restore \$owner --exit-on-error -d "\$TARGET_URL" --schema "\$SCHEMA" --table "\$TABLE" backup\.dump/);
    expect(stock[1]).toMatch(/tar -x -C "\$TARGET_DIR" --keep-old-files .* --wildcards "\.\/\$\{MEMBER#\/\}"/);
    // What --force does to an existing target is said where the restore commands are.
    expect(section(md, "## Restore with the runner")).toMatch(/renamed to `DB_before_restore_TIME`.*never deletes or merges|never deletes or merges.*renamed to `DB_before_restore_TIME`/s);
    expect(md).not.toMatch(/--clean/);
  });

  test("list, status and verify commands come from the runner's builders, per source", () => {
    expect(runnerLines(section(md, "## List backups"))).toEqual([
      RUN + shellJoin(listArgs({ name: "app-db", ...dest })),
      RUN + shellJoin(listArgs({ name: "n8n-data", ...dest })),
      RUN + shellJoin(listArgs({ name: "app-db", dest: "s3://lifeboat-prod-replica-1/backups", endpoint: S3_ENDPOINT, region: "eu-central-1" })),
      RUN + shellJoin(listArgs({ name: "n8n-data", dest: "s3://lifeboat-prod-replica-1/backups", endpoint: S3_ENDPOINT, region: "eu-central-1" })),
    ]);
    expect(runnerLines(section(md, "## Are the backups healthy"))).toEqual([
      RUN + shellJoin(statusArgs({ name: "app-db", maxAge: maxAgeFor("0 * * * *"), minSize: "1000000", maxShrink: 0.5, maxTableShrink: 0.5, rto: "45m", ...dest })),
      RUN + shellJoin(statusArgs({ name: "n8n-data", maxAge: maxAgeFor("0 3 * * *"), maxShrink: 0.5, maxTableShrink: 0.5, rto: "4h", ...dest })),
    ]);
    expect(runnerLines(section(md, "## Verify a backup"))).toEqual([
      RUN + shellJoin(verifyArgs({ name: "app-db", identity: "$IDENTITY", scratchUrl: "$SCRATCH_URL", ...dest })),
      RUN + shellJoin(verifyArgs({ name: "n8n-data", identity: "$IDENTITY", ...dest })),
    ]);
  });

  test("prerequisites: the age identity from the stack's secret config, restorer credentials from the secret output", () => {
    const pre = section(md, "## Before you start");
    expect(pre).toContain("pulumi config get lifeboat:ageIdentity --stack prod > \"$IDENTITY\"");
    expect(pre).toContain('pulumi stack output "${2:-credentials}" --show-secrets --json --stack prod');
    expect(pre).toContain(".restorer.accessKeyId");
    expect(pre).toContain("age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx");
  });

  test("the stock-tools block per source is the shared script with this environment's values filled in", () => {
    const stock = section(md, "## Restore with stock tools only");
    const [pg, vol] = blocks(stock);
    expect(pg).toBe(stockRestoreScript({
      kind: "postgres", endpoint: R2_ENDPOINT, region: "auto", bucket: "lifeboat-prod-backups", prefix: "backups", source: "app-db",
      key: "", identity: "$HOME/.lifeboat/prod-age-identity.txt", target: "postgres://app@dr-db.internal:5432/app",
    }));
    expect(pg!.endsWith(STOCK_RESTORE_SCRIPT)).toBe(true);
    expect(pg).toContain(`ENDPOINT=${R2_ENDPOINT}\nexport AWS_REGION=auto\nBUCKET=lifeboat-prod-backups\nPREFIX=backups\nSOURCE=app-db\nKEY=''\nIDENTITY="$HOME/.lifeboat/prod-age-identity.txt"\nTARGET_URL=postgres://app@dr-db.internal:5432/app\n`);
    expect(vol!.endsWith(`${STOCK_FETCH}\n${STOCK_DECODE.volume}`)).toBe(true);
    expect(vol).toContain("TARGET_DIR=/srv/dr/n8n/n8n-data\n");
  });

  test("the generated stock scripts are valid bash", () => {
    for (const b of blocks(md)) execFileSync("bash", ["-n", "-c", b]);
  });

  test("fail over and fail back: the pulumi commands, what happens, and the replica's restore commands", () => {
    const f = section(md, "## Fail over and fail back");
    expect(f).toContain("pulumi config set lifeboat:failover true --stack prod\npulumi up --stack prod");
    expect(f).toContain("pulumi config set lifeboat:failover false --stack prod\npulumi up --stack prod");
    expect(f).toContain("write to the replica `lifeboat-prod-replica-1`");
    expect(f).toContain("Backups written to the replica during the failover stay on the replica");
    expect(f).toContain("| `app-db` | `postgres://app@dr-db.internal:5432/app` | 45m |");
    const replica = { dest: "s3://lifeboat-prod-replica-1/backups", endpoint: S3_ENDPOINT, region: "eu-central-1" };
    expect(runnerLines(f)).toEqual([
      RUN + shellJoin(restoreArgs({ name: "app-db", identity: "$IDENTITY", targetUrl: "$TARGET_URL", ...replica })),
      RUN + shellJoin(restoreArgs({ name: "n8n-data", identity: "$IDENTITY", targetDir: "$TARGET_DIR", ...replica })),
      `${RUN}replicate --all --to s3://lifeboat-prod-backups/backups --to-endpoint ${R2_ENDPOINT} --to-region auto --dest s3://lifeboat-prod-replica-1/backups --endpoint ${S3_ENDPOINT} --region eu-central-1`,
    ]);
  });

  test("every classic scenario has a heading with the RPO/RTO the config promises for the sources it concerns", () => {
    const headings = md.split("\n").filter((l) => l.startsWith("### ") && section(md, "## Scenarios").includes(l));
    expect(headings).toEqual([
      "### Database corruption (bad migration, accidental DELETE, broken disk pages) — `app-db` RPO 1h, RTO 45m",
      "### Lost volume (deleted volume, failed disk) — `n8n-data` RPO 24h, RTO 4h",
      "### Server loss (the Docker host is gone) — `app-db` RPO 1h, RTO 45m; `n8n-data` RPO 24h, RTO 4h",
      "### Ransomware or a compromised account — `app-db` RPO 1h, RTO 45m; `n8n-data` RPO 24h, RTO 4h",
    ]);
    const corruption = section(md, "### Database corruption");
    expect(runnerLines(corruption)).toEqual([
      RUN + shellJoin(restoreArgs({ name: "app-db", identity: "$IDENTITY", targetUrl: "$TARGET_URL", at: "2026-01-31T23:00:00Z", ...dest })),
    ]);
    expect(runnerLines(section(md, "### Lost volume"))).toEqual([
      RUN + shellJoin(restoreArgs({ name: "n8n-data", identity: "$IDENTITY", targetDir: "$TARGET_DIR", ...dest })),
    ]);
  });

  test("in failover, the runbook says so up front", () => {
    expect(md).not.toContain("in FAILOVER now");
    expect(renderRunbook({ ...prod, failover: true })).toContain("**This stack is in FAILOVER now**");
  });

  test("shell quoting: names that need quotes are quoted, variables stay expandable", () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("")).toBe("''");
    expect(shellJoin(["restore", "--target-url", "$TARGET_URL", "--name", "a b"])).toBe(`restore --target-url "$TARGET_URL" --name 'a b'`);
  });
});

describe("docs/runbook.md", () => {
  test("its stock-restore block (run by the postgres end-to-end test) is the shared script, verbatim", () => {
    const doc = readFileSync(join(__dirname, "../../docs/runbook.md"), "utf8");
    const m = /<!-- stock-restore:begin -->\s*```bash\n([\s\S]*?)```\s*<!-- stock-restore:end -->/.exec(doc);
    expect(m).not.toBeNull();
    // On a mismatch: paste STOCK_RESTORE_SCRIPT from components/runbook/stockTools.ts into the block.
    expect(m![1]).toBe(STOCK_RESTORE_SCRIPT);
  });

  test("its stock-pitr block (run by the PITR end-to-end test) is the shared script, verbatim", () => {
    const doc = readFileSync(join(__dirname, "../../docs/runbook.md"), "utf8");
    const m = /<!-- stock-pitr:begin -->\s*```bash\n([\s\S]*?)```\s*<!-- stock-pitr:end -->/.exec(doc);
    expect(m).not.toBeNull();
    // On a mismatch: paste STOCK_PITR_SCRIPT from components/runbook/stockTools.ts into the block.
    expect(m![1]).toBe(STOCK_PITR_SCRIPT);
  });

  test("no runner command under sudo (it drops LIFEBOAT_* and AWS_*), and psql reaches a spare port with -h", () => {
    const doc = readFileSync(join(__dirname, "../../docs/runbook.md"), "utf8");
    expect(doc).not.toMatch(/^sudo (-u \S+ )?lifeboat-runner/m);
    expect(doc).not.toMatch(/psql -p/);
  });

  test("its other-kinds blocks are the shared step 3 of each kind", () => {
    const doc = readFileSync(join(__dirname, "../../docs/runbook.md"), "utf8");
    for (const kind of ["volume", "redis", "sqlite"] as const) expect(doc).toContain(STOCK_DECODE[kind]);
    expect(doc).toContain(STOCK_ONE_TABLE);
    expect(doc).toContain(STOCK_ONE_FILE);
  });
});

describe("runbookInputFromConfig", () => {
  test("the prod stack's config gives a runbook with every source's objectives and restore command", () => {
    const file = readStackFile({ projectDir: join(__dirname, "../.."), stack: "prod" });
    const config = validateStackConfig(rawStackConfig(file.config), "prod");
    const primary = { bucketName: "lifeboat-prod-backups", endpoint: R2_ENDPOINT, region: "auto" };
    const replica = { bucketName: "lifeboat-prod-replica-1", endpoint: S3_ENDPOINT, region: "eu-central-1" };
    const input = runbookInputFromConfig(config, { primary, replicas: [replica] });
    expect(input.sources.map((s) => [s.name, s.kind, s.rpo, s.rto])).toEqual(config.sources.map((s) => [s.name, s.kind, s.rpo, s.rto]));
    expect(input.primary).toMatchObject({ provider: "r2", jurisdiction: "eu", location: "weur", ...primary });
    expect(input.replicas).toEqual([{ provider: "s3", ...replica }]);
    const doc = renderRunbook(input);
    for (const s of config.sources) {
      expect(doc).toContain(`| \`${s.name}\` |`);
      expect(doc).toContain(`--name ${s.name} --identity "$IDENTITY"`);
    }
    expect(doc).not.toContain("[secret]");
    expect(() => runbookInputFromConfig(config, { primary, replicas: [] })).toThrow(/1 replicas configured, 0 resolved/);
  });
});

describe("renderRunbook for a point-in-time (pitr) Postgres source", () => {
  const pitrInput: RunbookInput = {
    ...prod,
    sources: [{ ...prod.sources[0]!, pitr: true, walFlushInterval: "30s", rpo: "5m" }, prod.sources[1]!],
  };
  const doc = renderRunbook(pitrInput);
  const pitr = section(doc, "## Restore to a point in time");
  const pitrRestore = RUN + shellJoin(restoreArgs({ name: "app-db", at: "$AT", targetDir: "$TARGET_DIR", identity: "$IDENTITY", ...dest }));

  test("has a 'Restore to a point in time' section with the exact restoreArgs command, pg_ctl start, the recovery check and promote", () => {
    const bash = blocks(pitr).join("\n");
    expect(bash).toContain(pitrRestore);
    expect(pitrRestore).toContain(`restore --name app-db --at "$AT" --identity "$IDENTITY" --target-dir "$TARGET_DIR" --dest s3://lifeboat-prod-backups/backups`);
    expect(bash).toContain("use_restorer app-db");
    expect(bash).toContain("export TARGET_DIR=/var/lib/postgresql/restored/app-db");
    expect(bash).toMatch(/^export AT='\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'/m);
    // Then start it, check recovery ended, promote if needed: in that order.
    const order = [pitrRestore, `chown -R postgres:postgres "$TARGET_DIR"`, `pg_ctl start -D "$TARGET_DIR"`, "SELECT pg_is_in_recovery()", `pg_ctl promote -D "$TARGET_DIR"`].map((x) => bash.indexOf(x));
    expect(order.every((n) => n >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(pitr).toContain("30s (the WAL flush interval)");
    expect(pitr).toContain("recovery_target_time");
    expect(pitr).toContain("lifeboat_restore");
    expect(pitr).toContain("wal-fetch");
    // What the database needs for wal-stream, consistent with docs/runbook.md.
    expect(pitr).toContain("### What the database needs for wal-stream");
    for (const x of ["LOGIN REPLICATION", "wal_level = replica", "max_wal_senders", "max_replication_slots", "host  replication  lifeboat_repl", "`lifeboat_app_db`"]) expect(pitr).toContain(x);
    const docs = section(readFileSync(join(__dirname, "../../docs/runbook.md"), "utf8"), "## Restore to a point in time");
    for (const x of ["wal_level = replica", "max_wal_senders = 10          # at least 2: wal-stream plus a running basebackup", "max_replication_slots = 10", "host  replication  lifeboat_repl  10.0.0.0/24  scram-sha-256", "recovery_target_action = 'promote'"]) {
      expect(docs).toContain(x);
      expect(pitr).toContain(x);
    }
    expect(doc).not.toContain("hunter2");
  });

  test("the PITR section comes after 'Restore with the runner', whose block for the source restores --at latest into a data directory", () => {
    expect(doc.indexOf("## Restore to a point in time")).toBeGreaterThan(doc.indexOf("## Restore with the runner"));
    const runner = section(doc, "### `app-db`: PostgreSQL");
    expect(blocks(runner).join("\n")).toContain(RUN + shellJoin(restoreArgs({ name: "app-db", at: "latest", targetDir: "$TARGET_DIR", identity: "$IDENTITY", ...dest })));
    expect(runner).not.toContain("--target-url");
    // The volume source is unchanged.
    expect(doc).toContain(RUN + shellJoin(restoreArgs({ name: "n8n-data", identity: "$IDENTITY", targetDir: "$TARGET_DIR", ...dest })));
  });

  test("database corruption: the PITR source restores to a second before the damage", () => {
    const sc = section(doc, "### Database corruption");
    const bash = blocks(sc).join("\n");
    expect(bash).toMatch(/export AT='2026-01-31T22:59:59Z' {3}# point-in-time: ONE SECOND before the damage/);
    expect(bash).toContain(pitrRestore);
    expect(bash).not.toContain("--target-url");
    expect(sc).toMatch(/a second before the damage/);
  });

  test("verify needs no scratch database for the PITR source and says it runs pg_verifybackup", () => {
    const v = section(doc, "## Verify a backup");
    expect(v).toContain(RUN + shellJoin(verifyArgs({ name: "app-db", identity: "$IDENTITY", ...dest })));
    expect(blocks(v).join("\n")).not.toContain("SCRATCH_URL"); // no postgres source needs one here
    expect(v).toContain("pg_verifybackup");
  });

  test("the stock-tools section gives the PITR source the shared stock PITR script (the one pitr.e2e runs), not the pg_dump one", () => {
    const st = section(doc, "### `app-db` with stock tools");
    const [script, ...rest] = blocks(st);
    expect(rest).toEqual([]);
    expect(script!.endsWith(STOCK_PITR_SCRIPT)).toBe(true);
    expect(script).toContain("SOURCE=app-db\nKEY=''\nAT=latest\n");
    expect(script).not.toContain("pg_restore");
    execFileSync("bash", ["-n", "-c", script!]);
  });

  test("PITR: psql reaches the restored server through -h (its socket in the data directory); no runner command under sudo", () => {
    const bash = blocks(section(doc, "## Restore to a point in time")).join("\n");
    expect(bash).toContain(`-o "-p 5433 -k $TARGET_DIR"`);
    expect(bash).toContain(`psql -h "$TARGET_DIR" -p 5433`);
    expect(bash).not.toMatch(/psql -p/);
    expect(doc).not.toMatch(/sudo (-u \S+ )?lifeboat-runner/); // sudo drops the LIFEBOAT_* and AWS_* variables
  });

  test("PITR: the steps after a promotion, in order: sidecar to the new primary, base backup on the new timeline, no recovery target left, old slot dropped", () => {
    const ap = section(doc, "### After a promotion (a new timeline)");
    const bash = blocks(ap).join("\n");
    const order = ["Point the wal-stream sidecar", "status --name app-db", "basebackup --name app-db --fast-checkpoint", "grep -E '^(recovery_target|restore_command)'", "pg_drop_replication_slot('lifeboat_app_db')"].map((x) => bash.indexOf(x));
    expect(order.every((n) => n >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  test("without pitr there is no point-in-time section", () => {
    expect(md).not.toContain("## Restore to a point in time");
    expect(md).not.toContain("pg_ctl");
    expect(md).not.toContain('export AT=');
  });

  test("runbookInputFromConfig carries pitr and walFlushInterval", () => {
    const file = readStackFile({ projectDir: join(__dirname, "../.."), stack: "prod" });
    const raw = rawStackConfig(file.config);
    const config = validateStackConfig(raw, "prod");
    const pg = config.sources.find((s) => s.kind === "postgres")!;
    const withPitr = { ...config, sources: config.sources.map((s) => (s === pg ? { ...s, pitr: true, walFlushInterval: "15s" } : s)) } as typeof config;
    const primary = { bucketName: "lifeboat-prod-backups", endpoint: R2_ENDPOINT, region: "auto" };
    const replicas = config.replicas.map((_, n) => ({ bucketName: `replica-${n}`, endpoint: S3_ENDPOINT, region: "eu-central-1" }));
    const input = runbookInputFromConfig(withPitr, { primary, replicas });
    expect(input.sources.find((s) => s.name === pg.name)).toMatchObject({ pitr: true, walFlushInterval: "15s" });
    expect(input.sources.filter((s) => s.name !== pg.name).every((s) => s.pitr === undefined)).toBe(true);
    expect(renderRunbook(input)).toContain("## Restore to a point in time");
    const plain = runbookInputFromConfig(config, { primary, replicas });
    expect(plain.sources.some((s) => s.pitr)).toBe(pg.pitr === true);
  });
});
