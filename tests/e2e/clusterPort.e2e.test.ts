import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connectAs } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/**
 * Machines whose PostgreSQL is not (only) on 5432: every remote operation must reach the
 * cluster the database lives in, not the default port.
 */
const OWNER = 61;

let single: SandboxVps;
let twin: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;
let singleId = 0;
let twinId = 0;

beforeAll(async () => {
  await removeStaleSandboxes();
  [single, twin] = await Promise.all([
    startSandboxVps({ postgres: "running", clusters: [{ name: "main", port: 5433 }] }),
    // The deploy picks 5432 if present, else the newest: here 15/other on 5435.
    startSandboxVps({ postgres: "running", clusters: [{ name: "main", port: 5434 }, { name: "other", port: 5435 }] }),
  ]);
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  singleId = await dbs.addMachine({ ip: single.ip, ownerId: OWNER, rootPassword: single.rootPassword });
  twinId = await dbs.addMachine({ ip: twin.ip, ownerId: OWNER, rootPassword: twin.rootPassword });
  app = startTestApp({ store: dbs.store, registry: dbs.registry });
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
  await single?.stop();
  await twin?.stop();
}, 60_000);

async function asPostgres(vps: SandboxVps, port: number, sql: string, database = "postgres"): Promise<string> {
  const result = await vps.exec(`cd /tmp && sudo -u postgres psql -X -q -p ${port} -d ${database} -tAc ${JSON.stringify(sql)}`);
  return result.stdout.trim();
}

/** Deploys, fills a table over TCP, then browses (list twice: kept session; JSON; CSV) and deletes. */
async function roundTrip(vps: SandboxVps, machineId: number, port: number): Promise<void> {
  const where = { databaseName: "far", vpsId: machineId, vpsIp: vps.ip, username: "far_user" };
  const deployed = await app.request("POST", "/deploy-postgres", {
    userId: OWNER,
    body: { vpsId: machineId, vpsIp: vps.ip, dbName: "far", userName: "far_user", password: "far-pw", dbType: "postgres" },
  });
  expect(deployed.status).toBe(200);
  expect(deployed.body.connectionString).toBe(`postgresql://far_user:far-pw@${vps.ip}:${port}/far`);
  const owner = await connectAs(vps.ip, "far_user", "far-pw", "far", port);
  await owner.query("CREATE TABLE items (id integer PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one')");
  await owner.end();

  for (let i = 0; i < 2; i++) {
    const list = await app.request("POST", "/get-tables-list", { userId: OWNER, body: where });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual(["items"]);
  }
  const json = await app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where, tableName: "items" } });
  expect(json.status).toBe(200);
  expect(json.body.data).toEqual([{ id: 1, name: "one" }]);
  const csv = await app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where, tableName: "items", format: "csv" } });
  expect(csv.status).toBe(200);
  expect(csv.body.raw).toBe("id,name\n1,one\n");

  const rows = await app.request("GET", "/get-db", { userId: OWNER });
  const id = (rows.body.data as Array<{ id: number; host: string }>).find((row) => row.host === vps.ip)?.id;
  const deleted = await app.request("DELETE", `/delete-db/${id}`, { userId: OWNER });
  expect(deleted.status).toBe(200);
  expect(await asPostgres(vps, port, "SELECT count(*) FROM pg_database WHERE datname = 'far'")).toBe("0");
  expect(await asPostgres(vps, port, "SELECT count(*) FROM pg_roles WHERE rolname = 'far_user'")).toBe("0");
}

describe("PostgreSQL on other ports", () => {
  test("one cluster on 5433: deploy, tables list, table data, CSV and delete all reach it", async () => {
    await roundTrip(single, singleId, 5433);
  }, 120_000);

  test("two clusters: everything reaches the deploy's cluster, and browsing finds a database in the other one", async () => {
    await roundTrip(twin, twinId, 5435);

    // A database that lives only in the other cluster (made by hand on the machine).
    await asPostgres(twin, 5434, "CREATE ROLE side_user LOGIN PASSWORD 'side-pw'");
    await asPostgres(twin, 5434, "CREATE DATABASE side OWNER side_user");
    await asPostgres(twin, 5434, "SET ROLE side_user; CREATE TABLE only_here (v text); INSERT INTO only_here VALUES ('5434')", "side");
    const where = { databaseName: "side", vpsId: twinId, vpsIp: twin.ip, username: "side_user" };
    const list = await app.request("POST", "/get-tables-list", { userId: OWNER, body: where });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual(["only_here"]);
    const json = await app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where, tableName: "only_here" } });
    expect(json.status).toBe(200);
    expect(json.body.data).toEqual([{ v: "5434" }]);
  }, 120_000);
});
