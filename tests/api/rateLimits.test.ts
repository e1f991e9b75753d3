import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { refusingLeases } from "../support/recordingSessions";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

let dbs: TestDatabases;
let app: RunningTestApp;
let strictAddress: RunningTestApp;

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  app = startTestApp({
    store: dbs.store,
    registry: dbs.registry,
    leases: refusingLeases(),
    rateLimits: { windowMs: 60_000, perAddress: 1_000, userReads: 5, userWrites: 2 },
  });
  strictAddress = startTestApp({
    store: dbs.store,
    registry: dbs.registry,
    leases: refusingLeases(),
    rateLimits: { windowMs: 60_000, perAddress: 3, userReads: 1_000, userWrites: 1_000 },
  });
});

afterAll(async () => {
  await app?.stop();
  await strictAddress?.stop();
  await dbs?.dropAll();
});

describe("rate limits", () => {
  test("reads are limited per user with 429 {message}; other users are unaffected", async () => {
    for (let i = 0; i < 5; i++) expect((await app.request("GET", "/get-db", { userId: 7 })).status).toBe(200);
    const limited = await app.request("GET", "/get-db", { userId: 7 });
    expect(limited.status).toBe(429);
    expect(typeof limited.body.message).toBe("string");
    expect((await app.request("GET", "/get-db", { userId: 8 })).status).toBe(200);
  });

  test("deploys and deletes have a stricter per-user budget, and refused attempts count", async () => {
    const body = { vpsId: 1, vpsIp: "10.0.0.1", dbName: "a", userName: "b", password: "c" };
    expect((await app.request("POST", "/deploy-postgres", { userId: 9, body })).status).toBe(403);
    expect((await app.request("DELETE", "/delete-db/1", { userId: 9 })).status).toBe(404);
    expect((await app.request("POST", "/deploy-postgres", { userId: 9, body })).status).toBe(429);
    expect((await app.request("GET", "/get-db", { userId: 9 })).status).toBe(200);
  });

  test("every client address has a budget; health checks are exempt", async () => {
    for (let i = 0; i < 3; i++) expect((await strictAddress.request("GET", "/get-db", { userId: 10 + i })).status).toBe(200);
    expect((await strictAddress.request("GET", "/get-db", { userId: 20 })).status).toBe(429);
    expect((await strictAddress.request("GET", "/get-db")).status).toBe(429);
    expect((await strictAddress.request("GET", "/health")).status).toBe(200);
  });
});
