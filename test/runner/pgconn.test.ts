/**
 * The one Postgres connection parser (runner/src/pgconn.ts) and the one redaction
 * (runner/src/redact.ts): every form a user may give keeps its password for the `pg` client,
 * never puts it in the stock tools' argv, and never shows it once redacted.
 */
import fc from "fast-check";
import { pgClient, pgEnv, pgTarget } from "../../runner/src/sources/postgres";
import { parsePgConn, pgClientConfig, toConninfo, withDatabase } from "../../runner/src/pgconn";
import { redactUrl } from "../../runner/src/redact";
import { UsageError } from "../../runner/src/errors";

/** Passwords built from the characters that break URLs, DSNs and shells; the leading marker keeps them from matching other text by chance. */
const RESERVED = [..."@/:%?#&=+;'\"\\ $`!*[]{}|<>,"];
const password = (opts: { whitespace: boolean }) =>
  fc
    .array(fc.oneof(fc.constantFrom(...RESERVED.filter((c) => opts.whitespace || c !== " ")), fc.constantFrom(..."aZ9é€")), { minLength: 1, maxLength: 24 })
    .map((cs) => "Pw" + cs.join(""));

/** libpq quoting of a DSN value. */
const q = (v: string) => `'${v.replace(/[\\']/g, (m) => "\\" + m)}'`;

/** Every form of the same connection (user app, host db.example, port 6543, database crm). */
const forms = (pw: string): Record<string, string> => ({
  "URI, percent-encoded password": `postgres://app:${encodeURIComponent(pw)}@db.example:6543/crm`,
  "postgresql:// URI with sslmode=disable": `postgresql://app:${encodeURIComponent(pw)}@db.example:6543/crm?sslmode=disable`,
  "URI, ?password= query": `postgres://app@db.example:6543/crm?sslmode=disable&password=${encodeURIComponent(pw)}`,
  "key=value DSN": `host=db.example port=6543 user=app password=${q(pw)} dbname=crm`,
});

describe("parsePgConn: every form carries the password to pg and keeps it out of argv", () => {
  test("each form, random passwords with reserved characters", () => {
    fc.assert(
      fc.property(password({ whitespace: true }), (pw) => {
        for (const [form, input] of Object.entries(forms(pw))) {
          const t = pgTarget(input);
          expect({ form, password: t.password }).toEqual({ form, password: pw });
          expect(t.params).toMatchObject({ host: "db.example", port: "6543", user: "app", dbname: "crm" });
          for (const shown of [t.url, t.display, JSON.stringify(t.params)]) {
            expect(shown).not.toContain(pw);
            expect(shown).not.toContain(encodeURIComponent(pw));
          }
          expect(pgClient(t).password).toBe(pw);
          expect(pgEnv(t).PGPASSWORD).toBe(pw);
        }
      }),
      { numRuns: 200 },
    );
  });

  test("an unencoded @ in the password works (the userinfo ends at the last @)", () => {
    const t = pgTarget("postgres://app:p@ss@w0rd@db.example/crm");
    expect(t.password).toBe("p@ss@w0rd");
    expect(t.params).toEqual({ user: "app", host: "db.example", dbname: "crm" });
  });

  test("the argv string is a libpq conninfo that names the same connection, and round-trips any value", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1 }), fc.string({ minLength: 1 }), (db, user) => {
        const t = parsePgConn(toConninfo({ host: "h", dbname: db, user }));
        expect(t.params).toEqual({ host: "h", dbname: db, user });
      }),
    );
    expect(pgTarget("postgres://app:pw@h:5432/crm?sslmode=require").url).toBe("user='app' host='h' port='5432' dbname='crm' sslmode='require'");
  });

  test("no password in the string: none in the env, and pg asks PGPASSWORD or the passfile (as libpq does)", () => {
    const t = pgTarget("postgres://app@h/crm");
    expect(t.password).toBeUndefined();
    expect(pgEnv(t).PGPASSWORD).toBe(process.env.PGPASSWORD);
    expect(typeof pgClientConfig(t).password).toBe("function");
  });

  test("libpq spellings: unix socket host, IPv6, ssl=true, sslmode for pg with libpq's meaning", () => {
    expect(pgTarget("postgres://app@%2Fvar%2Frun%2Fpostgresql/crm").params.host).toBe("/var/run/postgresql");
    expect(pgTarget("postgres://app@[::1]:5433/crm").params).toMatchObject({ host: "::1", port: "5433" });
    expect(pgTarget("postgres://app@h/crm?ssl=true").params.sslmode).toBe("require");
    expect(pgClientConfig(pgTarget("postgres://app@h/crm?sslmode=disable")).ssl).toBe(false);
    expect(pgClientConfig(pgTarget("postgres://app@h/crm?sslmode=require")).ssl).toEqual({ rejectUnauthorized: false });
    expect(pgClientConfig(pgTarget("host=h dbname=crm")).ssl).toBeUndefined();
    expect(pgClientConfig(pgTarget("host=h dbname=crm sslmode=prefer")).ssl).toBe(false);
    expect(pgClientConfig(pgTarget("host=h dbname=crm sslmode=verify-full")).ssl).toEqual({});
  });

  test("withDatabase keeps server and credentials, changes only the database", () => {
    const t = withDatabase(pgTarget("postgres://app:s3cret@h:6543/postgres?sslmode=disable"), "scratch_1");
    expect(t.params).toEqual({ user: "app", host: "h", port: "6543", dbname: "scratch_1", sslmode: "disable" });
    expect(t.password).toBe("s3cret");
    expect(t.display).toBe("postgres://app@h:6543/scratch_1");
  });

  test("bad input: a UsageError naming the flag and the fix, never echoing the password", () => {
    const pw = "Sup3r/S?cret%zz";
    const cases: Array<[string, RegExp]> = [
      [`postgres://app:${pw}@h/crm`, /--target-url: not a valid URL: percent-encode "\/"/],
      [`postgres://app:${encodeURIComponent(pw).replace("%25", "%")}@h/crm`, /--target-url: the password holds a "%" that is not a percent-escape/],
      [`postgres://app:Sup3r%20S3cret@h/crm?service=${encodeURIComponent(pw)}`, /--target-url: connection parameter "service" is not supported/],
      [`host=h password='${pw}`, /--target-url: unterminated quoted value of "password"/],
      [`host=h password=${pw}`, /--target-url: names no database/],
      [`postgres://app:Sup3rS3cret@h:abc/crm`, /--target-url: port must be a number/],
      [`postgres://app:Sup3rS3cret/crm`, /--target-url: port must be a number/], // no host: the password reads as a port
      ["", /--target-url postgres:\/\/USER@HOST:PORT\/DB \(or LIFEBOAT_TARGET_URL\) is required/],
      [`postgres://app:Sup3rS3cret@h/crm?sslmode=on`, /--target-url: sslmode must be one of/],
      [`mysql://app:Sup3rS3cret@h/crm`, /--target-url: must be a postgres:\/\/ or postgresql:\/\/ URL or a libpq key=value/],
      [`postgres://app:Sup3r S3cret@h/crm`, /--target-url: a URL cannot hold spaces/],
    ];
    for (const [input, want] of cases) {
      let err: unknown;
      try {
        pgTarget(input, "--target-url");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(want);
      expect((err as Error).message).not.toMatch(/Sup3r|S3cret/);
    }
  });
});

describe("redactUrl: one redaction for every form", () => {
  /** The forms as they may appear in an error, a log line or an alert, raw ones included. */
  const texts = (pw: string, raw: string): string[] => [
    ...Object.values(forms(pw)),
    `postgres://app:${raw}@db.example:6543/crm`, // unencoded @ / : % ? # in the password
    `cannot connect to postgres://app:${raw}@db.example/crm: connection refused`,
    `host=db.example user=app password=${raw} dbname=crm`, // bare libpq value
    `pg_dump: error: connection to server failed: host=db.example password=${q(pw)} dbname=crm (exit 1)`,
    `PGPASSWORD=${raw} pg_dump -d crm`,
  ];

  test("for random passwords, no redacted form contains the password and the redacted text does not depend on it", () => {
    fc.assert(
      fc.property(password({ whitespace: true }), password({ whitespace: false }), (pw, raw) => {
        const got = texts(pw, raw).map(redactUrl);
        const baseline = texts("Other1", "Other2").map(redactUrl);
        expect(got).toEqual(baseline);
        for (const t of got) {
          expect(t).not.toContain(pw);
          expect(t).not.toContain(raw);
          expect(t).not.toContain(encodeURIComponent(pw));
        }
      }),
      { numRuns: 300 },
    );
  });

  test("keeps what is not secret", () => {
    expect(redactUrl("postgres://app:p%40ss@db.example:6543/crm?sslmode=disable")).toBe("postgres://app:***@db.example:6543/crm?sslmode=disable");
    expect(redactUrl("host=h user=app password='a b' dbname=crm")).toBe("host=h user=app password=*** dbname=crm");
    expect(redactUrl("postgres://app@h/crm?sslmode=disable")).toBe("postgres://app@h/crm?sslmode=disable");
    expect(redactUrl("backup of app failed: pg_dump exited 1")).toBe("backup of app failed: pg_dump exited 1");
    expect(redactUrl("--url: must be a postgres:// URL or a libpq key=value connection string")).toBe("--url: must be a postgres:// URL or a libpq key=value connection string");
    expect(redactUrl("GET /x?api_key=abc123&access_key=k2 sslkey=/etc/client.key")).toBe("GET /x?api_key=*** sslkey=/etc/client.key");
  });
});
