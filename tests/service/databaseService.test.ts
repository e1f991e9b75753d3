import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createSecretBox } from "../../src/crypto/secretBox";
import { MachineAccessDeniedError, MachineUnreachableError, RemoteStepError } from "../../src/errors/appErrors";
import { createDatabaseService, type DatabaseProbe } from "../../src/features/databases/databases.service";
import { reconcileUnfinishedDeploys } from "../../src/features/databases/reconcileDeploys";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { audit_log, deployed_db } from "../../src/metadata/schema";
import { KeyedMutex } from "../../src/shared/keyedMutex";
import { embeddedSql, scriptedLeases, type MachineScript, type RemoteCall } from "../support/scriptedSsh";
import { captureLogger, TEST_SSH } from "../support/testApp";
import { serviceTestBed } from "../support/serviceTestBed";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/**
 * The PostgreSQL database service against real metadata and a scripted machine: what it decides
 * (rollback, role sharing, audit outcomes, reconciliation) in milliseconds. What the scripts do on
 * a real machine is proven by tests/e2e.
 */
const ME = 41;
const SSH = { ...TEST_SSH, commandTimeoutMs: 5_000, installTimeoutMs: 5_000 };
const HOST = "192.0.2.10";
const bed = serviceTestBed(ME, HOST);

const isDeployScript = (call: RemoteCall) => call.command.includes("bash") && call.stdin.includes("@@STEP");
const isPsql = (call: RemoteCall) => call.command.includes("psql");

function serviceWith(script: MachineScript, probe: DatabaseProbe = async () => undefined) {
  const leases = scriptedLeases(script);
  const logger = captureLogger();
  const service = createDatabaseService({
    store: bed.dbs.store,
    audit: createAuditTrail(bed.dbs.drizzleDb, logger),
    registry: bed.dbs.registry,
    leases,
    secretBox: createSecretBox(TEST_ENCRYPTION_KEY),
    encryptionKey: TEST_ENCRYPTION_KEY,
    ssh: SSH,
    hostLocks: new KeyedMutex(),
    probe,
    logger,
  });
  return { service, calls: leases.calls, leases, logger };
}

const request = (overrides: Partial<{ dbName: string; userName: string; password: string; vpsId: number; vpsIp: string }> = {}) => ({
  vpsId: bed.machineId,
  vpsIp: HOST,
  dbName: "shop",
  userName: "shop_user",
  password: "pa'ss word",
  ...overrides,
});



describe("deploy", () => {
  test("a script failing after it created the role and database: both dropped again, no row, the step named, a failure audited", async () => {
    const { service, calls } = serviceWith((call) =>
      isDeployScript(call)
        ? { stdout: "@@STEP database\n@@CREATED role\n@@CREATED database\n@@STEP remote-access\n@@FAIL could not write pg_hba.conf\n", exitCode: 1 }
        : { exitCode: 0 },
    );
    const attempt = service.deploy({ userId: ME }, request());
    await expect(attempt).rejects.toBeInstanceOf(RemoteStepError);
    await expect(attempt).rejects.toThrow("Deployment failed while opening remote access: could not write pg_hba.conf");
    const rollback = calls.filter(isPsql);
    expect(rollback).toHaveLength(1);
    expect(rollback[0]?.stdin).toContain('DROP DATABASE IF EXISTS "shop"');
    expect(rollback[0]?.stdin).toContain('DROP ROLE IF EXISTS "shop_user"');
    expect(await bed.rows()).toEqual([]);
    expect((await bed.auditRows()).map((row) => [row.action, row.outcome, row.detail])).toEqual([["deploy", "failure", "remote-step"]]);
  });

  test("a failure before anything was created runs no rollback", async () => {
    const { service, calls } = serviceWith((call) => (isDeployScript(call) ? { stdout: "@@STEP install\n@@FAIL no package\n", exitCode: 1 } : { exitCode: 0 }));
    await expect(service.deploy({ userId: ME }, request())).rejects.toThrow("Deployment failed while installing PostgreSQL: no package");
    expect(calls.filter(isPsql)).toHaveLength(0);
    expect(await bed.rows()).toEqual([]);
  });

  test("a database that refuses the new login: rolled back, no row", async () => {
    const { service, calls } = serviceWith(
      (call) => (isDeployScript(call) ? { stdout: "@@CREATED role\n@@CREATED database\n@@RESULT port=5432\n" } : { exitCode: 0 }),
      async () => {
        throw new Error("password authentication failed");
      },
    );
    await expect(service.deploy({ userId: ME }, request())).rejects.toThrow("does not accept logins");
    expect(calls.filter(isPsql).map((call) => call.stdin.includes('DROP ROLE IF EXISTS "shop_user"'))).toEqual([true]);
    expect(await bed.rows()).toEqual([]);
  });

  test("a role serving another of the caller's databases there is reused, and every row of it gets the new password", async () => {
    const box = createSecretBox(TEST_ENCRYPTION_KEY);
    await bed.dbs.store.insertDeploying({ dbName: "older", username: "shop_user", password: box.seal("old-pw"), host: HOST, dbType: "postgres", vpsId: bed.machineId, userId: ME });
    const { service, calls } = serviceWith((call) => (isDeployScript(call) ? { stdout: "@@CREATED database\n@@RESULT port=5432\n" } : { exitCode: 0 }));
    const deployed = await service.deploy({ userId: ME }, request({ password: "new-pw" }));
    expect(deployed.connectionString).toBe(`postgresql://shop_user:new-pw@${HOST}:5432/shop`);
    const sql = embeddedSql(calls.find(isDeployScript)?.stdin ?? "");
    expect(sql).toContain("\\elif false");
    const rows = await bed.rows();
    expect(rows.map((row) => [row.dbName, box.open(row.password)]).sort()).toEqual([
      ["older", "new-pw"],
      ["shop", "new-pw"],
    ]);
  });

  test("another user's role of that name is not reused (the script may refuse it)", async () => {
    const box = createSecretBox(TEST_ENCRYPTION_KEY);
    await bed.dbs.store.insertDeploying({ dbName: "theirs", username: "shop_user", password: box.seal("x"), host: HOST, dbType: "postgres", vpsId: bed.machineId, userId: ME + 1 });
    const { service, calls } = serviceWith((call) => (isDeployScript(call) ? { stdout: "@@REFUSED foreign-role\n", exitCode: 3 } : { exitCode: 0 }));
    await expect(service.deploy({ userId: ME }, request())).rejects.toThrow();
    expect(embeddedSql(calls.find(isDeployScript)?.stdin ?? "")).toContain("\\elif :zsl_role_exists");
    expect((await bed.auditRows()).map((row) => row.outcome)).toEqual(["refused"]);
    await bed.dbs.drizzleDb.delete(deployed_db).where(eq(deployed_db.userId, ME + 1));
  });
});

describe("audit outcomes", () => {
  test("success, refusal on someone else's machine, and bad input (not recorded, nothing run)", async () => {
    const { service, calls } = serviceWith((call) => (isDeployScript(call) ? { stdout: "@@CREATED role\n@@CREATED database\n@@RESULT port=5432\n" } : { exitCode: 0 }));
    await service.deploy({ userId: ME }, request());
    await expect(service.deploy({ userId: ME + 1 }, request({ dbName: "other" }))).rejects.toBeInstanceOf(MachineAccessDeniedError);
    await expect(service.deploy({ userId: ME }, request({ dbName: "postgres" }))).rejects.toThrow("reserved");
    const other = await bed.dbs.drizzleDb.select().from(audit_log).where(eq(audit_log.userId, ME + 1));
    expect((await bed.auditRows()).map((row) => [row.action, row.outcome])).toEqual([["deploy", "success"]]);
    expect(other.map((row) => [row.action, row.outcome, row.detail])).toEqual([["deploy", "refused", "machine-access-denied"]]);
    expect(calls.filter(isDeployScript)).toHaveLength(1);
  });

  test("delete: the role shared with another database stays; the row goes; success audited", async () => {
    const { service, calls } = serviceWith((call) => (isDeployScript(call) ? { stdout: "@@CREATED role\n@@CREATED database\n@@RESULT port=5432\n" } : { exitCode: 0 }));
    const first = await service.deploy({ userId: ME }, request());
    await service.deploy({ userId: ME }, request({ dbName: "shop2" }));
    await service.remove({ userId: ME }, first.id);
    const drop = calls.filter(isPsql).at(-1)?.stdin ?? "";
    expect(drop).toContain('DROP DATABASE IF EXISTS "shop"');
    expect(drop).not.toContain("DROP ROLE");
    expect((await bed.rows()).map((row) => row.dbName)).toEqual(["shop2"]);
    expect((await bed.auditRows()).map((row) => [row.action, row.outcome])).toEqual([
      ["deploy", "success"],
      ["deploy", "success"],
      ["delete", "success"],
    ]);
  });
});

describe("reconciliation of interrupted deploys", () => {
  const reconcile = (script: MachineScript) => {
    const leases = scriptedLeases(script);
    const logger = captureLogger();
    const deps = {
      store: bed.dbs.store,
      registry: bed.dbs.registry,
      leases,
      audit: createAuditTrail(bed.dbs.drizzleDb, logger),
      encryptionKey: TEST_ENCRYPTION_KEY,
      ssh: SSH,
      logger,
    };
    return { run: () => reconcileUnfinishedDeploys(deps, new Date(Date.now() + 60_000)), calls: leases.calls };
  };

  test("a stale deploying row is undone by its tag on its machine and removed", async () => {
    const row = await bed.dbs.store.insertDeploying({ dbName: "half", username: "half_u", password: "sealed", host: HOST, dbType: "postgres", vpsId: bed.machineId, userId: ME });
    const { run, calls } = reconcile(() => ({ exitCode: 0 }));
    expect(await run()).toEqual({ rolledBack: 1, failed: 0 });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.stdin).toContain(`'zyotra-storage-layer deploy ${row.id}'`);
    expect(await bed.rows()).toEqual([]);
    expect((await bed.auditRows()).map((r) => r.detail)).toEqual(["interrupted; rolled back at reconciliation"]);
  });

  test("an unreachable machine leaves the row failed for a human", async () => {
    await bed.dbs.store.insertDeploying({ dbName: "half", username: "half_u", password: "sealed", host: HOST, dbType: "postgres", vpsId: bed.machineId, userId: ME });
    const { run } = reconcile(() => {
      throw new MachineUnreachableError("gone");
    });
    expect(await run()).toEqual({ rolledBack: 0, failed: 1 });
    expect((await bed.rows()).map((r) => r.status)).toEqual(["failed"]);
  });
});
