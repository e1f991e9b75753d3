import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chunkedUpload, residentMiB } from "../support/chunkedUpload";
import { startServiceProcess, type ServiceProcess } from "../support/serviceProcess";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/** Body limits of the real service process, whatever the framing, watched through its memory. */
let dbs: TestDatabases;
let service: ServiceProcess;
const BODY_BYTES = 150 * 1024 * 1024;
// Far below the body's size: the service may hold a few MiB per request, never the body.
const MAX_GROWTH_MIB = 48;

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  service = startServiceProcess({ metadataUrl: dbs.metadata.url, registryUrl: dbs.registryDb.url });
  await service.waitHealthy();
  // Warm the routes once so the baseline includes compiled handlers.
  await fetch(`${service.baseUrl}/get-db`, { headers: { authorization: `Bearer ${tokenFor(7)}` } });
}, 60_000);

afterAll(async () => {
  service?.process.kill();
  await service?.process.exited;
  await dbs?.dropAll();
});

const port = () => Number(new URL(service.baseUrl).port);
// The service runs in production mode: only the production portal is an allowed origin.
const PORTAL = "https://zyotraportal.ramkrishna.cloud";

describe("chunked request bodies", () => {
  test("an anonymous 150 MB chunked upload is refused with 419 before its body is read", async () => {
    const before = residentMiB(service.process.pid);
    const result = await chunkedUpload({ port: port(), path: "/deploy-postgres", headers: { origin: PORTAL }, totalBytes: BODY_BYTES, watchPid: service.process.pid });
    expect(result.status).toBe(419);
    expect(result.headers["access-control-allow-origin"]).toBe(PORTAL);
    expect(result.peakRssMiB - before).toBeLessThan(MAX_GROWTH_MIB);
    expect((await fetch(`${service.baseUrl}/health`)).status).toBe(200);
  }, 90_000);

  test("an authenticated 150 MB chunked upload is cut off at the limit with 413", async () => {
    const before = residentMiB(service.process.pid);
    const result = await chunkedUpload({
      port: port(),
      path: "/deploy-postgres",
      headers: { authorization: `Bearer ${tokenFor(7)}`, origin: PORTAL },
      totalBytes: BODY_BYTES,
      watchPid: service.process.pid,
    });
    // Bun 1.4.5 sometimes closes such a connection before the 413 it was handed reaches the
    // client (known limit, README); when the answer does arrive it is the portal-readable 413.
    expect([413, 0]).toContain(result.status);
    if (result.status === 413) expect(result.headers["access-control-allow-origin"]).toBe(PORTAL);
    expect(result.peakRssMiB - before).toBeLessThan(MAX_GROWTH_MIB);
    // Far less than the body was accepted before the refusal.
    expect(result.bytesSent).toBeLessThan(BODY_BYTES / 2);
    expect((await fetch(`${service.baseUrl}/health`)).status).toBe(200);
  }, 90_000);
});
