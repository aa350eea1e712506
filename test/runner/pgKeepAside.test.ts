import fc from "fast-check";
import { keptAsideDatabaseName, keptAsideSchemaName, whyNoDatabaseAside } from "../../runner/src/pgKeepAside";

const NOW = new Date("2026-12-01T14:01:25.123Z");

test("kept-aside names: the UTC second, lowercase, usable unquoted", () => {
  expect(keptAsideDatabaseName("app", NOW)).toBe("app_before_restore_20261201t140125z");
  expect(keptAsideSchemaName(NOW)).toBe("lifeboat_before_restore_20261201t140125z");
});

test("a database name never grows past Postgres's 63 bytes (which would silently truncate it): the name is shortened, never the stamp", () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 63, unit: "grapheme" }).filter((s) => Buffer.byteLength(s) <= 63), (db) => {
      const n = keptAsideDatabaseName(db, NOW);
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(63);
      expect(n.endsWith("_before_restore_20261201t140125z")).toBe(true);
      expect(db.startsWith(n.slice(0, -"_before_restore_20261201t140125z".length))).toBe(true);
    }),
  );
});

test("renaming needs ownership (or a superuser), CREATEDB and no other session; each missing condition is named", () => {
  const ok = { db: "app", superuser: false, createdb: true, owns: true, owner: "app", others: 0 };
  expect(whyNoDatabaseAside(ok, "app")).toBeUndefined();
  expect(whyNoDatabaseAside({ ...ok, superuser: true, createdb: false, owns: false }, "postgres")).toBeUndefined();
  expect(whyNoDatabaseAside({ ...ok, owns: false, owner: "admin" }, "app")).toBe("app does not own it (admin does)");
  expect(whyNoDatabaseAside({ ...ok, createdb: false, others: 2 }, "app")).toBe("app lacks CREATEDB; 2 other session(s) are connected to it (stop the app first)");
  expect(whyNoDatabaseAside({ ...ok, superuser: true, others: 1 }, "postgres")).toMatch(/1 other session/);
});
