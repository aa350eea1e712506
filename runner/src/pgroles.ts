/**
 * Roles are cluster-wide, so pg_dump leaves them out: a dump restored onto a new server fails on
 * `role "reporter" does not exist` at the first GRANT or ALTER OWNER. The backup records every
 * role and membership (never a password: pg_roles shows none) in the manifest, and a restore
 * creates the missing ones first.
 */
import { Client } from "pg";
import { quoteIdent } from "./sources/postgres";
import { PgRole } from "./manifest";
import { RunError, errorMessage } from "./errors";

export { PgRole };

/**
 * Every role but the predefined pg_* ones, with its memberships. pg_roles and pg_auth_members
 * are readable by any role, so the backup identity needs no privilege for this.
 */
export const ROLES_SQL = `
SELECT r.rolname AS name, r.rolcanlogin AS login, r.rolsuper AS superuser, r.rolcreatedb AS createdb,
       r.rolcreaterole AS createrole, r.rolinherit AS inherit, r.rolreplication AS replication,
       r.rolbypassrls AS bypassrls, r.rolconnlimit AS "connectionLimit",
       coalesce((SELECT json_agg(json_build_object('role', g.rolname, 'admin', m.admin_option) ORDER BY g.rolname)
                 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '[]'::json) AS "memberOf"
FROM pg_roles r WHERE r.rolname NOT LIKE 'pg\\_%' ORDER BY r.rolname`;

export async function readRoles(c: Client): Promise<PgRole[]> {
  return (await c.query(ROLES_SQL)).rows.map((r) => PgRole.parse(r));
}

/** `CREATE ROLE` with the recorded attributes and no password. */
export function createRoleSql(r: PgRole): string {
  const attrs = [
    r.login ? "LOGIN" : "NOLOGIN",
    r.superuser ? "SUPERUSER" : "NOSUPERUSER",
    r.createdb ? "CREATEDB" : "NOCREATEDB",
    r.createrole ? "CREATEROLE" : "NOCREATEROLE",
    r.inherit ? "INHERIT" : "NOINHERIT",
    r.replication ? "REPLICATION" : "NOREPLICATION",
    r.bypassrls ? "BYPASSRLS" : "NOBYPASSRLS",
    `CONNECTION LIMIT ${r.connectionLimit}`,
  ];
  return `CREATE ROLE ${quoteIdent(r.name)} WITH ${attrs.join(" ")}`;
}

/**
 * What a restore must do so that the dump's owners and grants resolve: create the recorded roles
 * the target lacks, then grant every recorded membership the target lacks (of created and
 * existing roles alike, or with `onlyCreated` of the created ones only). `existing` maps each of the target's roles to the roles it is a member of.
 */
export function rolePlan(recorded: PgRole[], existing: Map<string, Set<string>>, onlyCreated = false): { create: PgRole[]; grants: string[] } {
  const create = recorded.filter((r) => !existing.has(r.name));
  const grants: string[] = [];
  for (const r of onlyCreated ? create : recorded) {
    for (const m of r.memberOf) {
      if (existing.get(r.name)?.has(m.role)) continue;
      grants.push(`GRANT ${quoteIdent(m.role)} TO ${quoteIdent(r.name)}${m.admin ? " WITH ADMIN OPTION" : ""}`);
    }
  }
  return { create, grants };
}

/** The target's roles and their memberships, for {@link rolePlan}. */
export async function existingRoles(c: Client): Promise<Map<string, Set<string>>> {
  const r = await c.query<{ name: string; member_of: string[] }>(
    `SELECT r.rolname AS name, coalesce(array_agg(g.rolname) FILTER (WHERE g.rolname IS NOT NULL), '{}') AS member_of
     FROM pg_roles r LEFT JOIN pg_auth_members m ON m.member = r.oid LEFT JOIN pg_roles g ON g.oid = m.roleid GROUP BY r.rolname`,
  );
  return new Map(r.rows.map((x) => [x.name, new Set(x.member_of)]));
}

/**
 * Makes the target ready for the dump's owners and grants: creates the recorded roles it lacks
 * (without passwords) and grants the recorded memberships it lacks (`onlyCreated`: only those of
 * the roles it created, leaving the cluster's own roles as they are, for verify's scratch cluster). Returns what it did, one
 * line each, and whether the dump's owners can be restored: only a superuser can give objects
 * to other roles, so for anyone else pg_restore runs with --no-owner (objects owned by the
 * restoring role; grants are restored either way).
 */
export async function prepareRoles(
  c: Client,
  recorded: PgRole[],
  onlyCreated = false,
): Promise<{ notes: string[]; created: string[]; restoreOwners: boolean }> {
  const me = (await c.query<{ name: string; superuser: boolean; createrole: boolean }>(
    "SELECT rolname AS name, rolsuper AS superuser, rolcreaterole AS createrole FROM pg_roles WHERE rolname = current_user",
  )).rows[0]!;
  const plan = rolePlan(recorded, await existingRoles(c), onlyCreated);
  if (plan.create.length && !me.superuser && !me.createrole) {
    throw new RunError(
      `the restore target lacks the role(s) ${plan.create.map((r) => r.name).join(", ")} that the backup's owners and grants name, and ${me.name} ` +
        `cannot create roles (no CREATEROLE): restore as a role with CREATEROLE or a superuser, or create them first`,
    );
  }
  const notes: string[] = [];
  const created: string[] = [];
  for (const r of plan.create) {
    try {
      await c.query(createRoleSql(r));
    } catch (e) {
      throw new RunError(`creating role ${r.name} on the restore target: ${errorMessage(e)}`);
    }
    created.push(r.name);
    notes.push(
      r.login
        ? `created role ${r.name} (LOGIN) without a password: set one (ALTER ROLE ${quoteIdent(r.name)} PASSWORD '...') before it can log in`
        : `created role ${r.name} (NOLOGIN)`,
    );
  }
  for (const g of plan.grants) {
    // A membership the restoring role may not grant (e.g. a predefined role without ADMIN) is
    // reported, not fatal: the objects and their grants do not depend on it.
    await c.query(g).then(
      () => notes.push(`${g}`),
      (e) => notes.push(`could not ${g}: ${errorMessage(e)}`),
    );
  }
  if (!me.superuser) notes.push(`owners not restored: ${me.name} is not a superuser, so the restored objects are owned by ${me.name} (grants are restored)`);
  return { notes, created, restoreOwners: me.superuser };
}
