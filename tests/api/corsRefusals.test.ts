import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { refusingLeases } from "../support/recordingSessions";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/** The portal must be able to read every answer, refusals included, or it only sees "Failed to fetch". */
let dbs: TestDatabases;
let app: RunningTestApp;
let strict: RunningTestApp;
const PORTAL = "http://localhost:5173";

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  app = startTestApp({ store: dbs.store, registry: dbs.registry, leases: refusingLeases() });
  strict = startTestApp({ store: dbs.store, registry: dbs.registry, leases: refusingLeases(), rateLimits: { windowMs: 60_000, perAddress: 2, userReads: 1_000, userWrites: 1_000 } });
});

afterAll(async () => {
  await app?.stop();
  await strict?.stop();
  await dbs?.dropAll();
});

/** What the portal's fetch sends: JSON, the token in the header, credentials included. */
function portalCall(base: string, method: string, path: string, options: { token?: string; body?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { origin: PORTAL, "content-type": "application/json", ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return fetch(base + path, { method, headers, body: options.body });
}

function preflight(base: string, path: string, method: string) {
  return fetch(base + path, { method: "OPTIONS", headers: { origin: PORTAL, "access-control-request-method": method, "access-control-request-headers": "content-type,authorization" } });
}

function expectReadableByPortal(response: Response) {
  expect(response.headers.get("access-control-allow-origin")).toBe(PORTAL);
  expect(response.headers.get("access-control-allow-credentials")).toBe("true");
  expect(response.headers.get("access-control-expose-headers") ?? "").toMatch(/x-request-id/i);
}

describe("CORS on every answer to an allowed origin", () => {
  test("preflights are not counted; the 429 itself carries CORS headers and its message", async () => {
    for (let i = 0; i < 2; i++) {
      expect((await preflight(strict.baseUrl, "/get-db", "GET")).status).toBe(204);
      const ok = await portalCall(strict.baseUrl, "GET", "/get-db", { token: tokenFor(7) });
      expect(ok.status).toBe(200);
      expectReadableByPortal(ok);
      await ok.arrayBuffer();
    }
    expect((await preflight(strict.baseUrl, "/get-db", "GET")).status).toBe(204);
    const limited = await portalCall(strict.baseUrl, "GET", "/get-db", { token: tokenFor(7) });
    expect(limited.status).toBe(429);
    expectReadableByPortal(limited);
    expect(((await limited.json()) as { message: string }).message).toMatch(/too many requests/i);
  });

  test("413, 415, 419, 400, 403, 404 and 500 answers carry CORS headers", async () => {
    const { rows } = await dbs.registryDb.pool.query<{ id: number }>(
      `INSERT INTO vps_machines (vps_ip, vps_name, vps_password, "ownerId") VALUES ('10.99.2.4', 'broken', 'U2FsdGVkX1garbage', 7) RETURNING id`,
    );
    const answers = [
      [413, await portalCall(app.baseUrl, "POST", "/deploy-postgres", { token: tokenFor(7), body: JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }) })],
      [415, await portalCall(app.baseUrl, "POST", "/deploy-postgres", { token: tokenFor(7), body: "a=b", headers: { "content-type": "application/x-www-form-urlencoded" } })],
      [419, await portalCall(app.baseUrl, "POST", "/deploy-postgres", { body: "{}" })],
      [419, await portalCall(app.baseUrl, "GET", "/get-db", { token: "garbage" })],
      [400, await portalCall(app.baseUrl, "POST", "/deploy-postgres", { token: tokenFor(7), body: "{not json" })],
      [403, await portalCall(app.baseUrl, "POST", "/deploy-postgres", { token: tokenFor(7), body: JSON.stringify({ vpsId: 99999, vpsIp: "10.0.0.1", dbName: "a", userName: "b", password: "c" }) })],
      [404, await portalCall(app.baseUrl, "GET", "/no-such-route", { token: tokenFor(7) })],
      [500, await portalCall(app.baseUrl, "POST", "/deploy-postgres", { token: tokenFor(7), body: JSON.stringify({ vpsId: rows[0]?.id, vpsIp: "10.99.2.4", dbName: "a", userName: "b", password: "c" }) })],
    ] as const;
    for (const [status, response] of answers) {
      expect(response.status).toBe(status);
      expectReadableByPortal(response);
      await response.arrayBuffer();
    }
  });

  test("the portal can read X-Request-Id; a foreign origin gets no CORS permission", async () => {
    const allowed = await preflight(app.baseUrl, "/deploy-postgres", "POST");
    expect(allowed.headers.get("access-control-allow-origin")).toBe(PORTAL);
    const ok = await portalCall(app.baseUrl, "GET", "/get-db", { token: tokenFor(7) });
    expect(ok.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(ok.headers.get("access-control-expose-headers")).toBe("X-Request-Id");
    const foreign = await fetch(`${app.baseUrl}/get-db`, { headers: { origin: "https://evil.example", authorization: `Bearer ${tokenFor(7)}` } });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
  });
});
