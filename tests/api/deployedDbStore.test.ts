import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { foldUnquotedName, namesOnMachine } from "../../src/metadata/recordedNames";
import { deployed_db } from "../../src/metadata/schema";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/** The store's machine-scoped queries on the real metadata database. */
let dbs: TestDatabases;
const row = (fields: { dbName: string; username: string; userId: number; vpsId: number; host?: string; legacyNames?: boolean; dbType?: string; status?: string }) => ({
  password: "sealed",
  host: "203.0.113.5",
  dbType: "postgres",
  status: "running",
  ...fields,
});

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
});
afterAll(async () => {
  await dbs?.dropAll();
});

describe("deployed_db store", () => {
  test("role counts and password updates see only the caller's rows of that machine at that address", async () => {
    const [mine] = await dbs.drizzleDb
      .insert(deployed_db)
      .values([
        row({ dbName: "a", username: "app", userId: 1, vpsId: 10 }),
        row({ dbName: "b", username: "app", userId: 1, vpsId: 10 }),
        // The address's previous tenant, and the same user's machine at another address.
        row({ dbName: "a", username: "app", userId: 2, vpsId: 9 }),
        row({ dbName: "c", username: "app", userId: 1, vpsId: 10, host: "203.0.113.6" }),
      ])
      .returning();
    const scope = { userId: 1, vpsId: 10, host: "203.0.113.5", engine: "postgres" as const };
    expect(await dbs.store.countOtherUsersOfRole(scope, "app", mine?.id ?? 0)).toBe(1);
    await dbs.store.setRolePassword(scope, "app", "new-sealed");
    const passwords = (await dbs.drizzleDb.select().from(deployed_db)).map((r) => [r.userId, r.vpsId, r.host, r.password]);
    expect(passwords.sort()).toEqual([
      [1, 10, "203.0.113.5", "new-sealed"],
      [1, 10, "203.0.113.5", "new-sealed"],
      [1, 10, "203.0.113.6", "sealed"],
      [2, 9, "203.0.113.5", "sealed"],
    ]);
    expect((await dbs.store.findByName(scope, "a"))?.userId).toBe(1);
    expect(await dbs.store.findByName({ ...scope, userId: 2 }, "a")).toBeUndefined();
  });

  test("adopted rows' roles are matched by their folded name, exactly as namesOnMachine folds them", async () => {
    const names = ["MyUser", "Ünï_Code_X", "lower", "MIXED_case_9"];
    const inserted = await dbs.drizzleDb
      .insert(deployed_db)
      .values(names.map((username, i) => row({ dbName: `legacy_${i}`, username, userId: 3, vpsId: 11, legacyNames: true })))
      .returning();
    const scope = { userId: 3, vpsId: 11, host: "203.0.113.5", engine: "postgres" as const };
    for (const username of names) {
      const folded = foldUnquotedName(username);
      expect(await dbs.store.countOtherUsersOfRole(scope, folded, -1)).toBe(1);
      if (folded !== username) expect(await dbs.store.countOtherUsersOfRole(scope, username, -1)).toBe(0);
    }
    expect(inserted.map((r) => namesOnMachine(r))).toEqual([
      { dbName: "legacy_0", roleName: "myuser" },
      { dbName: "legacy_1", roleName: "Ünï_code_x" },
      { dbName: "legacy_2", roleName: "lower" },
      { dbName: "legacy_3", roleName: "mixed_case_9" },
    ]);
    expect(namesOnMachine({ dbName: "MyApp", username: "MyUser", legacyNames: false })).toEqual({ dbName: "MyApp", roleName: "MyUser" });
  });

  test("engines never meet: role counts, password updates, name lookups and the stale sweep see only their own engine's rows", async () => {
    const [pgRow] = await dbs.drizzleDb
      .insert(deployed_db)
      .values([
        row({ dbName: "shared", username: "both", userId: 4, vpsId: 12 }),
        row({ dbName: "shared", username: "both", userId: 4, vpsId: 12, dbType: "mysql", status: "deploying" }),
      ])
      .returning();
    const pg = { userId: 4, vpsId: 12, host: "203.0.113.5", engine: "postgres" as const };
    const my = { ...pg, engine: "mysql" as const };
    expect(await dbs.store.countOtherUsersOfRole(pg, "both", pgRow?.id ?? 0)).toBe(0);
    expect(await dbs.store.countOtherUsersOfRole(my, "both", pgRow?.id ?? 0)).toBe(1);
    await dbs.store.setRolePassword(my, "both", "mysql-sealed");
    expect((await dbs.store.findByName(pg, "shared"))?.password).toBe("sealed");
    expect((await dbs.store.findByName(my, "shared"))?.password).toBe("mysql-sealed");
    const later = new Date(Date.now() + 60_000);
    expect((await dbs.store.listStaleDeploying(later, "postgres")).map((r) => r.dbType)).not.toContain("mysql");
    expect((await dbs.store.listStaleDeploying(later, "mysql")).map((r) => r.dbName)).toEqual(["shared"]);
    // Browsing asks both questions (which engine, which name on the machine) in one lookup.
    const both = await dbs.store.findByNameAnyEngine({ userId: 4, vpsId: 12, host: "203.0.113.5" }, "shared");
    expect(both.map((r) => r.dbType).sort()).toEqual(["mysql", "postgres"]);
    expect(await dbs.store.findByNameAnyEngine({ userId: 5, vpsId: 12, host: "203.0.113.5" }, "shared")).toEqual([]);
    expect(await dbs.store.findByNameAnyEngine({ userId: 4, vpsId: 12, host: "203.0.113.6" }, "shared")).toEqual([]);
  });
});
