import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { createDeployedDbStore } from "../../src/metadata/deployedDbStore";
import { openMetadataDatabase } from "../../src/metadata/metadataClient";
import { deployed_db } from "../../src/metadata/schema";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startTcpProxy, type TcpProxy } from "../support/tcpProxy";
import { captureLogger, startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/**
 * Every failure path is logged, and no log line carries a password or a driver's message (which
 * holds the failed query's parameters, a legacy plaintext password among them). The metadata
 * database fails through a trigger (a driver error with parameters) or an outage (a proxy cut);
 * the machine fails through stand-ins first on its PATH.
 */
const USER = 51;
const LEGACY_PASSWORD = "legacy-plaintext-pw-7Qz";
const DEPLOY_PASSWORD = "deploy-pw-9Xk";
const TRIGGER_MESSAGE = "refused-by-test-trigger";
/** Text that only a driver's own message would put into a log line. */
const DRIVER_FRAGMENTS = ["Failed query", "params:", TRIGGER_MESSAGE, "deployed_db", "Connection terminated", "ECONNREFUSED", "ECONNRESET"];

let vps: SandboxVps;
let dbs: TestDatabases;
let proxy: TcpProxy;
let metadata: ReturnType<typeof openMetadataDatabase>;
let app: RunningTestApp;
let machineId = 0;
const logger = captureLogger();

/** Exits with a failure after claiming it created the role and database (so a rollback runs). */
const FAILING_DEPLOY = `#!/bin/bash
printf '@@STEP database\\n@@CREATED role\\n@@CREATED database\\n@@FAIL creating the role and database failed\\n'
exit 1
`;
/** Slow enough for the test to cut the metadata database while the deploy is on the machine. */
const SLOW_FAILING_DEPLOY = `#!/bin/bash
sleep 2
printf '@@STEP database\\n@@FAIL creating the role and database failed\\n'
exit 1
`;
const FAILING_PSQL = `#!/bin/bash
echo 'psql: error: refused' >&2
exit 2
`;

function expectCleanLog(): void {
  const text = JSON.stringify(logger.lines);
  for (const secret of [LEGACY_PASSWORD, DEPLOY_PASSWORD]) expect(text).not.toContain(secret);
  for (const fragment of DRIVER_FRAGMENTS) expect(text).not.toContain(fragment);
}

const deploy = (dbName: string) =>
  app.request("POST", "/deploy-postgres", { userId: USER, body: { vpsId: machineId, vpsIp: vps.ip, dbName, userName: `${dbName}_user`, password: DEPLOY_PASSWORD } });

async function withTrigger<T>(operation: "UPDATE" | "DELETE", work: () => Promise<T>): Promise<T> {
  await dbs.metadata.pool.query(`CREATE FUNCTION zsl_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${TRIGGER_MESSAGE}'; END $$`);
  await dbs.metadata.pool.query(`CREATE TRIGGER zsl_refuse BEFORE ${operation} ON deployed_db FOR EACH ROW EXECUTE FUNCTION zsl_refuse()`);
  try {
    return await work();
  } finally {
    await dbs.metadata.pool.query("DROP TRIGGER zsl_refuse ON deployed_db; DROP FUNCTION zsl_refuse()");
  }
}

async function withStandIn<T>(tool: string, script: string, work: () => Promise<T>): Promise<T> {
  await vps.setStandIn(tool, script);
  try {
    return await work();
  } finally {
    await vps.setStandIn(tool, undefined);
  }
}

async function recordDatabase(dbName: string, password: string): Promise<number> {
  const [row] = await dbs.drizzleDb
    .insert(deployed_db)
    .values({ dbName, username: `${dbName}_user`, password, host: vps.ip, dbType: "postgres", vpsId: machineId, userId: USER, status: "running" })
    .returning();
  return Number(row?.id);
}

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: USER, rootPassword: vps.rootPassword });
  // The service reaches its metadata database through a proxy the test can cut.
  proxy = await startTcpProxy("127.0.0.1", Number(new URL(dbs.metadata.url).port || 5432));
  const url = new URL(dbs.metadata.url);
  url.port = String(proxy.port);
  metadata = openMetadataDatabase(url.toString(), { max: 4 });
  app = startTestApp({
    store: createDeployedDbStore(metadata.db),
    registry: dbs.registry,
    audit: createAuditTrail(metadata.db, logger),
    logger,
  });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await metadata?.close().catch(() => undefined);
  proxy?.stop();
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("logs on failure paths", () => {
  // Each test reads only its own lines.
  beforeEach(() => {
    logger.lines.length = 0;
  });

  test("a failed update of a legacy plaintext password: 500, logged by name and code only", async () => {
    await recordDatabase("legacy", LEGACY_PASSWORD);
    const response = await withTrigger("UPDATE", () => app.request("GET", "/get-db", { userId: USER }));
    expect(response.status).toBe(500);
    expect(logger.lines.some((line) => line.event === "request.crashed" && String(line.fields?.code).includes("P0001"))).toBe(true);
    expectCleanLog();
    await dbs.drizzleDb.delete(deployed_db);
  }, 60_000);

  test("a remote failure whose cleanup fails in the metadata database", async () => {
    const response = await withTrigger("DELETE", () => withStandIn("bash", FAILING_DEPLOY, () => deploy("cleanup")));
    expect(response.status).toBe(502);
    expect(logger.lines.some((line) => line.event === "deploy.cleanup_failed")).toBe(true);
    expectCleanLog();
    await dbs.drizzleDb.delete(deployed_db);
  }, 60_000);

  test("a remote failure whose rollback fails", async () => {
    const response = await withStandIn("sudo", FAILING_PSQL, () => withStandIn("bash", FAILING_DEPLOY, () => deploy("rollback")));
    expect(response.status).toBe(502);
    expect(String(response.body.message)).toContain("rolling back");
    expectCleanLog();
  }, 60_000);

  test("the metadata database down during list, delete and deploy", async () => {
    const id = await recordDatabase("outage", "unused");
    proxy.cut();
    try {
      expect((await app.request("GET", "/get-db", { userId: USER })).status).toBe(503);
      expect((await app.request("DELETE", `/delete-db/${id}`, { userId: USER })).status).toBe(503);
      expect((await deploy("during_outage")).status).toBe(503);
    } finally {
      proxy.restore();
    }
    // Cut while the deploy is on the machine: the remote failure's cleanup meets the outage.
    const cleanupFailuresBefore = logger.lines.filter((line) => line.event === "deploy.cleanup_failed").length;
    const pending = withStandIn("bash", SLOW_FAILING_DEPLOY, () => deploy("mid_outage"));
    await Bun.sleep(1_000);
    proxy.cut();
    try {
      expect((await pending).status).toBeGreaterThanOrEqual(500);
    } finally {
      proxy.restore();
    }
    expect(logger.lines.filter((line) => line.event === "deploy.cleanup_failed").length).toBe(cleanupFailuresBefore + 1);
    expectCleanLog();
  }, 60_000);
});
