import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deployed_db } from "../../src/metadata/schema";
import { refusingLeases } from "../support/recordingSessions";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/**
 * Cross-site request forgery: what a page of another site can make a logged-in browser send
 * (the cookie travels along) must not reach the machine check.
 */
let dbs: TestDatabases;
let app: RunningTestApp;
const leases = refusingLeases();
let machineOf7 = 0;
const PORTAL = "http://localhost:5173";

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineOf7 = await dbs.addMachine({ ip: "10.99.1.2", ownerId: 7, rootPassword: "pw" });
  app = startTestApp({ store: dbs.store, registry: dbs.registry, leases });
});

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
});

const cookie = () => `accessToken=${tokenFor(7)}`;
const fields = () => ({ vpsId: String(machineOf7), vpsIp: "10.99.1.2", dbName: "shop", userName: "shop_user", password: "pw", dbType: "postgres" });

async function send(method: string, path: string, headers: Record<string, string>, body?: string | FormData) {
  const response = await fetch(app.baseUrl + path, { method, headers: { cookie: cookie(), ...headers }, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("state-changing requests accept JSON only (415)", () => {
  test("form-encoded, multipart and text bodies with the cookie are refused before the machine check", async () => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields())) form.append(name, value);
    const attempts = [
      send("POST", "/deploy-postgres", { "content-type": "application/x-www-form-urlencoded" }, new URLSearchParams(fields()).toString()),
      send("POST", "/deploy-postgres", {}, form),
      send("POST", "/deploy-postgres", { "content-type": "text/plain" }, JSON.stringify(fields())),
      send("POST", "/get-tables-list", { "content-type": "application/x-www-form-urlencoded" }, "databaseName=shop&vpsId=1&vpsIp=10.99.1.2&username=u"),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(415);
      expect(response.body).toEqual({ message: "Content-Type must be application/json" });
    }
    expect(leases.attempts).toHaveLength(0);
    expect(await dbs.drizzleDb.select().from(deployed_db)).toHaveLength(0);
  });

  test("a body without Content-Type is refused; JSON with a charset is accepted", async () => {
    const bare = await fetch(`${app.baseUrl}/deploy-postgres`, { method: "POST", headers: { cookie: cookie() }, body: new Blob([JSON.stringify(fields())]) });
    expect(bare.status).toBe(415);
    // Reaches validation: the reserved name is refused with 400, not the media type.
    const json = await send("POST", "/deploy-postgres", { "content-type": "application/json; charset=utf-8" }, JSON.stringify({ ...fields(), dbName: "postgres" }));
    expect(json.status).toBe(400);
  });

  test("a body-less DELETE needs no Content-Type", async () => {
    const response = await send("DELETE", "/delete-db/424242", {});
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ message: "Database not found" });
  });
});

describe("state-changing requests from foreign origins (403)", () => {
  test("a foreign or opaque Origin is refused for POST and DELETE, JSON or not", async () => {
    for (const origin of ["https://evil.example", "null", "http://localhost:5174"]) {
      const deploy = await send("POST", "/deploy-postgres", { origin, "content-type": "application/json" }, JSON.stringify(fields()));
      expect(deploy.status).toBe(403);
      expect(deploy.body).toEqual({ message: "Requests from this origin are not allowed" });
      const remove = await send("DELETE", "/delete-db/424242", { origin });
      expect(remove.status).toBe(403);
    }
    expect(leases.attempts).toHaveLength(0);
  });

  test("the portal's origin and callers without Origin (curl, servers) pass", async () => {
    expect((await send("DELETE", "/delete-db/424242", { origin: PORTAL })).status).toBe(404);
    expect((await send("DELETE", "/delete-db/424242", {})).status).toBe(404);
    const portal = await send("POST", "/get-tables-list", { origin: PORTAL, "content-type": "application/json" }, JSON.stringify({ databaseName: "x;y", vpsId: 1, vpsIp: "a", username: "u" }));
    expect(portal.status).toBe(400);
  });

  test("reads are not state-changing: a foreign GET is answered but without CORS permission", async () => {
    const response = await fetch(`${app.baseUrl}/get-db`, { headers: { cookie: cookie(), origin: "https://evil.example" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});
