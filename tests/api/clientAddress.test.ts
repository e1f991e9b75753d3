import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { audit_log } from "../../src/metadata/schema";
import { addressFromForwarded } from "../../src/http/clientAddress";
import { refusingLeases } from "../support/recordingSessions";
import { captureLogger, startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/** Behind a reverse proxy, only the entries our proxies appended name the client. */
let dbs: TestDatabases;
let oneProxy: RunningTestApp;
let twoProxies: RunningTestApp;

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  const audit = createAuditTrail(dbs.drizzleDb, captureLogger());
  const limits = { windowMs: 60_000, perAddress: 3, userReads: 1_000, userWrites: 1_000, trustedProxyHeader: "x-forwarded-for" };
  oneProxy = startTestApp({ store: dbs.store, registry: dbs.registry, leases: refusingLeases(), audit, rateLimits: limits });
  twoProxies = startTestApp({ store: dbs.store, registry: dbs.registry, leases: refusingLeases(), audit, rateLimits: { ...limits, trustedProxyHops: 2 } });
});

afterAll(async () => {
  await oneProxy?.stop();
  await twoProxies?.stop();
  await dbs?.dropAll();
});

const via = (app: RunningTestApp, forwardedFor: string) => fetch(`${app.baseUrl}/get-db`, { headers: { "x-forwarded-for": forwardedFor } });

describe("addressFromForwarded", () => {
  test("counts trusted hops from the right; a shorter chain falls back to its first entry", () => {
    expect(addressFromForwarded("6.6.6.6, 203.0.113.9", 1)).toBe("203.0.113.9");
    expect(addressFromForwarded("6.6.6.6,203.0.113.9 , 10.0.0.2", 2)).toBe("203.0.113.9");
    expect(addressFromForwarded("203.0.113.9", 2)).toBe("203.0.113.9");
    expect(addressFromForwarded(" , ", 1)).toBeUndefined();
  });
});

describe("per-address limit and audit trail behind a proxy", () => {
  test("varying the client-written (left-most) entries does not buy a new budget", async () => {
    for (let i = 0; i < 3; i++) expect((await via(oneProxy, `10.0.${i}.1, 203.0.113.9`)).status).toBe(419);
    expect((await via(oneProxy, "10.9.9.9, 203.0.113.9")).status).toBe(429);
    expect((await via(oneProxy, "203.0.113.9")).status).toBe(429);
    // Another real client behind the same proxy has its own budget.
    expect((await via(oneProxy, "10.9.9.9, 198.51.100.7")).status).toBe(419);
  });

  test("with two trusted proxies the second entry from the right is the client", async () => {
    for (let i = 0; i < 3; i++) expect((await via(twoProxies, `10.1.${i}.1, 192.0.2.5, 10.0.0.2`)).status).toBe(419);
    expect((await via(twoProxies, "1.2.3.4, 192.0.2.5, 10.0.0.2")).status).toBe(429);
    expect((await via(twoProxies, "1.2.3.4, 192.0.2.6, 10.0.0.2")).status).toBe(419);
  });

  test("the audit trail records the same address, not the proxy's", async () => {
    const body = JSON.stringify({ vpsId: 4242, vpsIp: "10.0.0.1", dbName: "a", userName: "b", password: "c" });
    const response = await fetch(`${oneProxy.baseUrl}/deploy-postgres`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokenFor(31)}`, "x-forwarded-for": "6.6.6.6, 192.0.2.77" },
      body,
    });
    expect(response.status).toBe(403);
    const entries = (await dbs.drizzleDb.select().from(audit_log)).filter((entry) => entry.userId === 31);
    expect(entries.map((entry) => [entry.action, entry.outcome, entry.clientAddress])).toEqual([["deploy", "refused", "192.0.2.77"]]);
  });
});
