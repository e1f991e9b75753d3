import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import { canLogin } from "../support/remoteDb";

/**
 * Deploys on a machine already set up skip the slow cluster listing (pg_lsclusters) by reusing
 * its last answer, kept in /run with a fingerprint. The reuse must never outlive the truth: a
 * cluster stopped since the last deploy is started again.
 */
const OWNER = 41;

const sandbox = sandboxService({ vps: { postgres: "running" }, ownerId: OWNER });

const deploy = (dbName: string) =>
  sandbox.app.request("POST", "/deploy-postgres", { userId: OWNER, body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName, userName: `${dbName}_u`, password: "pw-configured" } });

describe("deploys on a configured machine", () => {
  test("the cluster choice is remembered, and a cluster stopped since is started again", async () => {
    expect((await deploy("first_db")).status).toBe(200);
    const remembered = (await sandbox.vps.exec("sed -n 2p /run/zyotra-storage-layer.clusters")).stdout.trim();
    expect(remembered).toMatch(/^\d+ main 5432 online /);
    const version = remembered.split(" ")[0];

    expect((await sandbox.vps.exec(`pg_ctlcluster ${version} main stop`)).exitCode).toBe(0);
    const second = await deploy("second_db");
    expect(second.status).toBe(200);
    expect(await canLogin(sandbox.vps.ip, "second_db_u", "pw-configured", "second_db")).toBe(true);
    expect((await sandbox.vps.exec("pg_lsclusters -h")).stdout).toMatch(/ 5432 online /);
  });

  test("a remembered choice whose fingerprint no longer matches is not used", async () => {
    // The running cluster, but on a port it does not use: trusted, it would fail the deploy.
    const version = (await sandbox.vps.exec("pg_lsclusters -h")).stdout.split(" ")[0];
    await sandbox.vps.exec(`printf '%s\\n%s\\n' stale '${version} main 5999 online postgres /var/lib/postgresql/${version}/main x' > /run/zyotra-storage-layer.clusters`);
    expect((await deploy("third_db")).status).toBe(200);
    expect((await sandbox.vps.exec("sed -n 2p /run/zyotra-storage-layer.clusters")).stdout).toMatch(/ main 5432 online /);
  });
});
