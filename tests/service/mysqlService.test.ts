import { describe, expect, test } from "bun:test";
import { createSecretBox } from "../../src/crypto/secretBox";
import { DeployRefusedError, RemoteStepError, WrongRootPasswordError } from "../../src/errors/appErrors";
import { createMySqlService } from "../../src/features/mysql/mysql.service";
import type { MySqlProbe } from "../../src/engines/mysql/mysqlProbe";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { KeyedMutex } from "../../src/shared/keyedMutex";
import { scriptedLeases, type MachineScript, type RemoteCall } from "../support/scriptedSsh";
import { captureLogger, TEST_SSH } from "../support/testApp";
import { serviceTestBed } from "../support/serviceTestBed";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/** The MySQL deploy service against real metadata and a scripted machine (see databaseService.test.ts). */
const ME = 43;
const HOST = "192.0.2.20";
const SSH = { ...TEST_SSH, commandTimeoutMs: 5_000, installTimeoutMs: 5_000 };
const bed = serviceTestBed(ME, HOST);

const isDeployScript = (call: RemoteCall) => call.command.includes("bash") && call.stdin.includes("@@STEP");
const isRootSql = (call: RemoteCall) => call.command.includes("mysql --protocol=socket");

function serviceWith(script: MachineScript, probe: MySqlProbe = async () => undefined) {
  const leases = scriptedLeases(script);
  const logger = captureLogger();
  const service = createMySqlService({
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
  return { service, calls: leases.calls };
}

const request = (overrides: Record<string, string | number> = {}) => ({
  vpsId: bed.machineId,
  vpsIp: HOST,
  dbName: "shop",
  userName: "shop_user",
  password: "user pw",
  rootPassword: "root pw",
  dbType: "mysql" as const,
  ...overrides,
});



describe("MySQL deploy", () => {
  test("a script failing after it created the user and database: both dropped as root, no row, the step named, a failure audited", async () => {
    const { service, calls } = serviceWith((call) =>
      isDeployScript(call) ? { stdout: "@@STEP database\n@@CREATED user\n@@CREATED database\n@@STEP restart\n@@FAIL the server did not come back\n", exitCode: 1 } : { exitCode: 0 },
    );
    await expect(service.deploy({ userId: ME }, request())).rejects.toThrow("MySQL deployment failed while restarting MySQL: the server did not come back");
    const rollback = calls.filter(isRootSql);
    expect(rollback).toHaveLength(1);
    expect(rollback[0]?.stdin).toContain("DROP DATABASE IF EXISTS `shop`");
    expect(rollback[0]?.stdin).toContain("DROP USER IF EXISTS 'shop_user'@'%', 'shop_user'@'localhost'");
    expect(await bed.rows()).toEqual([]);
    expect((await bed.auditRows()).map((row) => [row.outcome, row.detail])).toEqual([["failure", "mysql remote-step"]]);
  });

  test("a wrong root password on an existing installation: 400 sentence, nothing rolled back, refused in the audit", async () => {
    const { service, calls } = serviceWith((call) => (isDeployScript(call) ? { stdout: "@@STEP root-password\n@@REFUSED wrong-root-password\n", exitCode: 3 } : { exitCode: 0 }));
    const attempt = service.deploy({ userId: ME }, request());
    await expect(attempt).rejects.toBeInstanceOf(WrongRootPasswordError);
    expect(calls.filter(isRootSql)).toHaveLength(0);
    expect(await bed.rows()).toEqual([]);
    expect((await bed.auditRows()).map((row) => [row.outcome, row.detail])).toEqual([["refused", "mysql invalid-request"]]);
  });

  test("a user the service did not create is refused (409 kind), audited as refused", async () => {
    const { service } = serviceWith((call) => (isDeployScript(call) ? { stdout: "@@REFUSED foreign-user\n", exitCode: 3 } : { exitCode: 0 }));
    await expect(service.deploy({ userId: ME }, request())).rejects.toBeInstanceOf(DeployRefusedError);
    expect((await bed.auditRows()).map((row) => row.outcome)).toEqual(["refused"]);
  });

  test("a database that refuses the new login is rolled back; success otherwise reuses the caller's user and updates its rows", async () => {
    const refusing = serviceWith(
      (call) => (isDeployScript(call) ? { stdout: "@@CREATED user\n@@CREATED database\n@@RESULT port=3306\n" } : { exitCode: 0 }),
      async () => {
        throw new Error("Access denied");
      },
    );
    await expect(refusing.service.deploy({ userId: ME }, request())).rejects.toBeInstanceOf(RemoteStepError);
    expect(refusing.calls.filter(isRootSql).map((call) => call.stdin.includes("DROP USER IF EXISTS 'shop_user'"))).toEqual([true]);

    const box = createSecretBox(TEST_ENCRYPTION_KEY);
    await bed.dbs.store.insertDeploying({ dbName: "older", username: "shop_user", password: box.seal("old"), host: HOST, dbType: "mysql", vpsId: bed.machineId, userId: ME });
    const { service } = serviceWith((call) => (isDeployScript(call) ? { stdout: "@@CREATED database\n@@RESULT port=3306\n@@RESULT existing=1\n" } : { exitCode: 0 }));
    const deployed = await service.deploy({ userId: ME }, request({ password: "new pw" }));
    expect(deployed.connectionString).toBe(`mysql://shop_user:new%20pw@${HOST}:3306/shop`);
    expect(deployed.existingInstallation).toBe(true);
    expect((await bed.rows()).map((row) => [row.dbName, box.open(row.password), row.status]).sort()).toEqual([
      ["older", "new pw", "deploying"],
      ["shop", "new pw", "running"],
    ]);
  });
});
