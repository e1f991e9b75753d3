import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { refusingLeases } from "../support/recordingSessions";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/** The Redis routes' refusals, all before any SSH connection (the sessions refuse to connect). */
let dbs: TestDatabases;
let app: RunningTestApp;
const leases = refusingLeases();
let machineId = 0;

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: "203.0.113.10", ownerId: 7, rootPassword: "root-pass" });
  app = startTestApp({ store: dbs.store, caching: dbs.caching, registry: dbs.registry, leases });
});

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
});

const body = { name: "my-cache", password: "s3cretpass", vpsId: 1, vpsIp: "203.0.113.10", port: "6380" };
const POSTS = ["/deploy-redis", "/stop-redis-server", "/start-stopped-redis-server", "/delete-redis-server"];

describe("Redis routes", () => {
  test("no token: 419 on all six routes", async () => {
    for (const path of POSTS) expect((await app.request("POST", path, { body })).status).toBe(419);
    expect((await app.request("GET", "/get-redis-server")).status).toBe(419);
    expect((await app.request("GET", "/get-port/1")).status).toBe(419);
  });

  test("get-redis-server with no servers is exactly 200 with an empty array", async () => {
    const response = await app.request("GET", "/get-redis-server", { userId: 7 });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ message: "Redis Server Fetched Successfully.", data: [] });
  });

  test("malformed ports are 400 with a string message that says port; vpsId may be a numeric string", async () => {
    for (const port of ["", "x", "-1", "6380 ", "1e4", 6.5, null]) {
      const response = await app.request("POST", "/deploy-redis", { userId: 7, body: { ...body, vpsId: String(machineId), port } });
      expect(response.status).toBe(400);
      expect((response.body.message as string).toLowerCase()).toContain("port");
    }
    for (const path of POSTS.slice(1)) {
      const response = await app.request("POST", path, { userId: 7, body: { ...body, port: "abc" } });
      expect(response.status).toBe(400);
      expect(response.body.message as string).toContain("port");
    }
  });

  test("unknown servers are 404 and foreign or unknown machines 403, with no SSH connection", async () => {
    for (const path of POSTS.slice(1)) {
      expect((await app.request("POST", path, { userId: 7, body: { ...body, vpsId: machineId } })).status).toBe(404);
      expect((await app.request("POST", path, { userId: 8, body: { ...body, vpsId: machineId } })).status).toBe(403);
    }
    expect((await app.request("POST", "/deploy-redis", { userId: 7, body: { ...body, vpsId: machineId, vpsIp: "198.51.100.1" } })).status).toBe(403);
    expect((await app.request("GET", `/get-port/${machineId}`, { userId: 8 })).status).toBe(403);
    expect((await app.request("GET", "/get-port/0", { userId: 7 })).status).toBe(400);
    expect((await app.request("GET", "/get-port/abc", { userId: 7 })).status).toBe(400);
    expect(leases.attempts).toEqual([]);
  });
});
