import { describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import { deployed_db } from "../../src/metadata/schema";
import { canLogin, psqlOnVps } from "../support/remoteDb";
import { startTestApp, TEST_SSH } from "../support/testApp";

/**
 * A VPS where systemd manages services (a stand-in systemctl) and PostgreSQL's packages are
 * present without a cluster; plus the failure paths that must leave nothing behind.
 */

const deploy = (dbName: string, userName: string, vpsId = sandbox.machineId) =>
  sandbox.app.request("POST", "/deploy-postgres", { userId: 7, body: { vpsId, vpsIp: sandbox.vps.ip, dbName, userName, password: "s3cret pass" } });
const sqlOnVps = (sql: string) => psqlOnVps(sandbox.vps, sql);
const calls = async (verb: string) => (await sandbox.vps.systemctlCalls()).filter((call) => call.split(" ").includes(verb));

const sandbox = sandboxService({ vps: { postgres: "no-cluster", systemd: true }, ownerId: 7 });

describe("systemd machine", () => {
  test("creates the missing cluster and starts it through systemctl", async () => {
    const response = await deploy("app", "app_user");
    expect(response.status).toBe(200);
    expect((await calls("start")).length).toBeGreaterThanOrEqual(1);
    expect(await calls("restart")).toHaveLength(1);
    expect(await canLogin(sandbox.vps.ip, "app_user", "s3cret pass", "app")).toBe(true);
  }, 60_000);

  test("a deploy on a configured machine neither restarts nor reloads; a pg_hba-only change reloads", async () => {
    expect((await deploy("app2", "app2_user")).status).toBe(200);
    expect(await calls("restart")).toHaveLength(1);
    expect(await calls("reload")).toHaveLength(0);

    const hba = await sqlOnVps("SHOW hba_file");
    await sandbox.vps.exec(`sed -i '/0\\.0\\.0\\.0\\/0/d' ${hba}`);
    expect((await deploy("app3", "app3_user")).status).toBe(200);
    expect(await calls("restart")).toHaveLength(1);
    expect(await calls("reload")).toHaveLength(1);
    expect(await canLogin(sandbox.vps.ip, "app3_user", "s3cret pass", "app3")).toBe(true);
  }, 60_000);

  test("a failure after the role and database exist rolls both back and writes no row", async () => {
    const conf = await sqlOnVps("SHOW config_file");
    await sandbox.vps.exec(`sed -i "s/^listen_addresses = .*/listen_addresses = 'localhost'/" ${conf} && pg_ctlcluster --skip-systemctl-redirect 15 main restart`);
    await sandbox.vps.setServiceManagerFailing(true);
    try {
      const response = await deploy("doomed", "doomed_user");
      expect(response.status).toBe(502);
      expect(String(response.body.message)).toContain("restarting PostgreSQL");
    } finally {
      await sandbox.vps.setServiceManagerFailing(false);
    }
    expect(await sqlOnVps("SELECT count(*) FROM pg_database WHERE datname = 'doomed'")).toBe("0");
    expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'doomed_user'")).toBe("0");
    expect((await sandbox.dbs.drizzleDb.select().from(deployed_db)).some((row) => row.dbName === "doomed")).toBe(false);
    // The machine recovers on the next deploy.
    expect((await deploy("doomed", "doomed_user")).status).toBe(200);
  }, 60_000);

  test("a deploy slower than the HTTP server's idle limit still gets its answer", async () => {
    const conf = await sqlOnVps("SHOW config_file");
    await sandbox.vps.exec(`sed -i "s/^listen_addresses = .*/listen_addresses = 'localhost'/" ${conf} && pg_ctlcluster --skip-systemctl-redirect 15 main restart`);
    await sandbox.vps.setServiceManagerDelay(11);
    try {
      const started = Date.now();
      const response = await deploy("slow", "slow_user");
      expect(Date.now() - started).toBeGreaterThan(10_000);
      expect(response.status).toBe(200);
    } finally {
      await sandbox.vps.setServiceManagerDelay(0);
    }
  }, 60_000);

  test("a wrong root password is a 502 with no row and nothing created", async () => {
    const wrong = await sandbox.dbs.addMachine({ ip: sandbox.vps.ip, ownerId: 7, rootPassword: "not-the-password" });
    const response = await deploy("nope", "nope_user", wrong);
    expect(response.status).toBe(502);
    expect(String(response.body.message)).toContain("refused");
    expect((await sandbox.dbs.drizzleDb.select().from(deployed_db)).some((row) => row.dbName === "nope")).toBe(false);
    expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'nope_user'")).toBe("0");
  }, 60_000);

  test("an unreachable machine answers 5xx within the connect timeout and deletes keep their row", async () => {
    const closedPortApp = startTestApp({ store: sandbox.dbs.store, registry: sandbox.dbs.registry, ssh: { ...TEST_SSH, port: 1 } });
    try {
      const started = Date.now();
      const response = await closedPortApp.request("POST", "/deploy-postgres", { userId: 7, body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName: "gone", userName: "gone_user", password: "x" } });
      expect(response.status).toBeGreaterThanOrEqual(500);
      expect(Date.now() - started).toBeLessThan(TEST_SSH.connectTimeoutMs + 2_000);
      expect((await sandbox.dbs.drizzleDb.select().from(deployed_db)).some((row) => row.dbName === "gone")).toBe(false);

      const [row] = (await sandbox.dbs.drizzleDb.select().from(deployed_db)).filter((r) => r.dbName === "app");
      const removal = await closedPortApp.request("DELETE", `/delete-db/${row?.id}`, { userId: 7 });
      expect(removal.status).toBeGreaterThanOrEqual(500);
      expect((await sandbox.dbs.drizzleDb.select().from(deployed_db)).some((r) => r.id === row?.id)).toBe(true);
    } finally {
      await closedPortApp.stop();
    }
  }, 60_000);
});
