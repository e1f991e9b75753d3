import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { noAudit } from "../../src/metadata/auditTrail";
import { deployed_db } from "../../src/metadata/schema";
import { reconcileUnfinishedDeploys } from "../../src/features/databases/reconcileDeploys";
import { silentLogger } from "../../src/shared/logger";
import { refusingLeases } from "../support/recordingSessions";
import { TEST_SSH } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

let dbs: TestDatabases;
beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
});
afterAll(async () => {
  await dbs?.dropAll();
});

test("an interrupted deploy whose machine cannot be reached is marked failed, never left deploying; fresh ones are left alone", async () => {
  const machineId = await dbs.addMachine({ ip: "10.99.1.2", ownerId: 3, rootPassword: "pw" });
  const base = { username: "u", password: "enc:v1:AAAA", host: "10.99.1.2", dbType: "postgres", vpsId: machineId, userId: 3, status: "deploying" };
  await dbs.drizzleDb.insert(deployed_db).values([
    { ...base, dbName: "stale", createdAt: new Date(Date.now() - 3_600_000) },
    { ...base, dbName: "fresh" },
  ]);
  const result = await reconcileUnfinishedDeploys(
    {
      store: dbs.store,
      registry: dbs.registry,
      leases: refusingLeases(),
      audit: noAudit,
      encryptionKey: TEST_ENCRYPTION_KEY,
      ssh: TEST_SSH,
      logger: silentLogger,
    },
    new Date(Date.now() - 60_000),
  );
  expect(result).toEqual({ rolledBack: 0, failed: 1 });
  const [stale] = await dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, "stale"));
  const [fresh] = await dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, "fresh"));
  expect(stale?.status).toBe("failed");
  expect(fresh?.status).toBe("deploying");
});

test("an interrupted MySQL deploy is never undone as a PostgreSQL one: marked failed without any SSH connection", async () => {
  const machineId = await dbs.addMachine({ ip: "10.99.1.3", ownerId: 4, rootPassword: "pw" });
  await dbs.drizzleDb.insert(deployed_db).values({
    dbName: "my_stale",
    username: "u",
    password: "enc:v1:AAAA",
    host: "10.99.1.3",
    dbType: "mysql",
    vpsId: machineId,
    userId: 4,
    status: "deploying",
    createdAt: new Date(Date.now() - 3_600_000),
  });
  const leases = refusingLeases();
  const result = await reconcileUnfinishedDeploys(
    {
      store: dbs.store,
      registry: dbs.registry,
      leases,
      audit: noAudit,
      encryptionKey: TEST_ENCRYPTION_KEY,
      ssh: TEST_SSH,
      logger: silentLogger,
    },
    new Date(Date.now() - 60_000),
  );
  expect(result).toEqual({ rolledBack: 0, failed: 1 });
  expect(leases.attempts).toEqual([]);
  const [row] = await dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, "my_stale"));
  expect(row?.status).toBe("failed");
});
