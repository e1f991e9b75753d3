import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DEFAULT_LIST_CACHE_TTL_MS, withListCache } from "../../src/metadata/listCache";
import { psqlOnVps } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/**
 * `GET /get-db` answers from the per-user row cache (as in production, src/server.ts) while the
 * portal polls; a deploy or delete through this instance shows in the very next answer.
 */
const OWNER = 31;
const OTHER = 32;
let vps: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;
let machineId = 0;

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword });
  app = startTestApp({ store: withListCache(dbs.store, { ttlMs: 60 * DEFAULT_LIST_CACHE_TTL_MS }), registry: dbs.registry });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

const listed = async (userId: number) => {
  const response = await app.request("GET", "/get-db", { userId });
  expect(response.status).toBe(200);
  return (response.body.data as Array<{ id: number; dbName: string; status: string; password: string }>).map((row) => `${row.dbName}:${row.status}:${row.password}`);
};

describe("get-db while deploying and deleting", () => {
  test("a deploy shows in the next answer, a delete is gone from it; the other user sees neither", async () => {
    expect(await listed(OWNER)).toEqual([]);
    expect(await listed(OTHER)).toEqual([]);
    const deployed = await app.request("POST", "/deploy-postgres", {
      userId: OWNER,
      body: { vpsId: machineId, vpsIp: vps.ip, dbName: "cached_shop", userName: "cached_user", password: "pw-1" },
    });
    expect(deployed.status).toBe(200);
    expect(await listed(OWNER)).toEqual(["cached_shop:running:pw-1"]);
    expect(await listed(OTHER)).toEqual([]);

    // Reusing the role for a second database sets its new password on both rows.
    const second = await app.request("POST", "/deploy-postgres", {
      userId: OWNER,
      body: { vpsId: machineId, vpsIp: vps.ip, dbName: "cached_two", userName: "cached_user", password: "pw-2" },
    });
    expect(second.status).toBe(200);
    expect(await listed(OWNER)).toEqual(["cached_shop:running:pw-2", "cached_two:running:pw-2"]);

    const removed = await app.request("DELETE", `/delete-db/${deployed.body.id}`, { userId: OWNER });
    expect(removed.status).toBe(200);
    expect(await listed(OWNER)).toEqual(["cached_two:running:pw-2"]);
  });

  test("a refused deploy (409 after its row was claimed, the row removed again) is not listed, even by a poll during it", async () => {
    await psqlOnVps(vps, "CREATE ROLE stranger LOGIN");
    const before = await listed(OWNER);
    const deploying = app.request("POST", "/deploy-postgres", {
      userId: OWNER,
      body: { vpsId: machineId, vpsIp: vps.ip, dbName: "cached_three", userName: "stranger", password: "pw" },
    });
    const polls: string[][] = [];
    for (let i = 0; i < 20 && polls.length < 20; i++) polls.push(await listed(OWNER));
    const refused = await deploying;
    expect(refused.status).toBe(409);
    expect(await listed(OWNER)).toEqual(before);
  });
});
