/**
 * One parser for every way a user may name a Postgres database: a `postgres://` URI (password
 * percent-encoded in the userinfo or given as `?password=`, libpq query parameters such as
 * `sslmode`), or a libpq `key=value` connection string. It yields what each consumer needs:
 * a `pg` client config that carries the password, and for the stock tools (pg_dump, pg_restore,
 * pg_basebackup, pg_receivewal) an argv-safe `--dbname` connection string without it, the
 * password going only into the child's environment (PGPASSWORD). With no password in the
 * string, both sides fall back the way libpq does: PGPASSWORD, then the password file
 * (PGPASSFILE, else ~/.pgpass).
 */
import { Client, ClientConfig } from "pg";
import { parse as parseConnectionString, toClientConfig } from "pg-connection-string";
import pgpass = require("pgpass");
import { UsageError } from "./errors";
import { ENV } from "lifeboat-core";

const ENV_OF_FLAG: Record<string, string> = { "--url": ENV.url, "--target-url": ENV.targetUrl, "--scratch-url": ENV.scratchUrl };

export interface PgConn {
  /** libpq keywords of the connection, the password never among them (host, port, dbname, user, sslmode, …). */
  params: Readonly<Record<string, string>>;
  /** The password the string carried, if any. */
  password?: string;
  /** libpq `key='value'` connection string without the password: safe for argv (`--dbname=`). */
  url: string;
  /** `postgres://user@host:port/db` for messages. */
  display: string;
}

/**
 * The libpq keywords the runner passes on. Each is understood by libpq and by `pg` (through
 * pg-connection-string); others (service files, several hosts, hostaddr, passfile, …) are
 * refused by name rather than honoured by one side and silently ignored by the other.
 */
const KEYWORDS = new Set([
  "host",
  "port",
  "dbname",
  "user",
  "password",
  "sslmode",
  "sslrootcert",
  "sslcert",
  "sslkey",
  "application_name",
  "options",
  "client_encoding",
  "connect_timeout",
]);
const SSLMODES = new Set(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]);

/** Parses `input` (the value of `flag`) into a PgConn; every error names the flag and never echoes the input. */
export function parsePgConn(input: string | undefined, flag = "--url"): PgConn {
  if (!input) throw new UsageError(`${flag} postgres://USER@HOST:PORT/DB (or ${ENV_OF_FLAG[flag] ?? ENV.url}) is required for a postgres source`);
  const all = /^postgres(ql)?:\/\//i.test(input) ? parseUri(input, flag) : /^\s*[A-Za-z_]+\s*=/.test(input) ? parseKeyValue(input, flag) : undefined;
  if (!all) {
    throw new UsageError(`${flag}: must be a postgres:// or postgresql:// URL or a libpq key=value connection string (host=… dbname=…)`);
  }
  for (const k of Object.keys(all)) {
    if (!KEYWORDS.has(k)) throw new UsageError(`${flag}: connection parameter "${k}" is not supported (supported: ${[...KEYWORDS].join(", ")})`);
  }
  const { password, ...params } = all;
  if (!params.dbname) throw new UsageError(`${flag}: names no database (postgres://HOST/DBNAME or dbname=DBNAME)`);
  if (params.host?.includes(",")) throw new UsageError(`${flag}: several hosts are not supported: name one host`);
  // The value is not echoed: in "postgres://user:secret/db" (no host) the password is the "port".
  if (params.port !== undefined && !/^\d{1,5}$/.test(params.port)) throw new UsageError(`${flag}: port must be a number`);
  if (params.sslmode !== undefined && !SSLMODES.has(params.sslmode)) {
    throw new UsageError(`${flag}: sslmode must be one of ${[...SSLMODES].join(", ")}, got ${JSON.stringify(params.sslmode)}`);
  }
  if (params.connect_timeout !== undefined && !/^\d+$/.test(params.connect_timeout)) {
    throw new UsageError(`${flag}: connect_timeout must be whole seconds, got ${JSON.stringify(params.connect_timeout)}`);
  }
  return make(params, password === "" ? undefined : password);
}

function make(params: Record<string, string>, password: string | undefined): PgConn {
  const h = params.host ?? "";
  const host = h.startsWith("/") ? encodeURIComponent(h) : h.includes(":") ? `[${h}]` : h;
  const display = `postgres://${params.user ? encodeURIComponent(params.user) + "@" : ""}${host}${params.port ? ":" + params.port : ""}/${encodeURIComponent(params.dbname ?? "")}`;
  return { params, password, url: toConninfo(params), display };
}

/** The same server and credentials, another database (verify's scratch database). */
export function withDatabase(c: PgConn, dbname: string): PgConn {
  return make({ ...c.params, dbname }, c.password);
}

/** libpq quoting: every value single-quoted, `\` and `'` backslash-escaped. */
export function toConninfo(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}='${v.replace(/[\\']/g, (m) => "\\" + m)}'`)
    .join(" ");
}

function decode(s: string, flag: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new UsageError(`${flag}: the ${what} holds a "%" that is not a percent-escape: write a literal % as %25`);
  }
}

/**
 * `postgres[ql]://[user[:password]@][host][:port][/dbname][?key=value&…]`, as libpq reads it.
 * The authority ends at the first "/", "?" or "#", and the userinfo at the last "@" in it, so an
 * unencoded "@" in the password still works (as WHATWG URL parsing does); an unencoded "/", "?"
 * or "#" cannot be told apart from the path, and is refused with the fix.
 */
function parseUri(input: string, flag: string): Record<string, string> {
  if (/\s/.test(input)) throw new UsageError(`${flag}: a URL cannot hold spaces: percent-encode them (%20)`);
  const rest = input.replace(/^postgres(ql)?:\/\//i, "");
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? "" : rest.slice(end);
  const at = authority.lastIndexOf("@");
  const m = /^(?:\/([^?#]*))?(?:\?([^#]*))?$/.exec(tail);
  if ((at < 0 && tail.split("=")[0]!.includes("@")) || !m) {
    throw new UsageError(`${flag}: not a valid URL: percent-encode "/", "?", "#" and "%" in the user name and password (/ as %2F, ? as %3F, # as %23, % as %25)`);
  }
  const out: Record<string, string> = {};
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(":");
    const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (user) out.user = decode(user, flag, "user name");
    if (colon >= 0) out.password = decode(userinfo.slice(colon + 1), flag, "password");
  }
  const hostport = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority.slice(at + 1))!;
  const host = decode(hostport[1]!.replace(/^\[(.*)\]$/, "$1"), flag, "host");
  if (host) out.host = host;
  if (hostport[2]) out.port = hostport[2];
  if (m[1]) out.dbname = decode(m[1], flag, "database name");
  for (const pair of (m[2] ?? "").split("&").filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq < 0) throw new UsageError(`${flag}: a query parameter has no value (key=value)`);
    const k = decode(pair.slice(0, eq), flag, "query");
    const v = decode(pair.slice(eq + 1), flag, `value of ${k}`);
    // libpq's JDBC compatibility: ssl=true means sslmode=require.
    if (k === "ssl" && v === "true") out.sslmode = "require";
    else out[k] = v;
  }
  return out;
}

/** libpq `key = value` pairs: values bare (up to whitespace) or single-quoted, `\` escaping the next character. */
function parseKeyValue(input: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const n = input.length;
  const ws = () => {
    while (i < n && /\s/.test(input[i]!)) i++;
  };
  for (ws(); i < n; ws()) {
    const k = /^[A-Za-z_]+/.exec(input.slice(i))?.[0];
    if (!k) throw new UsageError(`${flag}: not a key=value connection string: expected a keyword at character ${i + 1}`);
    i += k.length;
    ws();
    if (input[i] !== "=") throw new UsageError(`${flag}: missing "=" after "${k}"`);
    i++;
    ws();
    let v = "";
    if (input[i] === "'") {
      for (i++; ; i++) {
        if (i >= n) throw new UsageError(`${flag}: unterminated quoted value of "${k}"`);
        if (input[i] === "\\" && i + 1 < n) v += input[++i];
        else if (input[i] === "'") break;
        else v += input[i];
      }
      i++;
    } else {
      for (; i < n && !/\s/.test(input[i]!); i++) v += input[i] === "\\" && i + 1 < n ? input[++i] : input[i];
    }
    out[k] = v;
  }
  return out;
}

/** The child environment for a stock tool: PGPASSWORD when the string carried a password. */
export function pgEnv(c: PgConn): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (c.password !== undefined) env.PGPASSWORD = c.password;
  return env;
}

/** The password libpq would use when the string has none: PGPASSWORD, else the password file entry for this connection. */
function fallbackPassword(p: { host?: string; port: number; database?: string; user?: string }): Promise<string | undefined> {
  if (process.env.PGPASSWORD !== undefined) return Promise.resolve(process.env.PGPASSWORD);
  // libpq matches a Unix-socket connection against "localhost" entries.
  const host = !p.host || p.host.startsWith("/") ? "localhost" : p.host;
  return new Promise((resolve) => pgpass({ ...p, host }, resolve));
}

/**
 * A `pg` client config for the connection. Built from the parsed keywords, not a connection
 * string: `pg` lets a connectionString's (empty) password override the `password` field.
 */
export function pgClientConfig(c: PgConn, appName = "lifeboat-runner"): ClientConfig {
  const k: Record<string, string | undefined> = c.params;
  // pg cannot fall back from TLS to plain text as libpq's allow/prefer do: it connects as libpq
  // does with no server TLS (plain), and only require/verify-* make it encrypt.
  const tls = k.sslmode !== undefined && k.sslmode !== "allow" && k.sslmode !== "prefer";
  // pg-connection-string applies the ssl* keywords with libpq's meaning (files read, modes mapped).
  const q = ["sslmode", "sslrootcert", "sslcert", "sslkey"]
    .filter((n) => k[n] !== undefined)
    .map((n) => `${n}=${encodeURIComponent(k[n]!)}`);
  const ssl = tls ? toClientConfig(parseConnectionString(`postgres://x/?uselibpqcompat=true&${q.join("&")}`)).ssl : k.sslmode ? false : undefined;
  return {
    host: k.host,
    port: k.port ? Number(k.port) : undefined,
    user: k.user,
    database: k.dbname,
    ...(ssl !== undefined ? { ssl } : {}),
    ...(k.options ? { options: k.options } : {}),
    ...(k.client_encoding ? { client_encoding: k.client_encoding } : {}),
    ...(k.connect_timeout ? { connectionTimeoutMillis: Number(k.connect_timeout) * 1000 } : {}),
    application_name: k.application_name ?? appName,
    // pg calls this only when the server asks for a password; undefined makes it send none.
    password: c.password ?? (() => fallbackPassword({ host: k.host, port: Number(k.port || 5432), database: k.dbname, user: k.user }) as Promise<string>),
  };
}

export function pgClient(c: PgConn, appName?: string): Client {
  return new Client(pgClientConfig(c, appName));
}
