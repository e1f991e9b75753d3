import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startServiceProcess, type ServiceProcess } from "../support/serviceProcess";
import { PLANTED_SECRET } from "../support/plantedFaults";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/** The real entry point keeps serving through a stray exception or rejection, and logs it without its message. */
let dbs: TestDatabases;
let service: ServiceProcess;

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  service = startServiceProcess({
    metadataUrl: dbs.metadata.url,
    registryUrl: dbs.registryDb.url,
    preload: join(import.meta.dir, "..", "support", "plantedFaults.ts"),
    captureLog: true,
  });
  await service.waitHealthy();
}, 60_000);

afterAll(async () => {
  service?.process.kill("SIGKILL");
  await dbs?.dropAll();
});

describe("process-level faults", () => {
  test("an uncaught exception and an unhandled rejection are logged by name and code, and the service keeps serving", async () => {
    for (let round = 0; round < 3; round++) {
      service.process.kill("SIGUSR2");
      let logged = false;
      for (let i = 0; i < 50 && !logged; i++) {
        await Bun.sleep(100);
        logged = service.log().split("\n").filter((line) => line.includes("process.uncaught_exception")).length > round;
      }
      expect(logged).toBe(true);
      expect(service.process.exitCode).toBeNull();
      expect((await fetch(`${service.baseUrl}/health`)).status).toBe(200);
    }
    const lines = service
      .log()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((line) => line.event === "process.uncaught_exception")).toMatchObject({ level: "error", error: "TypeError", code: "E_PLANTED" });
    expect(lines.find((line) => line.event === "process.unhandled_rejection")).toMatchObject({ level: "error", error: "RangeError" });
    expect(service.log()).not.toContain(PLANTED_SECRET);
  }, 60_000);
});
