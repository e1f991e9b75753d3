import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import { startSandboxVps } from "../support/sandboxVps";
import { eq } from "drizzle-orm";
import mysql from "mysql2/promise";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { deployed_db } from "../../src/metadata/schema";
import { clientPasswordOptions } from "../../src/engines/mysql/remoteScripts";
import { captureLogger, startTestApp } from "../support/testApp";

/**
 * POST /deploy-mysql and /delete-mysql end to end: a sandbox VPS without MySQL (Debian: the
 * stand-in apt-get has no mysql-server, so default-mysql-server = the host's MariaDB is
 * installed), the stand-in systemd units, a real sshd and our real metadata database.
 */
const PASSWORD = `Pa'ss"w$rd\\with \`ticks\` $(id) ; DROP USER x; -- ünï✓\nnewline\there`;
const ROOT_PASSWORD = `R0ot'"\\#;$(id)\nünï`;
const OWNER = 7;
const STRANGER = 8;

const logger = captureLogger();

const deploy = (fields: { dbName: string; userName: string; password?: string; rootPassword?: string }, userId = OWNER) =>
  sandbox.app.request("POST", "/deploy-mysql", {
    userId,
    body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, password: PASSWORD, rootPassword: ROOT_PASSWORD, dbType: "mysql", ...fields },
  });

const remove = (dbName: string, userId = OWNER) =>
  sandbox.app.request("POST", "/delete-mysql", { userId, body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName, userName: "whatever", password: "x" } });

/** One value from the VPS's MySQL as its root through the socket (not through the service). */
async function rootSql(sql: string): Promise<string> {
  return (await sandbox.vps.exec(`mysql -N -B -e ${JSON.stringify(sql)}`)).stdout.trim();
}

async function loginOverTcp(user: string, password: string, database: string): Promise<string> {
  const connection = await mysql.createConnection({ host: sandbox.vps.ip, port: 3306, user, password, database, connectTimeout: 5_000 });
  try {
    const [rows] = await connection.query("SELECT CURRENT_USER() AS who, DATABASE() AS db");
    return JSON.stringify(rows);
  } finally {
    await connection.end();
  }
}

const rowsNamed = async (dbName: string) => (await sandbox.dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, dbName)));

const sandbox = sandboxService({ vps: { postgres: "absent", mysql: "absent", systemd: true }, ownerId: OWNER, app: (dbs) => ({ logger, audit: createAuditTrail(dbs.drizzleDb, logger) }) });

describe("deploy-mysql on a machine without MySQL", () => {
  test("installs default-mysql-server (no mysql-server on Debian), answers the exact shape, the user logs in over TCP with the exact password; no secret in ps or logs", async () => {
    const seen: string[] = [];
    let deploying = true;
    const watcher = (async () => {
      for (let i = 0; i < 400 && deploying; i++) seen.push((await sandbox.vps.exec("ps -eo args")).stdout);
    })();
    const response = await deploy({ dbName: "shop", userName: "shop_user" });
    deploying = false;
    await watcher;

    expect(response.status).toBe(200);
    const id = response.body.id as number;
    expect(response.body).toEqual({
      status: 200,
      message: "MySQL database deployed successfully",
      id,
      connectionString: `mysql://shop_user:${encodeURIComponent(PASSWORD)}@${sandbox.vps.ip}:3306/shop`,
      data: { success: true, existingInstallation: false },
    });
    expect(await sandbox.vps.aptCalls()).toEqual(["update -q", "install -y -q mysql-server", "install -y -q default-mysql-server"]);
    expect(await loginOverTcp("shop_user", PASSWORD, "shop")).toContain("shop_user@%");

    // Privileges on that database only.
    expect(await rootSql("SHOW GRANTS FOR 'shop_user'@'%'")).toContain("ON `shop`.*");
    expect(await rootSql("SELECT COUNT(*) FROM mysql.user WHERE User='shop_user' AND (Select_priv='Y' OR Grant_priv='Y')")).toBe("0");
    expect(await rootSql("SELECT COUNT(*) FROM mysql.user WHERE User='shop_user'")).toBe("2");

    // Root: the given password over TCP, and still the socket for the service.
    // The option file through a pipe (a file Bun hands over as stdin may be world-writable, which the client ignores).
    const rootLogin = await sandbox.vps.exec("mysql --defaults-extra-file=/dev/fd/3 --protocol=TCP -h 127.0.0.1 -u root -N -e 'SELECT 1' 3< <(cat)", clientPasswordOptions(ROOT_PASSWORD));
    expect(rootLogin.stdout.trim()).toBe("1");
    expect(await rootSql("SELECT 1")).toBe("1");

    const [row] = await sandbox.dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.id, id));
    expect(row?.dbType).toBe("mysql");
    expect(row?.status).toBe("running");
    expect(row?.password.startsWith("enc:v1:")).toBe(true);
    const listed = await sandbox.app.request("GET", "/get-db", { userId: OWNER });
    expect(listed.body.data).toContainEqual(expect.objectContaining({ id, dbType: "mysql", password: PASSWORD, username: "shop_user" }));

    const everything = seen.join("\n") + JSON.stringify(logger.lines);
    for (const secret of [PASSWORD, ROOT_PASSWORD, "R0ot", "Pa'ss"]) expect(everything).not.toContain(secret);
  }, 240_000);

  test("a later deploy on the set-up machine: existing installation, the right root password, no install and no restart", async () => {
    const restartsBefore = (await sandbox.vps.systemctlCalls()).filter((call) => call.startsWith("restart")).length;
    expect(restartsBefore).toBe(1);
    const response = await deploy({ dbName: "blog", userName: "blog_user", password: "blog-pw" });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ success: true, existingInstallation: true });
    expect((await sandbox.vps.systemctlCalls()).filter((call) => call.startsWith("restart")).length).toBe(1);
    expect((await sandbox.vps.aptCalls()).length).toBe(3);
    expect(await loginOverTcp("blog_user", "blog-pw", "blog")).toContain("blog_user@%");
    expect((await sandbox.vps.exec("cat /etc/mysql/mariadb.conf.d/zz-zyotra-remote-access.cnf")).stdout).toContain("bind-address = 0.0.0.0");
  }, 120_000);

  test("a wrong root password on an existing installation is a clear 400 and changes nothing", async () => {
    const response = await deploy({ dbName: "nope", userName: "nope_user", rootPassword: "not-the-root-password" });
    expect(response.status).toBe(400);
    expect(response.body.message).toContain("root password");
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='nope'")).toBe("0");
    expect(await rootSql("SELECT COUNT(*) FROM mysql.user WHERE User='nope_user'")).toBe("0");
    expect(await rowsNamed("nope")).toEqual([]);
    expect(JSON.stringify(logger.lines)).not.toContain("not-the-root-password");
  }, 120_000);

  test("a user or database the service did not create is refused (409); the caller's own user is reused with the new password", async () => {
    await rootSql("CREATE USER 'handmade'@'%' IDENTIFIED BY 'theirs'; CREATE DATABASE handmade_db");
    const foreignUser = await deploy({ dbName: "fresh_one", userName: "handmade" });
    expect(foreignUser.status).toBe(409);
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='fresh_one'")).toBe("0");
    const foreignDb = await deploy({ dbName: "handmade_db", userName: "other_user" });
    expect(foreignDb.status).toBe(409);
    expect(await rootSql("SELECT COUNT(*) FROM mysql.user WHERE User='other_user'")).toBe("0");

    const reused = await deploy({ dbName: "shop_two", userName: "shop_user", password: "second-pw" });
    expect(reused.status).toBe(200);
    expect(await loginOverTcp("shop_user", "second-pw", "shop_two")).toContain("shop_user@%");
    expect(await loginOverTcp("shop_user", "second-pw", "shop")).toContain("shop_user@%");
    const listed = (await sandbox.app.request("GET", "/get-db", { userId: OWNER })).body.data as Array<{ username: string; password: string }>;
    expect(listed.filter((row) => row.username === "shop_user").map((row) => row.password)).toEqual(["second-pw", "second-pw"]);
  }, 120_000);

  test("tenancy: another user's machine is refused (403) and nothing is created", async () => {
    const response = await deploy({ dbName: "intruder", userName: "intruder_user" }, STRANGER);
    expect(response.status).toBe(403);
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='intruder'")).toBe("0");
    expect((await remove("shop", STRANGER)).status).toBe(403);
  }, 60_000);

  test("engines never meet: PostgreSQL routes refuse a MySQL row and delete-mysql refuses a PostgreSQL row (400)", async () => {
    const [mysqlRow] = await rowsNamed("blog");
    const deleteDb = await sandbox.app.request("DELETE", `/delete-db/${mysqlRow?.id}`, { userId: OWNER });
    expect(deleteDb.status).toBe(400);
    const tables = await sandbox.app.request("POST", "/get-tables-list", {
      userId: OWNER,
      body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, databaseName: "blog", username: "blog_user", password: "blog-pw" },
    });
    expect(tables.status).toBe(400);
    await sandbox.dbs.drizzleDb.insert(deployed_db).values({ dbName: "pg_only", username: "pg_user", password: "sealed", host: sandbox.vps.ip, dbType: "postgres", vpsId: sandbox.machineId, userId: OWNER, status: "running" });
    expect((await remove("pg_only")).status).toBe(400);
    expect(await rowsNamed("pg_only")).toHaveLength(1);
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='blog'")).toBe("1");
  }, 60_000);

  test("rollback: when the new user's TCP login cannot be proven, database and user are dropped and no row stays", async () => {
    const failing = startTestApp({
      store: sandbox.dbs.store,
      registry: sandbox.dbs.registry,
      mysqlProbe: async () => {
        throw new Error("simulated: the login over TCP fails");
      },
    });
    try {
      const response = await failing.request("POST", "/deploy-mysql", {
        userId: OWNER,
        body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName: "rolled", userName: "rolled_user", password: "pw", rootPassword: ROOT_PASSWORD, dbType: "mysql" },
      });
      expect(response.status).toBe(502);
    } finally {
      await failing.stop();
    }
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='rolled'")).toBe("0");
    expect(await rootSql("SELECT COUNT(*) FROM mysql.user WHERE User='rolled_user'")).toBe("0");
    expect(await rowsNamed("rolled")).toEqual([]);
  }, 120_000);

  test("delete-mysql drops the database, and the user only when no other recorded database uses it; unknown is 404", async () => {
    expect((await remove("shop")).status).toBe(200);
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='shop'")).toBe("0");
    expect(await rootSql("SELECT COUNT(*) FROM mysql.user WHERE User='shop_user'")).toBe("2");
    expect(await rowsNamed("shop")).toEqual([]);

    expect((await remove("shop_two")).status).toBe(200);
    expect(await rootSql("SELECT COUNT(*) FROM mysql.user WHERE User='shop_user'")).toBe("0");
    expect((await remove("shop_two")).status).toBe(404);
  }, 120_000);
});

describe("deploy-mysql on a machine without systemd", () => {
  test("installs, starts and restarts MariaDB through its init script; the user logs in over TCP", async () => {
    const plain = await startSandboxVps({ postgres: "absent", mysql: "absent", systemd: false });
    try {
      const plainId = await sandbox.dbs.addMachine({ ip: plain.ip, ownerId: OWNER, rootPassword: plain.rootPassword });
      const response = await sandbox.app.request("POST", "/deploy-mysql", {
        userId: OWNER,
        body: { vpsId: plainId, vpsIp: plain.ip, dbName: "plain", userName: "plain_user", password: PASSWORD, rootPassword: ROOT_PASSWORD, dbType: "mysql" },
      });
      expect(response.status).toBe(200);
      const connection = await mysql.createConnection({ host: plain.ip, port: 3306, user: "plain_user", password: PASSWORD, database: "plain", connectTimeout: 5_000 });
      await connection.end();
      expect(await plain.systemctlCalls()).toEqual([]);
    } finally {
      await plain.stop();
    }
  }, 240_000);
});
