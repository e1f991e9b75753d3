import { afterAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import type pg from "pg";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { createHostKeyStore } from "../../src/metadata/hostKeyStore";
import { audit_log, deployed_db, machine_host_keys } from "../../src/metadata/schema";
import { canLogin, connectAs, psqlOnVps } from "../support/remoteDb";
import { captureLogger, startTestApp } from "../support/testApp";
import { tokenFor } from "../support/tokens";

/**
 * The whole API end to end: a real sshd on a sandbox VPS with no PostgreSQL yet (installed
 * through the stand-in apt-get, run without systemd so pg_ctlcluster is used), real
 * PostgreSQL clusters, and our real metadata database.
 */
const PASSWORD = `Pa'ss"w$rd\\with \`ticks\` $(id) ; DROP ROLE x; -- ünï✓\nnewline`;
const OWNER = 7;

let firstId = 0;
let held: pg.Client | undefined;
const logger = captureLogger();

const deploy = (dbName: string, userName: string, password = PASSWORD, userId = OWNER) =>
  sandbox.app.request("POST", "/deploy-postgres", { userId, body: { vpsId: String(sandbox.machineId), vpsIp: sandbox.vps.ip, dbName, userName, password, dbType: "postgres" } });

const sqlOnVps = (sql: string) => psqlOnVps(sandbox.vps, sql);

const sandbox = sandboxService({ vps: { postgres: "absent" }, ownerId: OWNER, app: (dbs) => ({ logger, audit: createAuditTrail(dbs.drizzleDb, logger), hostKeys: createHostKeyStore(dbs.drizzleDb) }) });

afterAll(async () => {
  await held?.end().catch(() => undefined);
}, 60_000);

describe("deploy on a machine without PostgreSQL", () => {
  test("installs, creates role and database, opens remote access; the password never shows in the process list", async () => {
    const seen: string[] = [];
    let deploying = true;
    const watcher = (async () => {
      for (let i = 0; i < 400 && deploying; i++) {
        seen.push((await sandbox.vps.exec("ps -eo args")).stdout);
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

    expect(await sandbox.vps.aptCalls()).toEqual([expect.stringContaining("update"), expect.stringMatching(/install -y.*postgresql postgresql-contrib/)]);
    expect(seen.length).toBeGreaterThan(0);
    for (const snapshot of seen) {
      expect(snapshot).not.toContain("Pa'ss");
      expect(snapshot).not.toContain("DROP ROLE x");
    }
    const [row] = await sandbox.dbs.drizzleDb.select().from(deployed_db);
    expect(row?.status).toBe("running");
    expect(row?.password).not.toContain("Pa'ss");
  }, 120_000);

  test("the new database accepts the exact password over TCP from the host", async () => {
    held = await connectAs(sandbox.vps.ip, "shop_user", PASSWORD, "shop");
    await held.query(`CREATE TABLE customers (id serial PRIMARY KEY, name text, code text, active boolean, score integer, note text)`);
    await held.query(`CREATE TABLE orders (id integer PRIMARY KEY, total numeric)`);
    await held.query(`INSERT INTO customers (name, code, active, score, note) VALUES ('Ann, "the" first', '007', true, 5, NULL), ('', 'true', false, NULL, 'multi\nline')`);
    expect(await canLogin(sandbox.vps.ip, "shop_user", PASSWORD + "x", "shop")).toBe(false);
  });

  test("lists the tables and reads rows with exact values", async () => {
    const list = await sandbox.app.request("POST", "/get-tables-list", { userId: OWNER, body: { databaseName: "shop", vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, username: "shop_user" } });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ status: 200, data: ["customers", "orders"], message: "Tables list fetched successfully" });

    const data = await sandbox.app.request("POST", "/get-table-data", {
      userId: OWNER,
      body: { databaseName: "shop", vpsId: String(sandbox.machineId), vpsIp: sandbox.vps.ip, tableName: "customers", username: "shop_user" },
    });
    expect(data.status).toBe(200);
    expect(data.body.status).toBe("success");
    expect(data.body.data).toEqual([
      { id: 1, name: 'Ann, "the" first', code: "007", active: true, score: 5, note: null },
      { id: 2, name: "", code: "true", active: false, score: null, note: "multi\nline" },
    ]);
  });

  test("missing database or table is 404", async () => {
    const noDb = await sandbox.app.request("POST", "/get-tables-list", { userId: OWNER, body: { databaseName: "nope", vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip } });
    expect(noDb.status).toBe(404);
    const noTable = await sandbox.app.request("POST", "/get-table-data", {
      userId: OWNER,
      body: { databaseName: "shop", vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, tableName: "nope", username: "shop_user" },
    });
    expect(noTable.status).toBe(404);
  });

  test("a second deploy keeps the first database's connections and installs nothing", async () => {
    const response = await deploy("blog", "blog_user", "second-password");
    expect(response.status).toBe(200);
    expect((await held?.query("SELECT count(*)::int AS n FROM customers"))?.rows[0]).toEqual({ n: 2 });
    expect(await sandbox.vps.aptCalls()).toHaveLength(2);
    expect(await canLogin(sandbox.vps.ip, "blog_user", "second-password", "blog")).toBe(true);
  }, 60_000);

  test("remote access is configured exactly once, with backups", async () => {
    const hba = await sqlOnVps("SHOW hba_file");
    const conf = await sqlOnVps("SHOW config_file");
    const count = async (file: string, pattern: string) => Number((await sandbox.vps.exec(`grep -cE ${JSON.stringify(pattern)} ${file} || true`)).stdout.trim());
    expect(await count(hba, "^host[[:space:]]+all[[:space:]]+all[[:space:]]+0\\.0\\.0\\.0/0[[:space:]]+scram-sha-256")).toBe(1);
    expect(await count(hba, "^host[[:space:]]+all[[:space:]]+all[[:space:]]+::/0[[:space:]]+scram-sha-256")).toBe(1);
    expect(await count(conf, "^[[:space:]]*listen_addresses[[:space:]]*=")).toBe(1);
    expect(await count(conf, "^listen_addresses = '\\*'")).toBe(1);
    expect((await sandbox.vps.exec(`test -f ${hba}.zyotra.bak && test -f ${conf}.zyotra.bak`)).exitCode).toBe(0);
    expect(await sqlOnVps("SHOW listen_addresses")).toBe("*");
  });

  test("the same name again is 400 and concurrent duplicates leave one row and one database", async () => {
    const again = await deploy("shop", "shop_user");
    expect(again.status).toBe(400);
    const race = await Promise.all([deploy("race", "race_user", "race-pw-1"), deploy("race", "race_user", "race-pw-2")]);
    expect(race.map((r) => r.status).sort()).toEqual([200, 400]);
    const rows = (await sandbox.dbs.drizzleDb.select().from(deployed_db)).filter((r) => r.dbName === "race");
    expect(rows).toHaveLength(1);
    expect(await sqlOnVps("SELECT count(*) FROM pg_database WHERE datname = 'race'")).toBe("1");
  }, 60_000);

  test("get-db shows the caller's databases with their passwords", async () => {
    const list = await sandbox.app.request("GET", "/get-db", { userId: String(OWNER) });
    expect(list.status).toBe(200);
    const data = list.body.data as Array<Record<string, unknown>>;
    expect(data.map((row) => row.dbName)).toEqual(["shop", "blog", "race"]);
    expect(data[0]).toMatchObject({ id: firstId, username: "shop_user", password: PASSWORD, host: sandbox.vps.ip, dbType: "postgres", vpsId: sandbox.machineId, userId: OWNER, status: "running" });
    expect((await sandbox.app.request("GET", "/get-db", { userId: 8 })).body.data).toEqual([]);
  });

  test("delete drops the database and its role, and a shared role survives until its last database goes", async () => {
    await held?.end();
    held = undefined;
    const shared = await deploy("blog_two", "blog_user", "second-password");
    expect(shared.status).toBe(200);

    const byName = async (name: string) => (await sandbox.dbs.drizzleDb.select().from(deployed_db)).find((r) => r.dbName === name);
    expect((await sandbox.app.request("DELETE", `/delete-db/${firstId}`, { userId: 8 })).status).toBe(404);
    const removed = await sandbox.app.request("DELETE", `/delete-db/${firstId}`, { userId: OWNER });
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ status: 200, message: "Database deleted successfully" });
    expect(await sqlOnVps("SELECT count(*) FROM pg_database WHERE datname = 'shop'")).toBe("0");
    expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'shop_user'")).toBe("0");
    expect(await byName("shop")).toBeUndefined();
    expect((await sandbox.app.request("DELETE", `/delete-db/${firstId}`, { userId: OWNER })).status).toBe(404);

    const blog = await byName("blog");
    expect((await sandbox.app.request("DELETE", `/delete-db/${blog?.id}`, { userId: OWNER })).status).toBe(200);
    expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'blog_user'")).toBe("1");
    expect(await canLogin(sandbox.vps.ip, "blog_user", "second-password", "blog_two")).toBe(true);
    const blogTwo = await byName("blog_two");
    expect((await sandbox.app.request("DELETE", `/delete-db/${blogTwo?.id}`, { userId: OWNER })).status).toBe(200);
    expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'blog_user'")).toBe("0");
  }, 60_000);

  test("deploys and deletes are in the audit log, without secrets", async () => {
    const entries = await sandbox.dbs.drizzleDb.select().from(audit_log);
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
    const [pinned] = await sandbox.dbs.drizzleDb.select().from(machine_host_keys);
    expect(pinned).toMatchObject({ machineId: sandbox.machineId, host: sandbox.vps.ip });
    expect(pinned?.fingerprint).toStartWith("SHA256:");
    await sandbox.dbs.drizzleDb.update(machine_host_keys).set({ fingerprint: "SHA256:someone-else" });

    // A new instance: no pooled connection, so the key is checked again.
    const second = startTestApp({ store: sandbox.dbs.store, registry: sandbox.dbs.registry, hostKeys: createHostKeyStore(sandbox.dbs.drizzleDb) });
    try {
      const refused = await second.request("POST", "/deploy-postgres", { userId: OWNER, body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName: "mitm", userName: "mitm_user", password: "x" } });
      expect(refused.status).toBe(502);
      expect(String(refused.body.message)).toContain(`host key of machine ${sandbox.machineId} changed`);
      expect(await sqlOnVps("SELECT count(*) FROM pg_roles WHERE rolname = 'mitm_user'")).toBe("0");
      expect((await sandbox.dbs.drizzleDb.select().from(deployed_db)).some((row) => row.dbName === "mitm")).toBe(false);

      const reset = Bun.spawnSync(["bun", "src/cli/resetHostKey.ts", "--machine", String(sandbox.machineId)], { env: { ...process.env, STORAGE_LAYER_DATABASE_URL: sandbox.dbs.metadata.url } });
      expect(reset.exitCode).toBe(0);
      // Browsing a database owned by the postgres superuser is refused: a 403 from the machine.
      const list = await second.request("POST", "/get-tables-list", { userId: OWNER, body: { databaseName: "postgres", vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip } });
      expect(list.status).toBe(403);
      expect(String(list.body.message)).toContain("superuser");
      expect((await sandbox.dbs.drizzleDb.select().from(machine_host_keys))[0]?.fingerprint).toBe(pinned?.fingerprint ?? "");
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
