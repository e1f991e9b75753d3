import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { eq } from "drizzle-orm";
import { createBackupStore } from "../../src/metadata/backupStore";
import { deployed_db } from "../../src/metadata/schema";
import { mysqlBackupEngine } from "../../src/engines/mysql/mysqlBackups";
import { SSHClient } from "../../src/ssh/SSHClient";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/**
 * The MySQL backup engine (the BackupEngine of the generic backup store) on a sandbox VPS:
 * dump → download → restore into a new database, file modes, checksum, refusal of an existing
 * target; then POST /backup-mysql-db and the shared backup routes (list, download, restore, delete).
 */
const OWNER = 7;
const ROOT_PASSWORD = "backup-root-pw";
let ssh: SSHClient;
const engine = mysqlBackupEngine("root");
const TIMEOUT = 60_000;

const rootSql = async (sql: string) => (await sandbox.vps.exec(`mysql -N -B -e ${JSON.stringify(sql)}`)).stdout.trim();

const sandbox = sandboxService({ vps: { postgres: "absent", mysql: "running", systemd: true }, ownerId: OWNER, app: (dbs) => ({ backups: createBackupStore(dbs.drizzleDb) }) });

beforeAll(async () => {
  const setup = await sandbox.vps.exec(
    "mysql",
    `CREATE DATABASE shop; CREATE USER 'shop_user'@'%' IDENTIFIED BY 'pw'; CREATE USER 'shop_user'@'localhost' IDENTIFIED BY 'pw';
     GRANT ALL ON shop.* TO 'shop_user'@'%'; GRANT ALL ON shop.* TO 'shop_user'@'localhost';
     USE shop; CREATE TABLE t (id INT PRIMARY KEY, s TEXT, n VARCHAR(5)); INSERT INTO t VALUES (1, 'tab\\there\\nline ü', NULL), (2, 'NULL', 'x');
     CREATE TABLE audit (id INT); CREATE TRIGGER t_ins AFTER INSERT ON t FOR EACH ROW INSERT INTO audit VALUES (NEW.id);
     CREATE PROCEDURE hello() SELECT 'hi';`,
  );
  if (setup.exitCode !== 0) throw new Error(setup.stderr);
  ssh = new SSHClient({ host: sandbox.vps.ip, port: 22, username: "root", password: sandbox.vps.rootPassword, connectTimeoutMs: 5_000 });
  await ssh.connect();
  await sandbox.vps.exec(`mysql -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('${ROOT_PASSWORD}')"`);
}, 120_000);

afterAll(async () => {
  ssh?.close();
}, 60_000);

describe("MySQL backup engine", () => {
  test("dump (0600 file in 0700 dirs, gzip, checksum) → download the same bytes → restore into a new database with data, trigger and routine", async () => {
    const { fileName, path } = engine.plan("shop", new Date("2026-11-24T02:05:12.123Z"));
    expect(fileName).toBe("shop-20261124T020512.123Z.sql.gz");
    const dumped = await engine.dump(ssh, "shop", path, TIMEOUT);
    expect((await sandbox.vps.exec(`stat -c '%a' ${path} /var/backups/zyotra/mysql/shop /var/backups/zyotra/mysql`)).stdout.trim().split("\n")).toEqual(["600", "700", "700"]);

    const download = await engine.read(ssh, path, dumped.sha256, TIMEOUT);
    const chunks: Buffer[] = [];
    for await (const chunk of download.stdout) chunks.push(chunk);
    expect((await download.result).exitCode).toBe(0);
    const bytes = Buffer.concat(chunks);
    expect(bytes.length).toBe(dumped.sizeBytes);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(dumped.sha256);
    const sql = gunzipSync(bytes).toString("utf8");
    expect(sql).toContain("CREATE TABLE `t`");
    expect(sql).not.toContain("CREATE DATABASE");

    await engine.restore(ssh, { path, sha256: dumped.sha256, dbName: "shop_restored", roleName: "shop_user", deployId: 1 }, TIMEOUT);
    expect(await rootSql("SELECT id, HEX(s), IFNULL(n, 'SQL-NULL') FROM shop_restored.t ORDER BY id")).toBe(
      [`1\t${Buffer.from("tab\there\nline ü").toString("hex").toUpperCase()}\tSQL-NULL`, `2\t${Buffer.from("NULL").toString("hex").toUpperCase()}\tx`].join("\n"),
    );
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'shop_restored'")).toBe("1");
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'shop_restored'")).toBe("1");
    expect(await rootSql("SHOW GRANTS FOR 'shop_user'@'%'")).toContain("`shop_restored`.*");

    // Never over an existing database; a changed file is neither restored nor downloaded.
    await expect(engine.restore(ssh, { path, sha256: dumped.sha256, dbName: "shop", roleName: "shop_user", deployId: 2 }, TIMEOUT)).rejects.toThrow(/already exists/);
    await sandbox.vps.exec(`echo tampered >> ${path}`);
    await expect(engine.restore(ssh, { path, sha256: dumped.sha256, dbName: "shop_other", roleName: "shop_user", deployId: 3 }, TIMEOUT)).rejects.toThrow(/checksum/);
    expect(await rootSql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_other'")).toBe("0");

    await engine.remove(ssh, path, TIMEOUT);
    expect((await sandbox.vps.exec(`test -e ${path}`)).exitCode).not.toBe(0);
  }, 120_000);

  test("a database that does not exist is a NotFound, and nothing is left behind", async () => {
    const { path } = engine.plan("missing_db", new Date());
    await expect(engine.dump(ssh, "missing_db", path, TIMEOUT)).rejects.toThrow(/not found/);
    expect((await sandbox.vps.exec("ls -A /var/backups/zyotra/mysql/missing_db 2>/dev/null | wc -l")).stdout.trim()).toBe("0");
  }, 60_000);
});

describe("POST /backup-mysql-db and the shared backup routes", () => {
  test("backup → list → download (same bytes) → restore into a new recorded MySQL database → delete; engines never meet", async () => {
    const deployed = await sandbox.app.request("POST", "/deploy-mysql", {
      userId: OWNER,
      body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName: "notes", userName: "notes_user", password: "notes-pw", rootPassword: ROOT_PASSWORD, dbType: "mysql" },
    });
    expect(deployed.status).toBe(200);
    await sandbox.vps.exec("mysql notes", "CREATE TABLE n (id INT PRIMARY KEY, body TEXT); INSERT INTO n VALUES (1, 'first'), (2, NULL);");

    const body = { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName: "notes", userName: "notes_user", password: "notes-pw" };
    const created = await sandbox.app.request("POST", "/backup-mysql-db", { userId: OWNER, body });
    expect(created.status).toBe(200);
    const backup = created.body.backup as { id: number; databaseId: number; fileName: string; sizeBytes: number; sha256: string; status: string };
    expect(backup.status).toBe("done");
    expect(backup.fileName).toEndWith(".sql.gz");
    expect((await sandbox.app.request("POST", "/backup-postgres-db", { userId: OWNER, body })).status).toBe(400);

    const listed = await sandbox.app.request("GET", `/backups?databaseId=${backup.databaseId}`, { userId: OWNER });
    expect(JSON.stringify(listed.body)).toContain(backup.fileName);

    const download = await fetch(`${sandbox.app.baseUrl}/backups/${backup.id}/download`, { headers: { authorization: `Bearer ${tokenFor(OWNER)}` } });
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(backup.sha256);
    expect(gunzipSync(bytes).toString("utf8")).toContain("INSERT INTO `n`");

    const restored = await sandbox.app.request("POST", `/backups/${backup.id}/restore`, { userId: OWNER, body: { dbName: "notes_copy" } });
    expect(restored.status).toBe(200);
    const [row] = await sandbox.dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, "notes_copy"));
    expect(row?.dbType).toBe("mysql");
    expect(row?.status).toBe("running");
    expect(await rootSql("SELECT id, IFNULL(body, 'SQL-NULL') FROM notes_copy.n ORDER BY id")).toBe("1\tfirst\n2\tSQL-NULL");
    const data = await sandbox.app.request("POST", "/get-mysql-table-data", { userId: OWNER, body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, databaseName: "notes_copy", tableName: "n" } });
    expect(data.body.data).toEqual([
      { id: 1, body: "first" },
      { id: 2, body: null },
    ]);

    expect((await sandbox.app.request("DELETE", `/backups/${backup.id}`, { userId: OWNER })).status).toBe(200);
    expect((await sandbox.vps.exec("ls /var/backups/zyotra/mysql/notes")).stdout.trim()).toBe("");
  }, 180_000);
});
