import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { and, eq } from "drizzle-orm";
import { deployed_db } from "../../src/metadata/schema";
import { refusingLeases } from "../support/recordingSessions";

/**
 * MySQL table list and table data end to end: a sandbox VPS whose MariaDB was installed by
 * someone else (root given a password by hand), a database deployed through the service, and
 * reads through the SSH-forwarded wire protocol as the database's own user.
 */
const OWNER = 7;
const ROOT_PASSWORD = "existing-root-pw";
const PASSWORD = `rd'pw"\\ ü`;
const MAX_ROWS = 7;

const where = () => ({ vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, databaseName: "shop", username: "shop_user", password: PASSWORD });
const tableData = (fields: Record<string, unknown>, userId = OWNER) =>
  sandbox.app.request("POST", "/get-mysql-table-data", { userId, body: { ...where(), ...fields } });

async function csv(fields: Record<string, unknown>): Promise<{ status: number; type: string | null; text: string }> {
  const { tokenFor } = await import("../support/tokens");
  const response = await fetch(`${sandbox.app.baseUrl}/get-mysql-table-data`, {
    method: "POST",
    headers: { authorization: `Bearer ${tokenFor(OWNER)}`, "content-type": "application/json" },
    body: JSON.stringify({ ...where(), format: "csv", ...fields }),
  });
  return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
}

const SETUP_SQL = `
CREATE TABLE vals (id INT PRIMARY KEY, t TINYINT, i INT, b BIGINT, bu BIGINT UNSIGNED, d DECIMAL(30,10), f FLOAT, dbl DOUBLE,
  s VARCHAR(50), n VARCHAR(10), dt DATETIME, dd DATE, tm TIME, j JSON, bin VARBINARY(8), bl BLOB, txt TEXT, yr YEAR, bitv BIT(8));
INSERT INTO vals VALUES (1, -128, 2147483647, 9223372036854775807, 18446744073709551615, 12345678901234567890.0123456789, 1.5, 0.1,
  'NULL', NULL, '2026-01-02 03:04:05', '2026-01-02', '-12:00:01', '{"a": [1, 2]}', 0x00ff10, 'abc', 'tab\\there\\nnew "line", too', 2026, b'10100101');
INSERT INTO vals (id, s) VALUES (2, '');
CREATE TABLE nums (n INT PRIMARY KEY, label VARCHAR(10));
INSERT INTO nums WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 25) SELECT n, CONCAT('r', LPAD(n, 2, '0')) FROM s;
CREATE VIEW recent AS SELECT n FROM nums WHERE n > 20;
`;

const sandbox = sandboxService({ vps: { postgres: "absent", mysql: "running", systemd: true }, ownerId: OWNER, app: (dbs) => ({ tableDataMaxRows: MAX_ROWS }) });

beforeAll(async () => {
  // Installed by someone else, who gave root a password.
  await sandbox.vps.exec(`mysql -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('${ROOT_PASSWORD}')"`);
  const deployed = await sandbox.app.request("POST", "/deploy-mysql", {
    userId: OWNER,
    body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName: "shop", userName: "shop_user", password: PASSWORD, rootPassword: ROOT_PASSWORD, dbType: "mysql" },
  });
  if (deployed.status !== 200) throw new Error(`deploy failed: ${JSON.stringify(deployed.body)}`);
  if (!(deployed.body.data as { existingInstallation: boolean }).existingInstallation) throw new Error("expected an existing installation");
  const setup = await sandbox.vps.exec("mysql shop", SETUP_SQL);
  if (setup.exitCode !== 0) throw new Error(setup.stderr);
}, 180_000);

describe("get-mysql-table-list", () => {
  test("tables (with their size in bytes) and views of the database, by name", async () => {
    const response = await sandbox.app.request("POST", "/get-mysql-table-list", { userId: OWNER, body: where() });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe("success");
    const data = response.body.data as Array<{ name: string; size?: number }>;
    expect(data.map((entry) => entry.name)).toEqual(["nums", "recent", "vals"]);
    expect(typeof data[0]?.size).toBe("number");
    expect(data[1]).toEqual({ name: "recent" });
  }, 60_000);

  test("a machine that is not the caller's is 404; a database not recorded as the caller's MySQL database is 404; a PostgreSQL row is 400", async () => {
    expect((await sandbox.app.request("POST", "/get-mysql-table-list", { userId: 8, body: where() })).status).toBe(404);
    expect((await sandbox.app.request("POST", "/get-mysql-table-list", { userId: OWNER, body: { ...where(), databaseName: "mysql" } })).status).toBe(404);
    await sandbox.dbs.drizzleDb.insert(deployed_db).values({ dbName: "pg_side", username: "u", password: "sealed", host: sandbox.vps.ip, dbType: "postgres", vpsId: sandbox.machineId, userId: OWNER, status: "running" });
    expect((await sandbox.app.request("POST", "/get-mysql-table-list", { userId: OWNER, body: { ...where(), databaseName: "pg_side" } })).status).toBe(400);
  }, 60_000);
});

describe("get-mysql-table-data", () => {
  test("exact values: NULL vs 'NULL', BIGINT beyond 2^53 and DECIMAL as digits, binary as 0x-hex, JSON and dates as MySQL prints them, tabs and newlines intact", async () => {
    const response = await tableData({ tableName: "vals" });
    expect(response.status).toBe(200);
    const data = response.body.data as Array<Record<string, unknown>>;
    expect(data[0]).toEqual({
      id: 1,
      t: -128,
      i: 2147483647,
      b: "9223372036854775807",
      bu: "18446744073709551615",
      d: "12345678901234567890.0123456789",
      f: 1.5,
      dbl: 0.1,
      s: "NULL",
      n: null,
      dt: "2026-01-02 03:04:05",
      dd: "2026-01-02",
      tm: "-12:00:01",
      j: '{"a": [1, 2]}',
      bin: "0x00ff10",
      bl: "0x616263",
      txt: 'tab\there\nnew "line", too',
      yr: 2026,
      bitv: "0xa5",
    });
    expect(data[1]?.s).toBe("");
    expect(data[1]?.n).toBeNull();
    expect((response.body.columns as Array<{ name: string; type: string }>)[3]).toEqual({ name: "b", type: "bigint(20)" });
    expect(response.body.truncated).toBe(false);
  }, 60_000);

  test("paging: default cap with truncated, limit/offset by primary key, orderBy/order; unknown table 404, unknown column 400", async () => {
    const capped = await tableData({ tableName: "nums" });
    expect(capped.body.limit).toBe(MAX_ROWS);
    expect(capped.body.truncated).toBe(true);
    expect((capped.body.data as unknown[]).length).toBe(MAX_ROWS);
    expect(capped.body.estimatedTotal === null || typeof capped.body.estimatedTotal === "number").toBe(true);

    const last = await tableData({ tableName: "nums", limit: 10, offset: 20 });
    expect((last.body.data as Array<{ n: number }>).map((row) => row.n)).toEqual([21, 22, 23, 24, 25]);
    expect(last.body.truncated).toBe(false);
    const pages = [0, 10, 20].map((offset) => tableData({ tableName: "nums", limit: 10, offset, orderBy: "label", order: "desc" }));
    const all = (await Promise.all(pages)).flatMap((page) => (page.body.data as Array<{ n: number }>).map((row) => row.n));
    expect(all).toEqual(Array.from({ length: 25 }, (_, i) => 25 - i));

    expect((await tableData({ tableName: "missing" })).status).toBe(404);
    expect((await tableData({ tableName: "nums", orderBy: "nope" })).status).toBe(400);
    expect((await tableData({ tableName: "nums" }, 8)).status).toBe(404);
  }, 60_000);

  test("format csv: a streamed download, header first, NULL empty, '' quoted, separators inside values quoted", async () => {
    const download = await csv({ tableName: "vals", orderBy: "id" });
    expect(download.status).toBe(200);
    expect(download.type).toContain("text/csv");
    const expected = [
      "id,t,i,b,bu,d,f,dbl,s,n,dt,dd,tm,j,bin,bl,txt,yr,bitv",
      `1,-128,2147483647,9223372036854775807,18446744073709551615,12345678901234567890.0123456789,1.5,0.1,NULL,,2026-01-02 03:04:05,2026-01-02,-12:00:01,"{""a"": [1, 2]}",0x00ff10,0x616263,"tab\there\nnew ""line"", too",2026,0xa5`,
      '2,,,,,,,,"",,,,,,,,,,',
      "",
    ].join("\n");
    expect(download.text).toBe(expected);

    const whole = await csv({ tableName: "nums" });
    expect(whole.text.trim().split("\n")).toHaveLength(26);
    const page = await csv({ tableName: "nums", limit: 2, offset: 3 });
    expect(page.text).toBe("n,label\n4,r04\n5,r05\n");
  }, 60_000);
});

describe("run-mysql-query", () => {
  const run = (query: string, fields: Record<string, unknown> = {}, target: RunningTestApp = sandbox.app) =>
    target.request("POST", "/run-mysql-query", { userId: OWNER, body: { ...where(), query, ...fields } });

  test("runs as the database's own user; several statements, each shaped like run-query; exact values; the lower-cased name resolves", async () => {
    const who = await run("SELECT CURRENT_USER() AS who, DATABASE() AS db");
    expect(who.status).toBe(200);
    expect(String((who.body.rows as Array<{ who: string }>)[0]?.who)).toStartWith("shop_user@");
    expect(who.body.command).toBe("SELECT");

    const many = await run("CREATE TABLE edits (a INT, b BIGINT); INSERT INTO edits VALUES (1, 9007199254740993), (2, NULL); SELECT a, b, 'NULL' AS s FROM edits ORDER BY a");
    expect(many.status).toBe(200);
    const results = many.body.results as Array<{ command: string; rowCount: number }>;
    expect(results.map((result) => [result.command, result.rowCount])).toEqual([
      ["OK", 0],
      ["OK", 2],
      ["SELECT", 2],
    ]);
    expect(many.body.rows).toEqual([
      { a: 1, b: "9007199254740993", s: "NULL" },
      { a: 2, b: null, s: "NULL" },
    ]);
    expect(many.body.truncated).toBe(false);
    expect(typeof many.body.executionTime).toBe("string");
    expect((await run("SELECT 1 AS one", { databaseName: "SHOP" })).status).toBe(200);
  }, 60_000);

  test("SQL errors are 400 with MySQL's message, code and statement; a PostgreSQL row is 400; an unknown database 404", async () => {
    const broken = await run("SELECT 1; SELEC 2");
    expect(broken.status).toBe(400);
    expect(String(broken.body.message)).toContain("SQL syntax");
    expect(broken.body.code).toBe("1064");
    expect(broken.body.statement).toBe(2);
    expect((await run("SELECT 1", { databaseName: "pg_side" })).status).toBe(400);
    // And the PostgreSQL editor refuses this MySQL database.
    const pgEditor = await sandbox.app.request("POST", "/run-query", { userId: OWNER, body: { databaseName: "shop", vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, query: "SELECT 1" } });
    expect(pgEditor.status).toBe(400);
    expect(String(pgEditor.body.message)).toContain("MySQL database");
    expect((await run("SELECT 1", { databaseName: "nowhere" })).status).toBe(404);
    expect((await sandbox.app.request("POST", "/run-mysql-query", { userId: 8, body: { ...where(), query: "SELECT 1" } })).status).toBe(403);
  }, 60_000);

  test("bounds: rows past the cap are counted not kept (truncated); a statement past the time limit is stopped (504)", async () => {
    const bounded = startTestApp({ store: sandbox.dbs.store, registry: sandbox.dbs.registry, query: { statementTimeoutMs: 1_000, maxRows: 3 } });
    try {
      const capped = await run("SELECT n FROM nums ORDER BY n", {}, bounded);
      expect(capped.status).toBe(200);
      expect(capped.body.rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(capped.body.rowCount).toBe(25);
      expect(capped.body.truncated).toBe(true);
      const slow = await run("SELECT SLEEP(20)", {}, bounded);
      expect(slow.status).toBe(504);
    } finally {
      await bounded.stop();
    }
  }, 60_000);
});

describe("engines never meet", () => {
  test("MySQL routes on a PostgreSQL row and PostgreSQL routes on a MySQL row: 400 before any SSH connection, nothing changed", async () => {
    await sandbox.dbs.drizzleDb.insert(deployed_db).values({ dbName: "pg_engine", username: "pg_u", password: "sealed", host: sandbox.vps.ip, dbType: "postgres", vpsId: sandbox.machineId, userId: OWNER, status: "running" });
    const [mysqlRow] = await sandbox.dbs.drizzleDb.select().from(deployed_db).where(and(eq(deployed_db.dbName, "shop"), eq(deployed_db.dbType, "mysql")));
    const leases = refusingLeases();
    const isolated = startTestApp({ store: sandbox.dbs.store, registry: sandbox.dbs.registry, leases });
    try {
      const machine = { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip };
      const onPostgresRow = { ...machine, databaseName: "pg_engine", username: "pg_u", password: "x" };
      const onMySqlRow = { ...machine, databaseName: "shop", username: "shop_user", password: PASSWORD };
      const refusals = [
        isolated.request("POST", "/get-mysql-table-list", { userId: OWNER, body: onPostgresRow }),
        isolated.request("POST", "/get-mysql-table-data", { userId: OWNER, body: { ...onPostgresRow, tableName: "t" } }),
        isolated.request("POST", "/get-mysql-table-data", { userId: OWNER, body: { ...onPostgresRow, tableName: "t", format: "csv" } }),
        isolated.request("POST", "/run-mysql-query", { userId: OWNER, body: { ...onPostgresRow, query: "DROP TABLE t" } }),
        isolated.request("POST", "/get-tables-list", { userId: OWNER, body: onMySqlRow }),
        isolated.request("POST", "/get-table-data", { userId: OWNER, body: { ...onMySqlRow, tableName: "vals" } }),
        isolated.request("POST", "/get-table-data", { userId: OWNER, body: { ...onMySqlRow, tableName: "vals", format: "csv" } }),
        isolated.request("POST", "/run-query", { userId: OWNER, body: { ...onMySqlRow, query: "DROP TABLE vals" } }),
        isolated.request("DELETE", `/delete-db/${mysqlRow?.id}`, { userId: OWNER }),
      ];
      const answers = await Promise.all(refusals);
      expect(answers.map((answer) => answer.status)).toEqual(refusals.map(() => 400));
      // Each names the routes of the database's own engine.
      for (const answer of answers) expect(String(answer.body.message)).toMatch(/This is a (PostgreSQL|MySQL) database/);
    } finally {
      await isolated.stop();
    }
    expect(leases.attempts).toEqual([]);
    expect(await sandbox.dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, "pg_engine"))).toHaveLength(1);
    expect(await sandbox.dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.id, mysqlRow?.id ?? -1))).toHaveLength(1);
    expect((await sandbox.vps.exec("mysql -N -B shop -e 'SELECT COUNT(*) FROM vals'")).stdout.trim()).toBe("2");
  }, 60_000);
});

describe("get-mysql-table-data: the row path", () => {
  const TRICKY_SQL = `SET NAMES utf8mb4;
CREATE TABLE tricky (id INT PRIMARY KEY, s MEDIUMTEXT, b MEDIUMBLOB, z INT(5) ZEROFILL, f FLOAT, d DOUBLE);
INSERT INTO tricky VALUES
  (1, 'back\\\\slash \\\\N NULL\\ttab\\nnl\\rcr "q", done', 0x00090a5c4e0d22, 5, 1.1, -0.5),
  (2, 'NULL', NULL, NULL, NULL, 1e300),
  (3, REPEAT('x', 300000), REPEAT(0x0a, 70000), 0, 3e38, 1e-300),
  (4, CONCAT(CHAR(1), CHAR(31), CHAR(127), 'ü😀'), '', 123, -2.5, 0.1),
  (5, '', X'', 99999, 0, 2);`;

  const expected = [
    { id: 1, s: 'back\\slash \\N NULL\ttab\nnl\rcr "q", done', b: "0x00090a5c4e0d22", z: 5, f: 1.1, d: -0.5 },
    { id: 2, s: "NULL", b: null, z: null, f: null, d: 1e300 },
    { id: 3, s: "x".repeat(300_000), b: `0x${"0a".repeat(70_000)}`, z: 0, f: 3e38, d: 1e-300 },
    { id: 4, s: "\u0001\u001f\u007fü😀", b: "0x", z: 123, f: -2.5, d: 0.1 },
    { id: 5, s: "", b: "0x", z: 99999, f: 0, d: 2 },
  ];

  beforeAll(async () => {
    const setup = await sandbox.vps.exec("mysql --default-character-set=utf8mb4 shop", TRICKY_SQL);
    if (setup.exitCode !== 0) throw new Error(setup.stderr);
  }, 60_000);

  test("JSON: backslashes, \\N, the string 'NULL', tabs, newlines, CR, control characters, binary with separators, ZEROFILL, floats; values over many SSH packets", async () => {
    const response = await tableData({ tableName: "tricky" });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual(expected);
    expect(response.body.truncated).toBe(false);
    const paged = await tableData({ tableName: "tricky", limit: 2, offset: 1 });
    expect(paged.body.data).toEqual(expected.slice(1, 3));
    expect(paged.body.truncated).toBe(true);
  }, 60_000);

  test("CSV: the same values, quoted where COPY quotes", async () => {
    const download = await csv({ tableName: "tricky" });
    expect(download.status).toBe(200);
    const field = (value: unknown) => {
      if (value === null) return "";
      const text = String(value);
      return text === "" || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
    };
    const lines = expected.map((row) => Object.values(row).map(field).join(","));
    expect(download.text).toBe(["id,s,b,z,f,d", ...lines, ""].join("\n"));
  }, 60_000);

  test("a client that goes away mid-download stops the query on the server and frees the session", async () => {
    const big = await sandbox.vps.exec(
      "mysql shop",
      `SET SESSION max_recursive_iterations = 300000;
       CREATE TABLE big (n INT PRIMARY KEY, pad VARCHAR(300));
       INSERT INTO big WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 200000) SELECT n, REPEAT('y', 200) FROM s;`,
    );
    if (big.exitCode !== 0) throw new Error(big.stderr);
    const { tokenFor } = await import("../support/tokens");
    // The server's whole output counter: this file's requests run one at a time.
    const bytesSent = async () => Number((await sandbox.vps.exec(`mysql -N -B -e "SHOW GLOBAL STATUS LIKE 'Bytes_sent'"`)).stdout.trim().split(/\s+/)[1]);
    const sentBefore = await bytesSent();
    const response = await fetch(`${sandbox.app.baseUrl}/get-mysql-table-data`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokenFor(OWNER)}`, "content-type": "application/json" },
      body: JSON.stringify({ ...where(), tableName: "big", format: "csv" }),
    });
    expect(response.status).toBe(200);
    const reader = response.body?.getReader();
    const first = await reader?.read();
    expect(first?.done).toBe(false);
    await reader?.cancel();

    const running = async () =>
      (await sandbox.vps.exec(`mysql -N -B -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'shop_user' AND INFO LIKE 'SELECT * FROM \\\`big\\\`%'"`)).stdout.trim();
    const deadline = Date.now() + 20_000;
    while ((await running()) !== "0" && Date.now() < deadline) await Bun.sleep(200);
    expect(await running()).toBe("0");
    // The table is about 41 MB as rows; a query left running would have sent all of it.
    expect(await bytesSent() - sentBefore).toBeLessThan(20_000_000);
    const after = await tableData({ tableName: "nums", limit: 3 });
    expect((after.body.data as unknown[]).length).toBe(3);
  }, 90_000);
});
