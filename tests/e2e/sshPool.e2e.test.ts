import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encryptMachineSecret } from "../../src/crypto/machineSecret";
import { createSshPool, DEFAULT_POOL_SETTINGS } from "../../src/ssh/sshPool";
import type { SSHClient } from "../../src/ssh/SSHClient";
import { psqlOnVps } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startTestApp, TEST_SSH, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/** SSH session reuse, observed on the VPS itself (sshd's per-connection processes). */
let vps: SandboxVps;
let dbs: TestDatabases;
let machineId = 0;

const tablesList = (app: RunningTestApp, vpsId = machineId) =>
  app.request("POST", "/get-tables-list", { userId: 5, body: { databaseName: "pool", vpsId, vpsIp: vps.ip } });

async function sessionsSettleAt(expected: number): Promise<number> {
  let count = -1;
  for (let i = 0; i < 50; i++) {
    count = await vps.sshSessionCount();
    if (count === expected) return count;
    await Bun.sleep(100);
  }
  return count;
}

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: 5, rootPassword: vps.rootPassword });
  // Browsing runs with the rights of a database's owner, so the database browsed is not postgres's.
  await vps.exec(`cd /tmp && sudo -u postgres psql -X -q -c "CREATE ROLE pool_owner" -c "CREATE DATABASE pool OWNER pool_owner"`);
}, 120_000);

afterAll(async () => {
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("SSH session pool", () => {
  test("sequential requests share one connection; a killed one is replaced transparently", async () => {
    const app = startTestApp({ store: dbs.store, registry: dbs.registry });
    try {
      expect((await tablesList(app)).status).toBe(200);
      expect((await tablesList(app)).status).toBe(200);
      expect(await sessionsSettleAt(1)).toBe(1);

      await vps.exec("pkill -KILL -P \"$(cat /run/zsl-sandbox/sshd.pid)\"");
      expect(await sessionsSettleAt(0)).toBe(0);
      expect((await tablesList(app)).status).toBe(200);
      expect(await sessionsSettleAt(1)).toBe(1);
    } finally {
      await app.stop();
    }
    expect(await sessionsSettleAt(0)).toBe(0);
  }, 60_000);

  test("repeated tables lists share one kept psql session, which goes away after a short idle", async () => {
    const app = startTestApp({ store: dbs.store, registry: dbs.registry });
    const keptBackends = () => psqlOnVps(vps, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'zyotra-storage-layer' AND pid <> pg_backend_pid()");
    try {
      for (let i = 0; i < 3; i++) expect((await tablesList(app)).status).toBe(200);
      expect(await keptBackends()).toBe("1");
      let remaining = "";
      for (let i = 0; i < 80 && remaining !== "0"; i++) {
        remaining = await keptBackends();
        if (remaining !== "0") await Bun.sleep(100);
      }
      expect(remaining).toBe("0");
    } finally {
      await app.stop();
    }
  }, 30_000);

  test("an idle connection closes after the idle timeout", async () => {
    const app = startTestApp({ store: dbs.store, registry: dbs.registry, ssh: { ...TEST_SSH, idleTimeoutMs: 300 } });
    try {
      expect((await tablesList(app)).status).toBe(200);
      expect(await vps.sshSessionCount()).toBe(1);
      expect(await sessionsSettleAt(0)).toBe(0);
    } finally {
      await app.stop();
    }
  }, 30_000);

  test("concurrent work never exceeds the channel bound and all of it succeeds", async () => {
    const pool = createSshPool({ ...DEFAULT_POOL_SETTINGS, maxLeasesPerConnection: 2, maxConnectionsPerKey: 1, connectTimeoutMs: 5_000 });
    const target = { machineId, host: vps.ip, port: 22, username: "root", password: vps.rootPassword };
    const inFlight = new Map<SSHClient, number>();
    let maxInFlight = 0;
    try {
      const outputs = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          pool.withLease(target, async (ssh) => {
            inFlight.set(ssh, (inFlight.get(ssh) ?? 0) + 1);
            maxInFlight = Math.max(maxInFlight, inFlight.get(ssh) ?? 0);
            try {
              return (await ssh.exec(`sleep 0.2; echo ${i}`, { timeoutMs: 10_000 })).stdout.trim();
            } finally {
              inFlight.set(ssh, (inFlight.get(ssh) ?? 1) - 1);
            }
          }),
        ),
      );
      expect(outputs).toEqual(["0", "1", "2", "3", "4", "5"]);
      expect(maxInFlight).toBe(2);
      expect(inFlight.size).toBe(1);
      expect(pool.openConnections()).toBe(1);
    } finally {
      await pool.closeAll();
    }
    const app = startTestApp({ store: dbs.store, registry: dbs.registry, leases: createSshPool({ ...DEFAULT_POOL_SETTINGS, maxLeasesPerConnection: 2, maxConnectionsPerKey: 1, connectTimeoutMs: 5_000 }) });
    try {
      const results = await Promise.all(Array.from({ length: 6 }, () => tablesList(app)));
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    } finally {
      await app.stop();
    }
  }, 60_000);

  test("different machines or changed credentials never share a connection", async () => {
    const twin = await dbs.addMachine({ ip: vps.ip, ownerId: 5, rootPassword: vps.rootPassword });
    const pool = createSshPool({ ...DEFAULT_POOL_SETTINGS, connectTimeoutMs: 5_000 });
    const app = startTestApp({ store: dbs.store, registry: dbs.registry, leases: pool });
    try {
      expect((await tablesList(app, machineId)).status).toBe(200);
      expect((await tablesList(app, twin)).status).toBe(200);
      expect(pool.openConnections()).toBe(2);

      // New credentials must log in anew: a wrong password fails even though an open,
      // authenticated connection to the same machine is sitting in the pool.
      const setPassword = (password: string) =>
        dbs.registryDb.pool.query(`UPDATE vps_machines SET vps_password = $1 WHERE id = $2`, [encryptMachineSecret(password, TEST_ENCRYPTION_KEY), machineId]);
      await setPassword("not-the-root-password");
      expect((await tablesList(app, machineId)).status).toBe(502);
      await setPassword(vps.rootPassword);
      expect((await tablesList(app, machineId)).status).toBe(200);
      expect(pool.openConnections()).toBe(2);
    } finally {
      await app.stop();
    }
  }, 60_000);
});
