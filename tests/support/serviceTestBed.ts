import { afterAll, beforeAll, beforeEach } from "bun:test";
import { eq } from "drizzle-orm";
import { audit_log, deployed_db, type DeployedDbRow } from "../../src/metadata/schema";
import { createTestDatabases, type TestDatabases } from "./testDatabase";
import { TEST_ENCRYPTION_KEY } from "./tokens";

/** Real metadata for service tests: one user's machine, emptied of rows and audit entries before each test. */
export interface ServiceTestBed {
  readonly dbs: TestDatabases;
  readonly machineId: number;
  /** The user's rows of `deployed_db`. */
  rows(): Promise<DeployedDbRow[]>;
  /** The user's audit entries. */
  auditRows(): Promise<Array<typeof audit_log.$inferSelect>>;
}

export function serviceTestBed(userId: number, host: string): ServiceTestBed {
  let dbs: TestDatabases | undefined;
  let machineId = 0;
  const ready = () => {
    if (!dbs) throw new Error("the service test bed is built in beforeAll (use it inside tests)");
    return dbs;
  };

  beforeAll(async () => {
    dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
    machineId = await dbs.addMachine({ ip: host, ownerId: userId, rootPassword: "root-pw" });
  });
  afterAll(async () => {
    await dbs?.dropAll();
  });
  beforeEach(async () => {
    await ready().drizzleDb.delete(deployed_db);
    await ready().drizzleDb.delete(audit_log);
  });

  return {
    get dbs() {
      return ready();
    },
    get machineId() {
      return machineId;
    },
    rows: () => ready().drizzleDb.select().from(deployed_db).where(eq(deployed_db.userId, userId)),
    auditRows: () => ready().drizzleDb.select().from(audit_log).where(eq(audit_log.userId, userId)),
  };
}
