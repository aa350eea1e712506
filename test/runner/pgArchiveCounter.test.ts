/**
 * Row counts read from pg_dump's custom-format archive (runner/src/sources/pgArchiveCounter.ts):
 * against archives written here byte by byte (the layout of pg_backup_archiver.c and
 * pg_backup_custom.c, every version the counter reads), against real `pg_dump -Fc -Z0` output of
 * generated tables compared with count(*), and against truncated and garbled archives, which must
 * fail rather than yield counts. Last, a real backup reads every table once (no count pass).
 */
import fc from "fast-check";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Client } from "pg";
import { backupArgs } from "lifeboat-core";
import { ArchiveFormatError, ArchiveRowCounter, CustomArchiveRowCounter, withBufferedStdout } from "../../runner/src/sources/pgArchiveCounter";
import { encode } from "../../runner/src/pipeline";
import { startPostgres, PgServer } from "../support/postgres";
import { ageKey, describeRun, requireBuiltRunner, runner } from "../support/runner";

jest.setTimeout(180_000);

// ---------- an archive writer, field for field as pg_dump writes them ----------

type Version = [number, number, number];
interface FakeTable {
  schema: string;
  name: string;
  /** The table's COPY text data, exactly as the chunks carry it. */
  data: Buffer;
  /** Chunk sizes to cut `data` into (the rest in one chunk). */
  cuts?: number[];
}

class Writer {
  private readonly parts: Buffer[] = [];
  constructor(private readonly intSize = 4) {}
  byte(b: number): this {
    this.parts.push(Buffer.from([b]));
    return this;
  }
  raw(b: Buffer | string): this {
    this.parts.push(Buffer.isBuffer(b) ? b : Buffer.from(b, "utf8"));
    return this;
  }
  int(v: number): this {
    const b = Buffer.alloc(1 + this.intSize);
    b[0] = v < 0 ? 1 : 0;
    let x = Math.abs(v);
    for (let i = 0; i < this.intSize; i++, x = Math.floor(x / 256)) b[1 + i] = x % 256;
    this.parts.push(b);
    return this;
  }
  str(s: string | null): this {
    if (s === null) return this.int(-1);
    const b = Buffer.from(s, "utf8");
    return this.int(b.length).raw(b);
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A custom-format archive: one TOC entry per table plus a schema-only entry and optional large objects. */
function fakeArchive(tables: FakeTable[], o: { version?: Version; blobs?: Buffer[]; compression?: number } = {}): Buffer {
  const [vmaj, vmin, vrev] = o.version ?? [1, 14, 0];
  const v = (vmaj << 16) | (vmin << 8) | vrev;
  const w = new Writer();
  w.raw("PGDMP").byte(vmaj).byte(vmin).byte(vrev).byte(4).byte(8).byte(1);
  if (v >= 0x010f00) w.byte(o.compression ?? 0);
  else w.int(o.compression ?? 0);
  for (const x of [12, 30, 10, 1, 11, 126, 0]) w.int(x);
  w.str("app").str("15.20").str("15.20");
  const entries: Array<{ id: number; desc: string; tag: string; ns: string; data: boolean; copy: string | null }> = [
    { id: 1, desc: "SCHEMA", tag: "crm", ns: "", data: false, copy: null },
    ...tables.map((t, i) => ({ id: 10 + i, desc: "TABLE DATA", tag: t.name, ns: t.schema, data: true, copy: `COPY ${t.schema}.${t.name} FROM stdin;\n` })),
    ...(o.blobs ? [{ id: 99, desc: "BLOBS", tag: "BLOBS", ns: "", data: true, copy: null }] : []),
  ];
  w.int(entries.length);
  for (const e of entries) {
    w.int(e.id).int(e.data ? 1 : 0).str("1259").str(String(16000 + e.id)).str(e.tag).str(e.desc).int(e.data ? 3 : 2);
    w.str("").str("").str(e.copy).str(e.ns).str("");
    if (v >= 0x010e00) w.str("heap");
    if (v >= 0x011000) w.int(114);
    w.str("postgres").str("false").str("1").str(null);
    w.byte(e.data ? 1 : 3).raw(Buffer.alloc(8)); // K_OFFSET_POS_NOT_SET or K_OFFSET_NO_DATA, offset 0
  }
  tables.forEach((t, i) => {
    w.byte(1).int(10 + i);
    let at = 0;
    for (const n of t.cuts ?? []) {
      if (n <= 0 || at >= t.data.length) continue;
      const piece = t.data.subarray(at, Math.min(t.data.length, at + n));
      w.int(piece.length).raw(piece);
      at += piece.length;
    }
    if (at < t.data.length) w.int(t.data.length - at).raw(t.data.subarray(at));
    w.int(0);
  });
  if (o.blobs) {
    w.byte(3).int(99);
    o.blobs.forEach((b, i) => {
      w.int(70000 + i);
      if (b.length) w.int(b.length).raw(b);
      w.int(0);
    });
    w.int(0);
  }
  return w.bytes();
}

/** Feeds `bytes` to a counter in writes of the given sizes (cycled), then ends it. */
/**
 * The counts of an archive written in pieces of the given sizes, in turn. Every call counts it
 * twice: with the pieces kept by reference, and as a reader with one reused buffer hands them
 * over (`transient`: the buffer is overwritten with junk after each write), and requires the
 * same result or the same error from both.
 */
function count(bytes: Buffer, writes: number[] = [bytes.length]): Record<string, number> {
  const outcome = (transient: boolean) => {
    try {
      return { counts: countPieces(bytes, writes, transient) };
    } catch (e) {
      return { error: e as Error };
    }
  };
  const byReference = outcome(false);
  const reused = outcome(true);
  expect(reused.error?.message ?? reused.counts).toEqual(byReference.error?.message ?? byReference.counts);
  if (byReference.error) throw byReference.error;
  return byReference.counts!;
}

function countPieces(bytes: Buffer, writes: number[], transient: boolean): Record<string, number> {
  const c = new CustomArchiveRowCounter();
  const scratch = Buffer.alloc(Math.max(1, ...writes));
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = Math.max(1, writes[i % writes.length]!);
    const piece = bytes.subarray(at, at + n);
    if (transient) {
      piece.copy(scratch);
      c.write(scratch.subarray(0, piece.length), true);
      scratch.fill(0xa5);
    } else c.write(piece);
    at += n;
  }
  return Object.fromEntries(c.end().map((t) => [`${t.schema}.${t.name}`, t.rows]));
}

/** One value as text COPY writes it (NULL is \N; backslash, newline, CR and tab escaped). */
function copyText(v: string | null): string {
  if (v === null) return "\\N";
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
}
const copyLines = (rows: Array<Array<string | null>>) => rows.map((r) => r.map(copyText).join("\t") + "\n").join("");

const TERMINATOR = "\\.\n\n\n";
const value = fc.option(fc.string({ unit: fc.constantFrom("a", "\n", "\\", "\t", "\r", ".", "é", "😀", " ", "N") , maxLength: 12 }), { nil: null });

describe("counting rows in archives written byte by byte", () => {
  test("rows are the COPY lines, with or without the \\. terminator, however the bytes are chunked and written", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.array(value, { minLength: 1, maxLength: 3 }), { maxLength: 12 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom<Version>([1, 13, 0], [1, 14, 0], [1, 15, 0], [1, 16, 0]),
        (tables, terminator, cuts, writes, version) => {
          const fake = tables.map((rows, i) => ({ schema: "crm", name: `t${i}`, data: Buffer.from(copyLines(rows) + (terminator ? TERMINATOR : "")), cuts }));
          const want = Object.fromEntries(tables.map((rows, i) => [`crm.t${i}`, rows.length]));
          expect(count(fakeArchive(fake, { version }), writes)).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("tables without columns (empty lines are rows) and lines that only look like the terminator", () => {
    const zeroCols = (n: number, term: boolean) => Buffer.from("\n".repeat(n) + (term ? TERMINATOR : ""));
    const a = fakeArchive([
      { schema: "public", name: "nocols", data: zeroCols(5, true), cuts: [1, 1, 1, 1, 1] },
      { schema: "public", name: "nocols_no_term", data: zeroCols(3, false) },
      { schema: "public", name: "empty", data: Buffer.from(TERMINATOR) },
      { schema: "public", name: "really_empty", data: Buffer.alloc(0) },
      // the values "\." and "x\." are written \\. and x\\. : rows, not terminators
      { schema: "public", name: "dots", data: Buffer.from(copyLines([["\\."], ["x\\."]]) + TERMINATOR), cuts: [2, 3, 1] },
    ]);
    for (const writes of [[a.length], [1], [3, 5]]) {
      expect(count(a, writes)).toEqual({ "public.nocols": 5, "public.nocols_no_term": 3, "public.empty": 0, "public.really_empty": 0, "public.dots": 2 });
    }
  });

  test("large objects are skipped, never counted as rows", () => {
    const lo = [Buffer.from("line\nline\nline\n"), Buffer.alloc(0), Buffer.from("\n\n")];
    expect(count(fakeArchive([{ schema: "public", name: "docs", data: Buffer.from("a\nb\n" + TERMINATOR) }], { blobs: lo }), [7])).toEqual({ "public.docs": 2 });
  });

  test("a compressed archive is refused: its rows cannot be read", () => {
    expect(() => count(fakeArchive([], { compression: 6 }))).toThrow(/compressed/);
    expect(() => count(fakeArchive([], { version: [1, 15, 0], compression: 1 }))).toThrow(/compressed/);
  });
});

describe("a truncated or garbled archive fails instead of yielding counts", () => {
  const good = fakeArchive(
    [
      { schema: "crm", name: "leads", data: Buffer.from(copyLines([["a"], ["b"], ["c"]]) + TERMINATOR), cuts: [2, 2] },
      { schema: "crm", name: "deals", data: Buffer.from(copyLines([["x", null]]) + TERMINATOR) },
    ],
    { blobs: [Buffer.from("blob")] },
  );

  test("every truncation, at every byte, throws ArchiveFormatError", () => {
    expect(count(good)).toEqual({ "crm.leads": 3, "crm.deals": 1 });
    for (let n = 0; n < good.length; n++) {
      expect(() => count(good.subarray(0, n), [5])).toThrow(ArchiveFormatError);
    }
  });

  test("garbled structure (magic, version, format, block type, dumpId, chunk length sign, bytes after the end) throws", () => {
    const at = (i: number, b: number) => {
      const x = Buffer.from(good);
      x[i] = b;
      return x;
    };
    expect(() => count(at(0, 0x58))).toThrow(/PGDMP/);
    expect(() => count(at(6, 99))).toThrow(/version/);
    expect(() => count(at(10, 3))).toThrow(/format/);
    const firstBlock = good.indexOf(Buffer.from([1, 0, 10, 0, 0, 0])); // BLK_DATA, dumpId 10
    expect(firstBlock).toBeGreaterThan(0);
    expect(() => count(at(firstBlock, 7))).toThrow(/block type 7/);
    expect(() => count(at(firstBlock + 2, 42))).toThrow(/dumpId 42/);
    expect(() => count(at(firstBlock + 6, 1))).toThrow(/negative chunk length/);
    expect(() => count(at(firstBlock + 6, 9))).toThrow(/sign byte/);
    expect(() => count(Buffer.concat([good, Buffer.from([1])]))).toThrow(ArchiveFormatError);
    expect(() => count(Buffer.from("PGDMP"))).toThrow(/header/);
  });

  test("through the backup pipeline, a truncated archive fails the stream and nothing ends cleanly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lifeboat-counter-"));
    try {
      const key = ageKey(dir);
      const counter = new ArchiveRowCounter();
      Readable.from([good.subarray(0, good.length - 9)]).pipe(counter);
      const enc = encode(counter, [], [key.recipient], 3, undefined, { direct: true });
      const sink = pipeline(enc.body, new Writable({ write: (_c, _e, cb) => cb() }));
      await expect(sink).rejects.toThrow(/truncated/);
      await expect(enc.done).rejects.toThrow(/truncated/);
      expect(() => counter.tables()).toThrow(/truncated/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the stream wrapper", () => {
  const archive = fakeArchive([{ schema: "crm", name: "leads", data: Buffer.from("a\nb\n" + TERMINATOR) }]);
  const drain = (s: Readable) => pipeline(s, new Writable({ write: (_c, _e, cb) => cb() }));

  test("passes the bytes through unchanged (small writes gathered) and counts once the producer has exited 0", async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => [`row ${i}`, "x".repeat(i % 200)]);
    const big = fakeArchive([{ schema: "crm", name: "leads", data: Buffer.from(copyLines(rows) + TERMINATOR) }]);
    for (const [input, want] of [[archive, 2], [big, 3000]] as const) {
      const counter = new ArchiveRowCounter(Promise.resolve());
      const out: Buffer[] = [];
      const pieces = Array.from({ length: Math.ceil(input.length / 999) }, (_, i) => input.subarray(i * 999, (i + 1) * 999));
      await pipeline(Readable.from(pieces), counter, new Writable({ write: (c, _e, cb) => (out.push(c), cb()) }));
      expect(Buffer.concat(out).equals(input)).toBe(true);
      expect(out.length).toBeLessThanOrEqual(Math.ceil(input.length / 65536) + 1);
      expect(counter.tables()).toEqual([{ schema: "crm", name: "leads", rows: want }]);
    }
  });

  test("an archive cut short because its producer failed reports the producer's error, not a truncated archive", async () => {
    const counter = new ArchiveRowCounter(Promise.reject(new Error("pg_dump exited with code 1: server closed the connection")));
    await expect(drain(Readable.from([archive.subarray(0, archive.length - 4)]).pipe(counter))).rejects.toThrow(/pg_dump exited with code 1/);
  });
});

describe("pg_dump's stdout in 1 MiB blocks", () => {
  test("through stdbuf when it is on PATH, the same bytes out; the command unchanged when it is not", () => {
    const [cmd, args] = withBufferedStdout("sh", ["-c", "for i in $(seq 1 3000); do printf 'row %s\\n' $i; done"]);
    expect([cmd, args.slice(0, 2)]).toEqual(["stdbuf", ["-o1M", "sh"]]);
    const buffered = spawnSync(cmd, args, { encoding: "utf8" }).stdout;
    const plain = spawnSync("sh", args.slice(2), { encoding: "utf8" }).stdout;
    expect(buffered).toBe(plain);
    expect(buffered.split("\n")).toHaveLength(3001);
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      expect(withBufferedStdout("pg_dump", ["-Fc"])).toEqual(["pg_dump", ["-Fc"]]);
    } finally {
      process.env.PATH = path;
    }
  });
});

// ---------- real pg_dump output ----------

describe("against real pg_dump -Fc -Z0 output", () => {
  let pg: PgServer;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  /** Text without NUL and without lone surrogates (PostgreSQL text cannot hold them). */
  const text = fc.option(
    fc
      .string({ unit: fc.oneof(fc.constantFrom("\n", "\\", "\t", "\r", "\\.", "\\N", "\"", "'", "é", "😀"), fc.string({ unit: "grapheme", maxLength: 1 })), maxLength: 20 })
      .map((s) => s.replace(/\u0000/g, "")),
    { nil: null, freq: 4 },
  );
  const table = fc.record({
    rows: fc.array(fc.tuple(text, text, fc.option(fc.uint8Array({ maxLength: 16 }), { nil: null })), { maxLength: 25 }),
    partitioned: fc.boolean(),
  });

  test("for generated tables (escapes, NULLs, unicode, bytea, empty tables, partitions, no columns, many tables, large objects) the counts equal count(*)", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(table, { maxLength: 6 }), fc.nat({ max: 3 }), fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 5 }), async (tables, noCols, writes) => {
        const db = `prop_${run++}`;
        await pg.query("postgres", `CREATE DATABASE ${db}`);
        const c = new Client({ connectionString: pg.url(db) });
        await c.connect();
        try {
          await c.query(`CREATE SCHEMA "odd ""schema"""; CREATE TABLE "odd ""schema""".nocols (); CREATE TABLE "odd ""schema""".untouched (a int)`);
          for (let i = 0; i < noCols; i++) await c.query(`INSERT INTO "odd ""schema""".nocols DEFAULT VALUES`);
          for (const [i, t] of tables.entries()) {
            const name = `t${i}`;
            if (t.partitioned) {
              await c.query(`CREATE TABLE ${name} (a text, b text, c bytea, k int NOT NULL) PARTITION BY LIST (k)`);
              await c.query(`CREATE TABLE ${name}_even PARTITION OF ${name} FOR VALUES IN (0); CREATE TABLE ${name}_odd PARTITION OF ${name} FOR VALUES IN (1)`);
            } else await c.query(`CREATE TABLE ${name} (a text, b text, c bytea, k int NOT NULL)`);
            for (const [j, [a, b, bytes]] of t.rows.entries()) {
              await c.query(`INSERT INTO ${name} VALUES ($1, $2, $3, $4)`, [a, b, bytes === null ? null : Buffer.from(bytes), j % 2]);
            }
          }
          await c.query(`SELECT lo_from_bytea(0, convert_to(E'one\\ntwo\\nthree\\n', 'UTF8'))`);
          await c.query(`CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x`);
          const dump = execFileSync("pg_dump", ["--format=custom", "--compress=0", `--dbname=${pg.url(db)}`], { maxBuffer: 256 * 1024 * 1024 });
          const got = count(dump, writes);
          const truth = await c.query<{ s: string; n: string }>(
            `SELECT n.nspname AS s, c.relname AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
          );
          const want: Record<string, number> = {};
          for (const r of truth.rows) {
            const q = await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ONLY "${r.s.replace(/"/g, '""')}"."${r.n}"`);
            want[`${r.s}.${r.n}`] = Number(q.rows[0]!.n);
          }
          expect(got).toEqual(want); // the materialized view and the large object are not rows of any table
        } finally {
          await c.end();
          await pg.query("postgres", `DROP DATABASE ${db}`);
        }
      }),
      { numRuns: 12 },
    );
  });

  test("the archive's header names the pg_dump that wrote it, as `pg_dump --version` does (the manifest records it without running pg_dump)", async () => {
    const dump = execFileSync("pg_dump", ["-Fc", "-Z0", `--dbname=${pg.url("postgres")}`]);
    const counter = new CustomArchiveRowCounter();
    for (let at = 0; at < dump.length; at += 7) counter.write(dump.subarray(at, at + 7), true);
    counter.end();
    expect(`pg_dump (PostgreSQL) ${counter.dumpVersion}`).toBe(execFileSync("pg_dump", ["--version"], { encoding: "utf8" }).trim());
  });

  test("a real dump truncated anywhere fails", async () => {
    await pg.query("postgres", "CREATE DATABASE trunc");
    await pg.query("trunc", "CREATE TABLE a (x text); INSERT INTO a SELECT repeat('y', g) FROM generate_series(1, 200) g; CREATE TABLE b (); SELECT lo_from_bytea(0, 'z')");
    const dump = execFileSync("pg_dump", ["-Fc", "-Z0", `--dbname=${pg.url("trunc")}`]);
    expect(count(dump)).toEqual({ "public.a": 200, "public.b": 0 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: dump.length - 1 }), fc.integer({ min: 1, max: 999 }), (n, w) => {
        expect(() => count(dump.subarray(0, n), [w])).toThrow(ArchiveFormatError);
      }),
      { numRuns: 400 },
    );
  });

  test("a backup whose dump cannot be counted fails, names the counting, and writes no manifest (pg_dump itself exits 0)", async () => {
    requireBuiltRunner();
    await pg.query("postgres", "CREATE DATABASE uncountable");
    await pg.query("uncountable", "CREATE TABLE a (x int); INSERT INTO a SELECT generate_series(1, 1000)");
    const dir = mkdtempSync(join(tmpdir(), "lifeboat-uncountable-"));
    try {
      const key = ageKey(dir);
      // A pg_dump first on PATH whose archive carries bytes after its end: zstd, age and the
      // store take it happily, only the counter can tell.
      const bin = join(dir, "bin");
      mkdirSync(bin);
      const real = execFileSync("sh", ["-c", "command -v pg_dump"], { encoding: "utf8" }).trim();
      writeFileSync(join(bin, "pg_dump"), `#!/bin/sh\n"${real}" "$@" || exit\nprintf garbage!!\n`);
      chmodSync(join(bin, "pg_dump"), 0o755);
      const out = join(dir, "out");
      const r = await runner(backupArgs({ source: "postgres", name: "uncountable", url: pg.url("uncountable"), recipients: [key.recipient], noUpload: true, localDir: out, json: true }), {
        PATH: `${bin}:${process.env.PATH}`,
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/counting the rows in the dump failed: bad integer sign byte/);
      const manifests = existsSync(out) ? execFileSync("find", [out, "-name", "*.manifest.json"], { encoding: "utf8" }).trim() : "";
      expect(manifests).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a backup reads every table once: one sequential scan each, the counts in its manifest", async () => {
    requireBuiltRunner();
    await pg.query("postgres", "CREATE DATABASE scans");
    await pg.query(
      "scans",
      `CREATE TABLE a (x int); INSERT INTO a SELECT generate_series(1, 5000); CREATE TABLE b (y text); INSERT INTO b VALUES (E'multi\\nline'), (NULL);
       CREATE SCHEMA "x.y"; CREATE TABLE "x.y".z (); INSERT INTO "x.y".z DEFAULT VALUES; INSERT INTO "x.y".z DEFAULT VALUES;
       CREATE SCHEMA x; CREATE TABLE x."y.z" (v int); INSERT INTO x."y.z" VALUES (1), (2), (3);
       CREATE MATERIALIZED VIEW mv AS SELECT x FROM a WHERE x <= 7`,
    );
    const scans = async () => {
      const r = await pg.query<{ relname: string; seq_scan: string }>("scans", "SELECT relname, seq_scan::text FROM pg_stat_user_tables ORDER BY relname");
      return Object.fromEntries(r.map((x) => [x.relname, Number(x.seq_scan)]));
    };
    const before = await scans();
    const dir = mkdtempSync(join(tmpdir(), "lifeboat-scans-"));
    try {
      const key = ageKey(dir);
      const r = await runner(backupArgs({ source: "postgres", name: "scans", url: pg.url("scans"), recipients: [key.recipient], noUpload: true, localDir: join(dir, "out"), json: true }));
      if (r.code !== 0) throw new Error(describeRun(r));
      const m = JSON.parse(r.stdout).manifest;
      // Two tables that print alike as schema.name keep their own counts; the materialized view
      // (no COPY data in a dump) is counted in the snapshot.
      expect(m.postgres.tables).toEqual([
        { table: "public.a", rows: 5000 },
        { table: "public.b", rows: 2 },
        { table: "public.mv", rows: 7 },
        { table: "x.y.z", rows: 3 },
        { table: "x.y.z", rows: 2 },
      ]);
      // Statistics reach the shared counters within a second of the backends going idle.
      let after = await scans();
      for (let i = 0; i < 30 && after.a! - before.a! < 1; i++) {
        await new Promise((res) => setTimeout(res, 200));
        after = await scans();
      }
      await new Promise((res) => setTimeout(res, 1200));
      after = await scans();
      expect({ a: after.a! - before.a!, b: after.b! - before.b! }).toEqual({ a: 1, b: 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
