import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type pg from "pg";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { createHostKeyStore } from "../../src/metadata/hostKeyStore";
import { audit_log, deployed_db, machine_host_keys } from "../../src/metadata/schema";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { canLogin, connectAs, psqlOnVps } from "../support/remoteDb";
import { captureLogger, startTestApp, type RunningTestApp } from "../support/testApp";
import { tokenFor } from "../support/tokens";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";

/**
 * The whole API end to end: a real sshd on a sandbox VPS with no PostgreSQL yet (installed
 * through the stand-in apt-get, run without systemd so pg_ctlcluster is used), real
 * PostgreSQL clusters, and our real metadata database.
 */
const PASSWORD = `Pa'ss"w$rd\\with \`ticks\` $(id) ; DROP ROLE x; -- ünï✓\nnewline`;
const OWNER = 7;

let vps: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;
let machineId = 0;
let firstId = 0;
let held: pg.Client | undefined;
const logger = captureLogger();

const deploy = (dbName: string, userName: string, password = PASSWORD, userId = OWNER) =>
  app.request("POST", "/deploy-postgres", { userId, body: { vpsId: String(machineId), vpsIp: vps.ip, dbName, userName, password, dbType: "postgres" } });

const sqlOnVps = (sql: string) => psqlOnVps(vps, sql);

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "absent" });
  dbs = await createTestDatabases((await import("../support/tokens")).TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword });
  app = startTestApp({ store: dbs.store, registry: dbs.registry, logger, audit: createAuditTrail(dbs.drizzleDb, logger), hostKeys: createHostKeyStore(dbs.drizzleDb) });
}, 120_000);

afterAll(async () => {
  await held?.end().catch(() => undefined);
  await app?.stop();
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("deploy on a machine without PostgreSQL", () => {
  test("installs, creates role and database, opens remote access; the password never shows in the process list", async () => {
    const seen: string[] = [];
    let deploying = true;
    const watcher = (async () => {
      for (let i = 0; i < 400 && deploying; i++) {
        seen.push((await vps.exec("ps -eo args")).stdout);
      }
    })();
    const response = await deploy("shop", "shop_user");
    deploying = false;
    await watcher;

    expect(response.status).toBe(200);
    expect(response.body.status).toBe(200);
    expect(response.body.message).toBe("Postgres deployment started successfully");
    expect(typeof response.body.id).toBe("number");
    firstId = Number(response.body.id);
    expect(String(response.body.connectionString)).toStartWith(`postgresql://shop_user:`);

    expect(await vps.aptCalls()).toEqual([expect.stringContaining("update"), expect.stringMatching(/install -y.*postgresql postgresql-contrib/)]);
    expect(seen.length).toBeGreaterThan(0);
    for (const snapshot of seen) {
      expect(snapshot).not.toContain("Pa'ss");
      expect(snapshot).not.toContain("DROP ROLE x");
    }
    const [row] = await dbs.drizzleDb.select().from(deployed_db);
    expect(row?.status).toBe("running");
    expect(row?.password).not.toContain("Pa'ss");
  }, 120_000);

  test("the new database accepts the exact password over TCP from the host", async () => {
    held = await connectAs(vps.ip, "shop_user", PASSWORD, "shop");
    await held.query(`CREATE TABLE customers (id serial PRIMARY KEY, name text, code text, active boolean, score integer, note text)`);
    await held.query(`CREATE TABLE orders (id integer PRIMARY KEY, total numeric)`);
    await held.query(`INSERT INTO customers (name, code, active, score, note) VALUES ('Ann, "the" first', '007', true, 5, NULL), ('', 'true', false, NULL, 'multi\nline')`);
    expect(await canLogin(vps.ip, "shop_user", PASSWORD + "x", "shop")).toBe(false);
  });

  test("lists the tables and reads rows with exact values", async () => {
    const list = await app.request("POST", "/get-tables-list", { userId: OWNER, body: { databaseName: "shop", vpsId: machineId, vpsIp: vps.ip, username: "shop_user" } });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ status: 200, data: ["customers", "orders"], message: "Tables list fetched successfully" });

    const data = await app.request("POST", "/get-table-data", {
      userId: OWNER,
      body: { databaseName: "shop", vpsId: String(machineId), vpsIp: vps.ip, tableName: "customers", username: "shop_user" },
    });
    expect(data.status).toBe(200);
    expect(data.body.status).toBe("success");
    expect(data.body.data).toEqual([
      { id: 1, name: 'Ann, "the" first', code: "007", active: true, score: 5, note: null },
      { id: 2, name: "", code: "true", active: false, score: null, note: "multi\nline" },
    ]);
  });

  test("missing database or table is 404", async () => {
    const noDb = await app.request("POST", "/get-tables-list", { userId: OWNER, body: { databaseName: "nope", vpsId: machineId, vpsIp: vps.ip } });
    expect(noDb.status).toBe(404);
    const noTable = await app.request("POST", "/get-table-data", {
      userId: OWNER,
      body: { databaseName: "shop", vpsId: machineId, vpsIp: vps.ip, tableName: "nope", username: "shop_user" },
    });
    expect(noTable.status).toBe(404);
  });

  test("a second deploy keeps the first database's connections and installs nothing", async () => {
    const response = await deploy("blog", "blog_user", "second-password");
    expect(response.status).toBe(200);
    expect((await held?.query("SELECT count(*)::int AS n FROM customers"))?.rows[0]).toEqual({ n: 2 });
    expect(await vps.aptCalls()).toHaveLength(2);
    expect(await canLogin(vps.ip, "blog_user", "second-password", "blog")).toBe(true);
  }, 60_000);

  test("remote access is configured exactly once, with backups", async () => {
    const hba = await sqlOnVps("SHOW hba_file");
    const conf = await sqlOnVps("SHOW config_file");
    const count = async (file: string, pattern: string) => Number((await vps.exec(`grep -cE ${JSON.stringify(pattern)} ${file} || true`)).stdout.trim());
    expect(await count(hba, "^host[[:space:]]+all[[:space:]]+all[[:space:]]+0\\.0\\.0\\.0/0[[:space:]]+scram-sha-256")).toBe(1);
    expect(await count(hba, "^host[[:space:]]+all[[:space:]]+all[[:space:]]+::/0[[:space:]]+scram-sha-256")).toBe(1);
    expect(await count(conf, "^[[:space:]]*listen_addresses[[:space:]]*=")).toBe(1);
    expect(await count(conf, "^listen_addresses = '\\*'")).toBe(1);
    expect((await vps.exec(`test -f ${hba}.zyotra.bak && test -f ${conf}.zyotra.bak`)).exitCode).toBe(0);
    expect(await sqlOnVps("SHOW listen_addresses")).toBe("*");
  });

  test("the same name again is 400 and concurrent duplicates leave one row and one database", async () => {
    const again = await deploy("shop", "shop_user");
    expect(again.status).toBe(400);
    const race = await Promise.all([deploy("race", "race_user", "race-pw-1"), deploy("race", "race_user", "race-pw-2")]);
    expect(race.map((r) => r.status).sort()).toEqual([200, 400]);
    const rows = (await dbs.drizzleDb.select().from(deployed_db)).filter((r) => r.dbName === "race");
    expect(rows).toHaveLength(1);
    expect(await sqlOnVps("SELECT count(*) FROM pg_database WHERE datname = 'race'")).toBe("1");
  }, 60_000);

  test("get-db shows the caller's databases with their passwords", async () => {
    const list = await app.request("GET", "/get-db", { userId: String(OWNER) });
    expect(list.status).toBe(200);
    const data = list.body.data as Array<Record<string, unknown>>;
    expect(data.map((row) => row.dbName)).toEqual(["shop", "blog", "race"]);
    expect(data[0]).toMatchObject({ id: firstId, username: "shop_user", password: PASSWORD, host: vps.ip, dbType: "postgres", vpsId: machineId, userId: OWNER, status: "running" });
    expect((await app.request("GET", "/get-db", { userId: 8 })).body.data).toEqual([]);
  });

  test("delete drops the database and its role, and a shared role survives until its last database goes", async () => {
    await held?.end();
    held = undefined;
    const shared = await deploy("blog_two", "blog_user", "second-password");
    expect(shared.status).toBe(200);

    const byName = async (name: string) => (await dbs.drizzleDb.select().from(deployed_db)).find((r) => r.dbName === name);
    expect((await app.request("DELETE", `/delete-db/${firstId}`, { userId: 8 })).status).toBe(404);
    const removed = await app.request("DELETE", `/delete-db/${firstId}`, { userId: OWNER });
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ status: 200, message: "Database deleted successfully" });
    expect(await sqlOnVps("SELECT count(*) FROM pg_database WHERE datname = 'shop'")).toBe("0");
    expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'shop_user'")).toBe("0");
    expect(await byName("shop")).toBeUndefined();
    expect((await app.request("DELETE", `/delete-db/${firstId}`, { userId: OWNER })).status).toBe(404);

    const blog = await byName("blog");
    expect((await app.request("DELETE", `/delete-db/${blog?.id}`, { userId: OWNER })).status).toBe(200);
    expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'blog_user'")).toBe("1");
    expect(await canLogin(vps.ip, "blog_user", "second-password", "blog_two")).toBe(true);
    const blogTwo = await byName("blog_two");
    expect((await app.request("DELETE", `/delete-db/${blogTwo?.id}`, { userId: OWNER })).status).toBe(200);
    expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'blog_user'")).toBe("0");
  }, 60_000);

  test("deploys and deletes are in the audit log, without secrets", async () => {
    const entries = await dbs.drizzleDb.select().from(audit_log);
    expect(entries.filter((e) => e.action === "deploy" && e.outcome === "success").map((e) => e.dbName)).toEqual(expect.arrayContaining(["shop", "blog", "race", "blog_two"]));
    expect(entries.some((e) => e.action === "delete" && e.outcome === "success" && e.dbName === "shop")).toBe(true);
    expect(entries.some((e) => e.action === "delete" && e.outcome === "refused" && e.userId === 8)).toBe(true);
    for (const entry of entries) {
      expect(entry.clientAddress).toBe("127.0.0.1");
      expect(entry.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    const text = JSON.stringify(entries);
    for (const secret of ["Pa'ss", "second-password", "race-pw-"]) expect(text).not.toContain(secret);
  });

  test("the host key is pinned at first contact; a changed key is refused until ops reset it", async () => {
    const [pinned] = await dbs.drizzleDb.select().from(machine_host_keys);
    expect(pinned).toMatchObject({ machineId, host: vps.ip });
    expect(pinned?.fingerprint).toStartWith("SHA256:");
    await dbs.drizzleDb.update(machine_host_keys).set({ fingerprint: "SHA256:someone-else" });

    // A new instance: no pooled connection, so the key is checked again.
    const second = startTestApp({ store: dbs.store, registry: dbs.registry, hostKeys: createHostKeyStore(dbs.drizzleDb) });
    try {
      const refused = await second.request("POST", "/deploy-postgres", { userId: OWNER, body: { vpsId: machineId, vpsIp: vps.ip, dbName: "mitm", userName: "mitm_user", password: "x" } });
      expect(refused.status).toBe(502);
      expect(String(refused.body.message)).toContain(`host key of machine ${machineId} changed`);
      expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'mitm_user'")).toBe("0");
      expect((await dbs.drizzleDb.select().from(deployed_db)).some((row) => row.dbName === "mitm")).toBe(false);

      const reset = Bun.spawnSync(["bun", "src/cli/resetHostKey.ts", "--machine", String(machineId)], { env: { ...process.env, STORAGE_LAYER_DATABASE_URL: dbs.metadata.url } });
      expect(reset.exitCode).toBe(0);
      // Browsing a database owned by the postgres superuser is refused: a 403 from the machine.
      const list = await second.request("POST", "/get-tables-list", { userId: OWNER, body: { databaseName: "postgres", vpsId: machineId, vpsIp: vps.ip } });
      expect(list.status).toBe(403);
      expect(String(list.body.message)).toContain("superuser");
      expect((await dbs.drizzleDb.select().from(machine_host_keys))[0]?.fingerprint).toBe(pinned?.fingerprint ?? "");
    } finally {
      await second.stop();
    }
  }, 60_000);

  test("logs name the remote steps but never a password or a token", () => {
    const text = JSON.stringify(logger.lines);
    expect(logger.lines.some((line) => line.event === "remote.step")).toBe(true);
    for (const secret of ["Pa'ss", "second-password", "race-pw-", tokenFor(OWNER).split(".")[0] + "."]) expect(text).not.toContain(secret);
  });
});
