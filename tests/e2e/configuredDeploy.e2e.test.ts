import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { canLogin } from "../support/remoteDb";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/**
 * Deploys on a machine already set up skip the slow cluster listing (pg_lsclusters) by reusing
 * its last answer, kept in /run with a fingerprint. The reuse must never outlive the truth: a
 * cluster stopped since the last deploy is started again.
 */
const OWNER = 41;
let vps: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;
let machineId = 0;

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword });
  app = startTestApp({ store: dbs.store, registry: dbs.registry });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

const deploy = (dbName: string) =>
  app.request("POST", "/deploy-postgres", { userId: OWNER, body: { vpsId: machineId, vpsIp: vps.ip, dbName, userName: `${dbName}_u`, password: "pw-configured" } });

describe("deploys on a configured machine", () => {
  test("the cluster choice is remembered, and a cluster stopped since is started again", async () => {
    expect((await deploy("first_db")).status).toBe(200);
    const remembered = (await vps.exec("sed -n 2p /run/zyotra-storage-layer.clusters")).stdout.trim();
    expect(remembered).toMatch(/^\d+ main 5432 online /);
    const version = remembered.split(" ")[0];

    expect((await vps.exec(`pg_ctlcluster ${version} main stop`)).exitCode).toBe(0);
    const second = await deploy("second_db");
    expect(second.status).toBe(200);
    expect(await canLogin(vps.ip, "second_db_u", "pw-configured", "second_db")).toBe(true);
    expect((await vps.exec("pg_lsclusters -h")).stdout).toMatch(/ 5432 online /);
  });

  test("a remembered choice whose fingerprint no longer matches is not used", async () => {
    // The running cluster, but on a port it does not use: trusted, it would fail the deploy.
    const version = (await vps.exec("pg_lsclusters -h")).stdout.split(" ")[0];
    await vps.exec(`printf '%s\\n%s\\n' stale '${version} main 5999 online postgres /var/lib/postgresql/${version}/main x' > /run/zyotra-storage-layer.clusters`);
    expect((await deploy("third_db")).status).toBe(200);
    expect((await vps.exec("sed -n 2p /run/zyotra-storage-layer.clusters")).stdout).toMatch(/ main 5432 online /);
  });
});
