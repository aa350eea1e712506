/** pgpass (a dependency of pg, by the same author) ships no types: the one call the runner makes. */
declare module "pgpass" {
  function pgpass(connInfo: { host?: string; port?: number | string; database?: string; user?: string }, cb: (password: string | undefined) => void): void;
  export = pgpass;
}
