import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import { createBackupStore } from "../../src/metadata/backupStore";
import type { DeployedDbStore } from "../../src/metadata/deployedDbStore";
import { refusingLeases } from "../support/recordingSessions";
import { GENEROUS_LIMITS, startTestApp, TEST_SSH, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ACCESS_SECRET, TEST_ENCRYPTION_KEY } from "../support/tokens";

/** The OpenAPI document covers every served route, and the declared responses are enforced. */
let dbs: TestDatabases;
let app: RunningTestApp;

interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: unknown }> }>; security?: unknown[] }>>;
  components: { securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }> };
  security: Array<Record<string, unknown>>;
}

const PUBLIC_ROUTES = new Set(["/", "/health", "/health/ready"]);

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  app = startTestApp({ store: dbs.store, caching: dbs.caching, registry: dbs.registry, leases: refusingLeases(), backups: createBackupStore(dbs.drizzleDb) });
});

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
});

/** Every route the service serves, from a real instance (the docs' own routes aside). */
function servedRoutes(): Array<{ method: string; path: string }> {
  const instance = createApp({
    accessTokenSecret: TEST_ACCESS_SECRET,
    encryptionKey: TEST_ENCRYPTION_KEY,
    corsOrigins: [],
    ssh: TEST_SSH,
    rateLimits: GENEROUS_LIMITS,
    store: dbs.store,
    caching: dbs.caching,
    registry: dbs.registry,
    leases: refusingLeases(),
    backups: createBackupStore(dbs.drizzleDb),
  });
  return instance.routes
    .filter((route) => !route.path.startsWith("/openapi") && route.method !== "OPTIONS" && route.method !== "ALL")
    .map((route) => ({ method: route.method.toLowerCase(), path: route.path.replace(/:(\w+)/g, "{$1}") }));
}

describe("OpenAPI document", () => {
  test("/openapi/json lists every served route with its success and error responses", async () => {
    const response = await fetch(`${app.baseUrl}/openapi/json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as OpenApiDocument;
    const routes = servedRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(8);
    for (const { method, path } of routes) {
      const operation = doc.paths[path]?.[method];
      expect(operation, `${method.toUpperCase()} ${path} is documented`).toBeDefined();
      const statuses = Object.keys(operation?.responses ?? {});
      expect(statuses, `${method} ${path}`).toContain("200");
      // JSON everywhere but file downloads, which document their binary body instead.
      const success = operation?.responses["200"]?.content;
      const documented = path.endsWith("/download") ? Object.values(success ?? {})[0]?.schema : success?.["application/json"]?.schema;
      expect(documented, `${method} ${path} 200 schema`).toBeDefined();
      if (PUBLIC_ROUTES.has(path)) {
        expect(operation?.security, `${path} is public`).toEqual([]);
      } else {
        for (const status of ["419", "429", "503"]) expect(statuses, `${method} ${path}`).toContain(status);
        if (method !== "get") expect(statuses, `${method} ${path} validates its input`).toContain("400");
        const error = operation?.responses["419"]?.content?.["application/json"]?.schema as { properties?: Record<string, unknown> } | undefined;
        expect(Object.keys(error?.properties ?? {})).toContain("message");
      }
    }
  });

  test("documents both ways to authenticate", async () => {
    const doc = (await (await fetch(`${app.baseUrl}/openapi/json`)).json()) as OpenApiDocument;
    expect(doc.components.securitySchemes.accessTokenCookie).toEqual({ type: "apiKey", in: "cookie", name: "accessToken" });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.security).toEqual([{ accessTokenCookie: [] }, { bearer: [] }]);
  });

  test("/openapi is a browsable page allowed to load its script", async () => {
    const response = await fetch(`${app.baseUrl}/openapi`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(await response.text()).toContain("openapi/json");
    expect(response.headers.get("content-security-policy")).toContain("script-src https://cdn.jsdelivr.net");
    // Every other answer keeps the API's closed policy.
    expect((await fetch(`${app.baseUrl}/openapi/json`)).headers.get("content-security-policy")).toStartWith("default-src 'none'");
  });
});

describe("declared responses are enforced", () => {
  test("a body that no longer matches the portal's contract is a 500, never a silently different shape", async () => {
    const owner = 41;
    const machine = await dbs.addMachine({ ip: "10.99.1.2", ownerId: owner, rootPassword: "pw" });
    await dbs.store.insertDeploying({ dbName: "shop", username: "shop_user", password: "pw", host: "10.99.1.2", dbType: "postgres", vpsId: machine, userId: owner });
    // A regression below the controller: a field the portal builds connection strings from goes missing.
    const broken: DeployedDbStore = {
      ...dbs.store,
      listByUser: async (userId) => (await dbs.store.listByUser(userId)).map((row) => ({ ...row, dbName: undefined as unknown as string })),
    };
    const regressed = startTestApp({ store: broken, registry: dbs.registry, leases: refusingLeases() });
    try {
      expect((await app.request("GET", "/get-db", { userId: owner })).status).toBe(200);
      const answer = await regressed.request("GET", "/get-db", { userId: owner });
      expect(answer.status).toBe(500);
      expect(answer.body.data).toBeUndefined();
    } finally {
      await regressed.stop();
    }
  });
});
