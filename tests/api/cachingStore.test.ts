import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PortInUseError } from "../../src/errors/appErrors";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/** The caching store against real PostgreSQL: ports unique per machine, rows scoped to their owner. */
let dbs: TestDatabases;

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
});

afterAll(async () => {
  await dbs?.dropAll();
});

const server = (cacheName: string, port: number, vpsId = 1, userId = 7, host = "203.0.113.10") => ({ cacheName, password: "sealed", host, vpsId, userId, port, unitInstance: cacheName });

describe("caching store", () => {
  test("a port is unique per machine (PortInUseError naming the port), free on another machine", async () => {
    const first = await dbs.caching.insertDeploying(server("one", 6380));
    expect(first.status).toBe("deploying");
    expect(first.cachingType).toBe("redis");
    const duplicate = dbs.caching.insertDeploying(server("two", 6380));
    await expect(duplicate).rejects.toBeInstanceOf(PortInUseError);
    await expect(dbs.caching.insertDeploying(server("two", 6380))).rejects.toThrow(/port 6380/i);
    await dbs.caching.insertDeploying(server("two", 6380, 2, 8, "198.51.100.7"));
  });

  test("owner, machine, port and name all pick a row; ports are the owner's on that machine", async () => {
    const machine = { vpsId: 1, host: "203.0.113.10" };
    await dbs.caching.insertDeploying(server("three", 6381));
    expect((await dbs.caching.findOwned(7, machine, 6380, "one"))?.cacheName).toBe("one");
    expect(await dbs.caching.findOwned(8, machine, 6380, "one")).toBeUndefined();
    expect(await dbs.caching.findOwned(7, machine, 6381, "one")).toBeUndefined();
    expect(await dbs.caching.findOwned(7, { vpsId: 2, host: machine.host }, 6380, "one")).toBeUndefined();
    expect((await dbs.caching.portsOfUserOnMachine(7, 1)).sort()).toEqual([6380, 6381]);
    expect(await dbs.caching.portsOfUserOnMachine(8, 1)).toEqual([]);
    expect((await dbs.caching.listByUser(7)).map((row) => row.cacheName)).toEqual(["one", "three"]);
  });
});
