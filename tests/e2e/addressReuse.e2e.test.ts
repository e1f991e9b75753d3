import { describe, expect, test } from "bun:test";
import { deployed_db } from "../../src/metadata/schema";
import { psqlOnVps } from "../support/remoteDb";
import { sandboxService } from "../support/sandboxService";

/**
 * An address changes hands: user A's machine at X is given up, the server is wiped, and X comes
 * back as user B's machine. A's rows for X stay behind (A deletes them whenever), and must
 * neither block B's names, nor receive B's passwords, nor keep B's roles alive.
 */

const A = 51;
const B = 52;

let machineOfB = 0;

const deploy = (userId: number, vpsId: number, dbName: string, userName: string, password: string) =>
  sandbox.app.request("POST", "/deploy-postgres", { userId, body: { vpsId, vpsIp: sandbox.vps.ip, dbName, userName, password, dbType: "postgres" } });
const databasesOf = async (userId: number) => (await sandbox.app.request("GET", "/get-db", { userId })).body.data as Array<Record<string, unknown>>;
const rowNamed = async (userId: number, dbName: string) => (await sandbox.dbs.drizzleDb.select().from(deployed_db)).find((row) => row.userId === userId && row.dbName === dbName);

const sandbox = sandboxService({ vps: { postgres: "running" }, ownerId: A });

describe("an address reused by another tenant", () => {
  test("A deploys on X; X is wiped and registered again as B's machine", async () => {
    expect((await deploy(A, sandbox.machineId, "shop", "shop_user", "password-of-a")).status).toBe(200);
    expect((await deploy(A, sandbox.machineId, "shop_archive", "shop_user", "password-of-a")).status).toBe(200);

    await sandbox.dbs.registryDb.pool.query(`UPDATE vps_machines SET vps_ip = '192.0.2.1' WHERE id = $1`, [sandbox.machineId]);
    for (const sql of ["DROP DATABASE shop", "DROP DATABASE shop_archive", "DROP ROLE shop_user"]) await psqlOnVps(sandbox.vps, sql);
    machineOfB = await sandbox.dbs.addMachine({ ip: sandbox.vps.ip, ownerId: B, rootPassword: sandbox.vps.rootPassword });
  }, 60_000);

  test("B may use the database names A's stale rows hold for X", async () => {
    const response = await deploy(B, machineOfB, "shop", "owner_of_b", "password-of-b");
    expect(response.status).toBe(200);
    expect(await psqlOnVps(sandbox.vps, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'")).toBe("owner_of_b");
  }, 30_000);

  test("B's new password for a role named like A's changes B's rows only, never A's", async () => {
    expect((await deploy(B, machineOfB, "b_one", "shop_user", "password-of-b-1")).status).toBe(200);
    expect((await deploy(B, machineOfB, "b_two", "shop_user", "password-of-b-2")).status).toBe(200);
    expect((await databasesOf(B)).map((row) => [row.dbName, row.password])).toEqual([
      ["shop", "password-of-b"],
      ["b_one", "password-of-b-2"],
      ["b_two", "password-of-b-2"],
    ]);
    expect((await databasesOf(A)).map((row) => [row.dbName, row.password])).toEqual([
      ["shop", "password-of-a"],
      ["shop_archive", "password-of-a"],
    ]);
  }, 30_000);

  test("A's stale rows do not keep B's role alive: it goes with B's last database using it", async () => {
    const two = await rowNamed(B, "b_two");
    expect((await sandbox.app.request("DELETE", `/delete-db/${two?.id}`, { userId: B })).status).toBe(200);
    expect(await psqlOnVps(sandbox.vps, "SELECT count(*) FROM pg_roles WHERE rolname = 'shop_user'")).toBe("1");
    const one = await rowNamed(B, "b_one");
    expect((await sandbox.app.request("DELETE", `/delete-db/${one?.id}`, { userId: B })).status).toBe(200);
    expect(await psqlOnVps(sandbox.vps, "SELECT count(*) FROM pg_roles WHERE rolname = 'shop_user'")).toBe("0");
    expect(await psqlOnVps(sandbox.vps, "SELECT count(*) FROM pg_database WHERE datname IN ('b_one', 'b_two')")).toBe("0");
  }, 30_000);

  test("A's stale rows cannot reach X any more and are left as they were", async () => {
    const stale = await rowNamed(A, "shop");
    expect((await sandbox.app.request("DELETE", `/delete-db/${stale?.id}`, { userId: A })).status).toBe(403);
    expect(await rowNamed(A, "shop")).toBeDefined();
    expect((await databasesOf(A)).map((row) => row.dbName)).toEqual(["shop", "shop_archive"]);
  }, 30_000);
});
