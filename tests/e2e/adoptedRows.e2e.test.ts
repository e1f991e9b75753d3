import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deployed_db } from "../../src/metadata/schema";
import { psqlOnVps } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, LEGACY_TABLE, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/**
 * Rows adopted from the previous implementation. It created databases and roles with unquoted
 * names (`CREATE DATABASE MyApp OWNER MyUser`), so PostgreSQL folded them to lower case while
 * its rows kept the names as typed; our migration marks those rows, and every remote use of
 * them must find what really exists.
 */
const OWNER = 61;
/** The registry is fresh: its first machine gets id 1, which the legacy rows below name. */
const MACHINE_ID = 1;

let vps: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;

/** What the previous implementation ran, as documented: unquoted names, psql -c as postgres. */
const asPreviousImplementation = (sql: string, database = "postgres") => vps.exec(`cd /tmp && sudo -u postgres psql -X -q -d ${database} -c ${JSON.stringify(sql)}`);
const existsOnVps = async (catalog: "pg_database" | "pg_roles", name: string) =>
  (await psqlOnVps(vps, `SELECT count(*) FROM ${catalog} WHERE ${catalog === "pg_database" ? "datname" : "rolname"} = '${name}'`)) === "1";
const idOf = async (dbName: string) => (await dbs.drizzleDb.select().from(deployed_db)).find((row) => row.dbName === dbName)?.id;
const where = (databaseName: string) => ({ databaseName, vpsId: MACHINE_ID, vpsIp: vps.ip, username: "MyUser" });

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  // The user's own tables are the user's: browsing reads with the owner's rights, never a superuser's.
  for (const sql of ["CREATE USER MyUser WITH PASSWORD 'legacy-pw';", "CREATE DATABASE MyApp OWNER MyUser;", "GRANT ALL PRIVILEGES ON DATABASE MyApp TO MyUser;", "CREATE DATABASE MyShop OWNER MyUser;"]) {
    expect((await asPreviousImplementation(sql)).exitCode).toBe(0);
  }
  expect((await asPreviousImplementation("SET ROLE MyUser; CREATE TABLE Orders (id integer, item text); INSERT INTO Orders VALUES (1, 'tea');", "myapp")).exitCode).toBe(0);

  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY, {
    beforeMigrate: async (metadata) => {
      await metadata.query(LEGACY_TABLE);
      await metadata.query(
        `INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES
         ('MyApp', 'MyUser', 'legacy-pw', $1, 'postgres', $2, $3, 'running'), ('MyShop', 'MyUser', 'legacy-pw', $1, 'postgres', $2, $3, 'running'),
         ('Postgres', 'Ghost', 'legacy-pw', $1, 'postgres', $2, $3, 'running')`,
        [vps.ip, MACHINE_ID, OWNER],
      );
    },
  });
  expect(await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword })).toBe(MACHINE_ID);
  app = startTestApp({ store: dbs.store, registry: dbs.registry });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("databases adopted from the previous implementation", () => {
  test("the machine holds them folded to lower case, the rows as typed", async () => {
    expect(await existsOnVps("pg_database", "myapp")).toBe(true);
    expect(await existsOnVps("pg_database", "MyApp")).toBe(false);
    expect(await existsOnVps("pg_roles", "myuser")).toBe(true);
    const listed = (await app.request("GET", "/get-db", { userId: OWNER })).body.data as Array<Record<string, unknown>>;
    expect(listed.map((row) => [row.dbName, row.username, row.password])).toEqual([
      ["MyApp", "MyUser", "legacy-pw"],
      ["MyShop", "MyUser", "legacy-pw"],
      ["Postgres", "Ghost", "legacy-pw"],
    ]);
  });

  test("browsing by the recorded name lists the tables and reads the rows", async () => {
    const list = await app.request("POST", "/get-tables-list", { userId: OWNER, body: where("MyApp") });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual(["orders"]);
    const data = await app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where("MyApp"), tableName: "orders" } });
    expect(data.status).toBe(200);
    expect(data.body.data).toEqual([{ id: 1, item: "tea" }]);
  }, 30_000);

  test("only the owner's rows resolve names: another user's request stays as typed", async () => {
    const theirs = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER + 1, rootPassword: vps.rootPassword });
    const list = await app.request("POST", "/get-tables-list", { userId: OWNER + 1, body: { ...where("MyApp"), vpsId: theirs } });
    expect(list.status).toBe(404);
  }, 30_000);

  test("deleting drops the real database, and the shared role only with the last of its databases", async () => {
    const removed = await app.request("DELETE", `/delete-db/${await idOf("MyApp")}`, { userId: OWNER });
    expect(removed.status).toBe(200);
    expect(await existsOnVps("pg_database", "myapp")).toBe(false);
    expect(await existsOnVps("pg_roles", "myuser")).toBe(true);

    expect((await app.request("DELETE", `/delete-db/${await idOf("MyShop")}`, { userId: OWNER })).status).toBe(200);
    expect(await existsOnVps("pg_database", "myshop")).toBe(false);
    expect(await existsOnVps("pg_roles", "myuser")).toBe(false);
  }, 30_000);

  test("a row whose folded name is PostgreSQL's own database is forgotten, that database never dropped", async () => {
    expect((await app.request("DELETE", `/delete-db/${await idOf("Postgres")}`, { userId: OWNER })).status).toBe(200);
    expect(await existsOnVps("pg_database", "postgres")).toBe(true);
    expect(await dbs.drizzleDb.select().from(deployed_db)).toEqual([]);
  }, 30_000);

  test("databases this service deploys keep their names exactly, capitals included", async () => {
    const deployed = await app.request("POST", "/deploy-postgres", {
      userId: OWNER,
      body: { vpsId: MACHINE_ID, vpsIp: vps.ip, dbName: "NewApp", userName: "NewUser", password: "new-pw", dbType: "postgres" },
    });
    expect(deployed.status).toBe(200);
    expect(await existsOnVps("pg_database", "NewApp")).toBe(true);
    expect((await app.request("POST", "/get-tables-list", { userId: OWNER, body: where("NewApp") })).status).toBe(200);
    expect((await app.request("DELETE", `/delete-db/${deployed.body.id}`, { userId: OWNER })).status).toBe(200);
    expect(await existsOnVps("pg_database", "NewApp")).toBe(false);
    expect(await existsOnVps("pg_roles", "NewUser")).toBe(false);
  }, 60_000);
});
