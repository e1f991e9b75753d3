import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import jwt from "jsonwebtoken";
import { createDeployedDbStore } from "../../src/metadata/deployedDbStore";
import { openMetadataDatabase } from "../../src/metadata/metadataClient";
import { createSecretBox } from "../../src/crypto/secretBox";
import { deployed_db } from "../../src/metadata/schema";
import { refusingLeases } from "../support/recordingSessions";
import { captureLogger, startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ACCESS_SECRET, TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/** Every route's contract on its non-SSH paths, against real PostgreSQL databases. */
let dbs: TestDatabases;
let app: RunningTestApp;
const leases = refusingLeases();
const logger = captureLogger();
const box = createSecretBox(TEST_ENCRYPTION_KEY);
let machineOf7 = 0;

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineOf7 = await dbs.addMachine({ ip: "10.99.0.2", ownerId: 7, rootPassword: "pw" });
  await dbs.addMachine({ ip: "10.99.0.3", ownerId: 8, rootPassword: "pw" });
  app = startTestApp({ store: dbs.store, registry: dbs.registry, leases, logger, clock: () => new Date("2026-01-02T03:04:05.000Z") });
});

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
});

const deployBody = (overrides: Record<string, unknown> = {}) => ({ vpsId: String(machineOf7), vpsIp: "10.99.0.2", dbName: "shop", userName: "shop_user", password: "pw", dbType: "postgres", ...overrides });

describe("health", () => {
  test.each(["/", "/health"])("%s answers publicly with the contract body", async (path) => {
    const response = await app.request("GET", path);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: "success", message: "Storage Layer of Zyotra is running", Timestamp: "2026-01-02T03:04:05.000Z" });
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
  });
});

describe("readiness", () => {
  test("/health/ready checks both databases", async () => {
    const ready = await app.request("GET", "/health/ready");
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: "ready", checks: { metadata: "up", registry: "up" } });
  });

  test("a database down makes readiness 503 while liveness and validation keep answering", async () => {
    const dead = openMetadataDatabase("postgresql://nobody:x@127.0.0.1:1/none");
    const broken = startTestApp({ store: createDeployedDbStore(dead.db), registry: dbs.registry, leases });
    try {
      const ready = await broken.request("GET", "/health/ready");
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({ status: "unavailable", checks: { metadata: "down", registry: "up" } });
      expect((await broken.request("GET", "/health")).status).toBe(200);
      const list = await broken.request("GET", "/get-db", { userId: 7 });
      expect(list.status).toBe(503);
      expect(typeof list.body.message).toBe("string");
    } finally {
      await broken.stop();
      await dead.close();
    }
  });
});

describe("authentication (419)", () => {
  const routes = [
    { method: "GET", path: "/get-db", body: undefined },
    { method: "POST", path: "/deploy-postgres", body: {} },
    { method: "DELETE", path: "/delete-db/1", body: undefined },
    { method: "POST", path: "/get-tables-list", body: {} },
    { method: "POST", path: "/get-table-data", body: {} },
  ];

  test.each(routes)("$method $path without a token", async ({ method, path, body }) => {
    const response = await app.request(method, path, { body });
    expect(response.status).toBe(419);
    expect(typeof response.body.message).toBe("string");
  });

  test("bad tokens of every kind are 419, in the cookie or the header", async () => {
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const bad = [
      `${b64({ alg: "none", typ: "JWT" })}.${b64({ userId: "7" })}.`,
      jwt.sign({ userId: "7" }, TEST_ACCESS_SECRET, { algorithm: "HS384" }),
      jwt.sign({ userId: "7" }, "not-the-secret-at-all"),
      tokenFor("7", { expiresIn: -10 }),
      tokenFor("7", { notBefore: 3600 }),
      jwt.sign({ user: "7" }, TEST_ACCESS_SECRET),
      "garbage",
    ];
    for (const token of bad) {
      expect((await app.request("GET", "/get-db", { token })).status).toBe(419);
      expect((await app.request("GET", "/get-db", { token, cookie: true })).status).toBe(419);
    }
    const inQuery = await fetch(`${app.baseUrl}/get-db?accessToken=${tokenFor(7)}`);
    expect(inQuery.status).toBe(419);
  });

  test("a token without exp is 419, and stays refused", async () => {
    const forever = jwt.sign({ userId: "7" }, TEST_ACCESS_SECRET, { algorithm: "HS256" });
    for (let i = 0; i < 2; i++) {
      expect((await app.request("GET", "/get-db", { token: forever })).status).toBe(419);
      expect((await app.request("GET", "/get-db", { token: forever, cookie: true })).status).toBe(419);
    }
  });

  test("cookie and header of different users are 419; the same user in both, or a stale cookie, pass", async () => {
    const both = (cookieToken: string, headerToken: string) =>
      fetch(`${app.baseUrl}/get-db`, { headers: { cookie: `accessToken=${cookieToken}`, authorization: `Bearer ${headerToken}` } });
    const mixed = await both(tokenFor(7), tokenFor(8));
    expect(mixed.status).toBe(419);
    expect(await mixed.json()).toEqual({ message: "The cookie and the Authorization header carry tokens of different users" });
    const deploy = await fetch(`${app.baseUrl}/deploy-postgres`, {
      method: "POST",
      headers: { cookie: `accessToken=${tokenFor(8)}`, authorization: `Bearer ${tokenFor(7)}`, "content-type": "application/json" },
      body: JSON.stringify(deployBody()),
    });
    expect(deploy.status).toBe(419);
    expect((await both(tokenFor(7), tokenFor("7"))).status).toBe(200);
    expect((await both(tokenFor(8, { expiresIn: -10 }), tokenFor(7))).status).toBe(200);
  });

  test("an anonymous body is never parsed: malformed JSON without a token is 419, not 400", async () => {
    const response = await app.request("POST", "/deploy-postgres", { rawBody: "{not json" });
    expect(response.status).toBe(419);
  });

  test("string and numeric userId both work, from cookie or Bearer", async () => {
    expect((await app.request("GET", "/get-db", { token: tokenFor("7"), cookie: true })).status).toBe(200);
    expect((await app.request("GET", "/get-db", { token: tokenFor(7) })).status).toBe(200);
  });
});

describe("request validation (400, nothing touched)", () => {
  test.each([
    ["missing dbName", { dbName: undefined }],
    ["shell metacharacters", { dbName: "a;rm -rf /" }],
    ["command substitution", { userName: "$(id)" }],
    ["quote", { dbName: "a'b" }],
    ["overlong", { dbName: "a".repeat(64) }],
    ["unicode look-alike", { userName: "ｓhop" }],
    ["empty password", { password: "" }],
    ["NUL in password", { password: "a\u0000b" }],
    ["vpsId not a number", { vpsId: "1 OR 1=1" }],
    ["vpsId negative", { vpsId: -1 }],
    ["vpsIp wrong type", { vpsIp: 5 }],
    ["reserved database", { dbName: "postgres" }],
    ["reserved role", { userName: "postgres" }],
  ])("deploy: %s", async (_name, overrides) => {
    const response = await app.request("POST", "/deploy-postgres", { userId: 7, body: deployBody(overrides) });
    expect(response.status).toBe(400);
    expect(typeof response.body.message).toBe("string");
    expect(String(response.body.message)).not.toContain("a;rm");
  });

  test("malformed JSON is 400 and a body over 1 MiB is 413", async () => {
    const malformed = await app.request("POST", "/deploy-postgres", { userId: 7, rawBody: "{not json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toBe("Request body is not valid JSON");
    const big = await app.request("POST", "/deploy-postgres", { userId: 7, rawBody: JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    expect(typeof big.body.message).toBe("string");
  });

  test("table routes validate identifiers", async () => {
    const base = { databaseName: "shop", vpsId: machineOf7, vpsIp: "10.99.0.2", username: "shop_user" };
    for (const body of [{ ...base, databaseName: "x;y" }, { ...base, databaseName: undefined }, { ...base, username: "a b" }, { ...base, schema: "é".repeat(32) }, { ...base, schema: "" }]) {
      expect((await app.request("POST", "/get-tables-list", { userId: 7, body })).status).toBe(400);
    }
    // Table, schema and column names may be anything the catalog holds: only empty, NUL and over 63 bytes are refused.
    const overlong = "é".repeat(32);
    const refused = [
      { ...base, tableName: undefined },
      { ...base, tableName: "t", username: undefined },
      { ...base, tableName: "" },
      { ...base, tableName: "a\u0000b" },
      { ...base, tableName: overlong },
      { ...base, tableName: "t", schema: overlong },
      { ...base, tableName: "t", orderBy: "" },
      { ...base, tableName: "t", orderBy: "x\u0000" },
    ];
    for (const body of refused) {
      expect((await app.request("POST", "/get-table-data", { userId: 7, body })).status).toBe(400);
    }
  });

  test("delete ids must be positive integers", async () => {
    for (const id of ["abc", "0", "-1", "1.5", "99999999999"]) {
      expect((await app.request("DELETE", `/delete-db/${id}`, { userId: 7 })).status).toBe(400);
    }
  });
});

describe("machine checks (403 / 404) before any connection", () => {
  test("deploy to a machine of another user, a wrong IP or an unknown id is 403", async () => {
    for (const body of [deployBody({ vpsId: machineOf7 + 1, vpsIp: "10.99.0.3" }), deployBody({ vpsIp: "10.99.0.9" }), deployBody({ vpsId: 999 })]) {
      const response = await app.request("POST", "/deploy-postgres", { userId: 7, body });
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ message: "Unauthorized access for the machine" });
    }
    expect(await dbs.drizzleDb.select().from(deployed_db)).toHaveLength(0);
  });

  test("tables list answers 403 and table data answers 404 for someone else's machine", async () => {
    const body = { databaseName: "shop", vpsId: machineOf7, vpsIp: "10.99.0.2", username: "u", tableName: "t" };
    expect((await app.request("POST", "/get-tables-list", { userId: 8, body })).status).toBe(403);
    const data = await app.request("POST", "/get-table-data", { userId: 8, body });
    expect(data.status).toBe(404);
    expect(data.body).toEqual({ message: "Invalid Machine details or you are unauthorized to access this machine" });
  });

  test("undecryptable machine credentials are a clear 500, never an SSH attempt", async () => {
    const { rows } = await dbs.registryDb.pool.query<{ id: number }>(
      `INSERT INTO vps_machines (vps_ip, vps_name, vps_password, "ownerId") VALUES ('10.99.0.4', 'broken', 'U2FsdGVkX1garbage', 7) RETURNING id`,
    );
    const response = await app.request("POST", "/deploy-postgres", { userId: 7, body: deployBody({ vpsId: rows[0]?.id, vpsIp: "10.99.0.4" }) });
    expect(response.status).toBe(500);
    expect(response.body.message).toBe("The stored credentials of this machine could not be decrypted");
    expect(await dbs.drizzleDb.select().from(deployed_db)).toHaveLength(0);
  });

  test("no SSH connection was attempted by any refused request", () => {
    expect(leases.attempts).toHaveLength(0);
  });
});

describe("GET /get-db and DELETE /delete-db tenancy", () => {
  test("lists only the caller's rows, ordered by id, with opened passwords; legacy plaintext gets sealed", async () => {
    const rows = [
      { dbName: "b", username: "u1", password: box.seal("secret-b"), host: "10.99.0.2", dbType: "postgres", vpsId: machineOf7, userId: 7, status: "running" },
      { dbName: "x", username: "u2", password: box.seal("other"), host: "10.99.0.3", dbType: "postgres", vpsId: machineOf7 + 1, userId: 8, status: "running" },
      { dbName: "a", username: "u1", password: "legacy-plain", host: "10.99.0.2", dbType: "postgres", vpsId: machineOf7, userId: 7, status: "running" },
    ];
    await dbs.drizzleDb.insert(deployed_db).values(rows);
    const response = await app.request("GET", "/get-db", { userId: "7" });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe(200);
    const data = response.body.data as Array<Record<string, unknown>>;
    expect(data.map((row) => row.dbName)).toEqual(["b", "a"]);
    expect(data.map((row) => row.password)).toEqual(["secret-b", "legacy-plain"]);
    expect(Object.keys(data[0] ?? {}).sort()).toEqual(["createdAt", "dbName", "dbType", "host", "id", "password", "status", "userId", "username", "vpsId"]);
    const stored = await dbs.drizzleDb.select().from(deployed_db);
    for (const row of stored) expect(box.isSealed(row.password)).toBe(true);
  });

  test("deleting another user's row is 404 and keeps it", async () => {
    const [other] = (await dbs.drizzleDb.select().from(deployed_db)).filter((row) => row.userId === 8);
    const response = await app.request("DELETE", `/delete-db/${other?.id}`, { userId: 7 });
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ message: "Database not found" });
    expect((await dbs.drizzleDb.select().from(deployed_db)).some((row) => row.id === other?.id)).toBe(true);
  });
});

describe("request ids and logs", () => {
  test("every answer carries X-Request-Id; 5xx bodies quote it; one log line per request", async () => {
    const ok = await app.request("GET", "/get-db", { userId: 7 });
    const id = ok.headers.get("x-request-id") ?? "";
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await Bun.sleep(20);
    const line = logger.lines.find((l) => l.event === "http.request" && l.fields?.requestId === id);
    expect(line?.fields).toMatchObject({ method: "GET", route: "/get-db", status: 200, userId: 7 });
    expect(typeof line?.fields?.durationMs).toBe("number");

    const { rows } = await dbs.registryDb.pool.query<{ id: number }>(
      `INSERT INTO vps_machines (vps_ip, vps_name, vps_password, "ownerId") VALUES ('10.99.0.5', 'broken', 'garbage', 7) RETURNING id`,
    );
    const failed = await app.request("POST", "/deploy-postgres", { userId: 7, body: deployBody({ vpsId: rows[0]?.id, vpsIp: "10.99.0.5" }) });
    expect(failed.status).toBe(500);
    expect(failed.body.requestId).toBe(failed.headers.get("x-request-id") ?? "missing");
    const notFound = await app.request("GET", "/nope");
    expect(notFound.status).toBe(404);
    expect(notFound.body).toEqual({ message: "Route not found" });
  });
});

describe("CORS", () => {
  test("only configured origins, with credentials", async () => {
    const allowed = await fetch(`${app.baseUrl}/get-db`, { method: "OPTIONS", headers: { origin: "http://localhost:5173", "access-control-request-method": "GET" } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    expect(allowed.headers.get("access-control-allow-methods")).toBe("GET, POST, PUT, DELETE");
    expect(allowed.headers.get("access-control-allow-headers")).toBe("Content-Type, Authorization");
    const denied = await fetch(`${app.baseUrl}/get-db`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
    expect(denied.headers.get("access-control-allow-origin")).not.toBe("https://evil.example");
  });

  test("answers to other or no origins carry no CORS permissions, only Vary: Origin", async () => {
    for (const headers of [{}, { origin: "https://evil.example" }] as Array<Record<string, string>>) {
      const response = await fetch(`${app.baseUrl}/health`, { headers });
      expect(response.headers.get("vary")).toBe("Origin");
      for (const name of ["access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods", "access-control-expose-headers"]) {
        expect(response.headers.get(name)).toBeNull();
      }
      await response.arrayBuffer();
    }
  });
});

describe("health probes are cheap and quiet", () => {
  test("a probe gets its request id and security headers but no log line; other routes still log", async () => {
    const quiet = captureLogger();
    const probed = startTestApp({ store: dbs.store, registry: dbs.registry, leases, logger: quiet });
    try {
      for (const path of ["/", "/health", "/health/ready"]) {
        const response = await probed.request("GET", path);
        expect(response.status).toBe(200);
        expect(response.headers.get("x-request-id") ?? "").toMatch(/^[0-9a-f-]{36}$/);
        expect(response.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
      }
      expect((await probed.request("GET", "/get-db", { userId: 7 })).status).toBe(200);
      await Bun.sleep(20);
      expect(quiet.lines.map((line) => line.fields?.route)).toEqual(["/get-db"]);
    } finally {
      await probed.stop();
    }
  });

  test("a readiness probe that finds a dependency down is a warning naming it", async () => {
    const quiet = captureLogger();
    const down = startTestApp({ store: { ...dbs.store, ping: () => Promise.reject(new Error("down")) }, registry: dbs.registry, leases, logger: quiet });
    try {
      const response = await down.request("GET", "/health/ready");
      expect(response.status).toBe(503);
      expect(response.body).toEqual({ status: "unavailable", checks: { metadata: "down", registry: "up" } });
      expect(quiet.lines).toEqual([{ level: "warn", event: "health.not_ready", fields: { metadata: "down", registry: "up" } }]);
    } finally {
      await down.stop();
    }
  });
});
