import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { deployed_db } from "../../src/metadata/schema";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { psqlOnVps } from "../support/remoteDb";
import { startServiceProcess, type ServiceProcess } from "../support/serviceProcess";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/** The real service process: killed in the middle of a deploy, restarted, and shut down gracefully. */
let vps: SandboxVps;
let dbs: TestDatabases;
let machineId = 0;
const running: ServiceProcess[] = [];

const sqlOnVps = (sql: string) => psqlOnVps(vps, sql);
const roleExists = async (role: string) => (await sqlOnVps(`SELECT count(*) FROM pg_roles WHERE rolname = '${role}'`)) === "1";

async function until(condition: () => Promise<boolean>, attempts = 100, delayMs = 100): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await condition()) return true;
    await Bun.sleep(delayMs);
  }
  return false;
}

function start(extra: Record<string, string> = {}): ServiceProcess {
  const service = startServiceProcess({ metadataUrl: dbs.metadata.url, registryUrl: dbs.registryDb.url, extra });
  running.push(service);
  return service;
}

const deployRequest = (service: ServiceProcess, dbName: string) =>
  fetch(`${service.baseUrl}/deploy-postgres`, {
    method: "POST",
    headers: { authorization: `Bearer ${tokenFor(4)}`, "content-type": "application/json" },
    body: JSON.stringify({ vpsId: machineId, vpsIp: vps.ip, dbName, userName: `${dbName}_user`, password: "pw" }),
  });

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running", systemd: true });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: 4, rootPassword: vps.rootPassword });
}, 120_000);

afterAll(async () => {
  for (const service of running) service.process.kill("SIGKILL");
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("deploy lifecycle across crashes and shutdowns", () => {
  test("killed mid-deploy and restarted: the interrupted deploy is rolled back, no orphan remains", async () => {
    await vps.setServiceManagerDelay(8);
    const first = start();
    await first.waitHealthy();
    const pending = deployRequest(first, "crashy").catch(() => undefined);
    expect(await until(() => roleExists("crashy_user"))).toBe(true);
    first.process.kill("SIGKILL");
    await first.process.exited;
    await pending;
    const [row] = await dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, "crashy"));
    expect(row?.status).toBe("deploying");
    await vps.setServiceManagerDelay(0);

    // Short timeouts make the interrupted row stale after a few seconds.
    const second = start({ SSH_CONNECT_TIMEOUT_MS: "2000", SSH_COMMAND_TIMEOUT_MS: "3000", SSH_INSTALL_TIMEOUT_MS: "1000" });
    await second.waitHealthy();
    const gone = await until(async () => (await dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, "crashy"))).length === 0, 150);
    expect(gone).toBe(true);
    expect(await roleExists("crashy_user")).toBe(false);
    expect(await sqlOnVps("SELECT count(*) FROM pg_database WHERE datname = 'crashy'")).toBe("0");
    second.process.kill("SIGKILL");
  }, 90_000);

  test("SIGTERM lets an in-flight deploy finish, then the process exits cleanly", async () => {
    // Force a restart step (slow) by undoing listen_addresses.
    const conf = await sqlOnVps("SHOW config_file");
    await vps.exec(`sed -i "s/^listen_addresses = .*/listen_addresses = 'localhost'/" ${conf} && pg_ctlcluster --skip-systemctl-redirect 15 main restart`);
    await vps.setServiceManagerDelay(2);
    const service = start();
    await service.waitHealthy();
    const pending = deployRequest(service, "graceful");
    expect(await until(() => roleExists("graceful_user"))).toBe(true);
    service.process.kill("SIGTERM");
    const response = await pending;
    expect(response.status).toBe(200);
    expect(await service.process.exited).toBe(0);
    await vps.setServiceManagerDelay(0);
    const [row] = await dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, "graceful"));
    expect(row?.status).toBe("running");
  }, 90_000);
});
