import fc from "fast-check";
import { createRoleSql, rolePlan, PgRole } from "../../runner/src/pgroles";
import { describeUserObjects, workDirShortfall } from "../../runner/src/commands/restore";

const role = (name: string, memberOf: Array<{ role: string; admin: boolean }> = [], login = false): PgRole => ({
  name, login, superuser: false, createdb: false, createrole: false, inherit: true, replication: false, bypassrls: false, connectionLimit: -1, memberOf,
});

describe("roles recorded in the manifest, replayed on restore", () => {
  test("CREATE ROLE carries every recorded attribute, quotes the name, never a password", () => {
    const sql = createRoleSql({ ...role('we"ird', [], true), createdb: true, connectionLimit: 5 });
    expect(sql).toBe('CREATE ROLE "we""ird" WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5');
    expect(sql).not.toMatch(/PASSWORD/);
  });

  test("plan: create only what the target lacks, grant only memberships it lacks; onlyCreated leaves existing roles alone", () => {
    const recorded = [role("app", [{ role: "pg_read_all_data", admin: false }]), role("reporter", [{ role: "readers", admin: true }], true), role("readers")];
    const existing = new Map([["app", new Set<string>()], ["postgres", new Set<string>()]]);
    expect(rolePlan(recorded, existing)).toEqual({
      create: [recorded[1], recorded[2]],
      grants: ['GRANT "pg_read_all_data" TO "app"', 'GRANT "readers" TO "reporter" WITH ADMIN OPTION'],
    });
    expect(rolePlan(recorded, existing, true).grants).toEqual(['GRANT "readers" TO "reporter" WITH ADMIN OPTION']);
  });

  test("property: a target that already holds every role and membership needs nothing", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 6 }), fc.infiniteStream(fc.boolean()), (names, coin) => {
        const recorded = names.map((n) => role(n, names.filter((m) => m !== n && coin.next().value).map((m) => ({ role: m, admin: false }))));
        const existing = new Map(recorded.map((r) => [r.name, new Set(r.memberOf.map((m) => m.role))]));
        expect(rolePlan(recorded, existing)).toEqual({ create: [], grants: [] });
      }),
    );
  });
});

describe("restore target and work directory checks", () => {
  test("describeUserObjects names each kind found, singular or plural, and is empty for an empty database", () => {
    expect(describeUserObjects({ relations: 0, functions: 0, types: 0, "large objects": 0, extensions: 0, schemas: 0 })).toBe("");
    expect(describeUserObjects({ relations: 0, functions: 2, types: 0, "large objects": 1, extensions: 0, schemas: 0 })).toBe("2 functions, 1 large object");
  });

  test("property: the work directory is short exactly when it has less than the decoded dump plus 1 MiB", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 2 ** 40 }), (free, raw) => {
        const why = workDirShortfall("/w", free, raw, "p/db/daily/k");
        expect(why === undefined).toBe(free >= raw + 1024 * 1024);
        if (why) expect(why).toMatch(/^--work-dir \/w has .* free, .*p\/db\/daily\/k.*LIFEBOAT_WORK_DIR/);
      }),
    );
  });
});
