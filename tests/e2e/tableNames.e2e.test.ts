import { beforeAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import { connectAs } from "../support/remoteDb";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/**
 * Every table the tables list shows must open, whatever its name: psql reads `:name` and
 * backslash commands in script text, so names that look like either must reach PostgreSQL
 * as plain names (a canary file proves no shell command ran).
 */
const OWNER = 51;
const PASSWORD = "names-pw";
const CANARY = "/tmp/zsl-names-canary";

const SCHEMA = "odd schema:'zsl_select'\\";
const NAMES = [
  "my-table",
  "with space",
  "a.b",
  "naïve",
  `x\\! touch ${CANARY}`,
  ":zsl",
  ":'zsl_select'",
  ':"zsl_rel"',
  `it's "quoted"`,
  "new\nline",
  "日本語のテーブル",
];
const COLUMN = `col:'x' \\! touch ${CANARY}`;

const where = () => ({ databaseName: "names", vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, username: "names_user" });
const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

const sandbox = sandboxService({ vps: { postgres: "running" }, ownerId: OWNER });

beforeAll(async () => {
  const deployed = await sandbox.app.request("POST", "/deploy-postgres", {
    userId: OWNER,
    body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName: "names", userName: "names_user", password: PASSWORD, dbType: "postgres" },
  });
  expect(deployed.status).toBe(200);
  const owner = await connectAs(sandbox.vps.ip, "names_user", PASSWORD, "names");
  for (const [i, name] of NAMES.entries()) {
    await owner.query(`CREATE TABLE public.${ident(name)} (id integer PRIMARY KEY, ${ident(COLUMN)} text)`);
    await owner.query(`INSERT INTO public.${ident(name)} VALUES (1, $1), (2, 'b')`, [`row of ${i}`]);
  }
  await owner.query(`CREATE SCHEMA ${ident(SCHEMA)}`);
  await owner.query(`CREATE TABLE ${ident(SCHEMA)}.${ident(NAMES[4] as string)} (v text)`);
  await owner.query(`INSERT INTO ${ident(SCHEMA)}.${ident(NAMES[4] as string)} VALUES ('inside')`);
  await owner.end();
}, 120_000);

describe("tables whose names are not plain identifiers", () => {
  test("are listed and every listed table opens as JSON and CSV, ordered by an odd column", async () => {
    const list = await sandbox.app.request("POST", "/get-tables-list", { userId: OWNER, body: where() });
    expect(list.status).toBe(200);
    const listed = list.body.data as string[];
    expect([...listed].sort()).toEqual([...NAMES].sort());

    for (const [i, tableName] of NAMES.entries()) {
      const json = await sandbox.app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), tableName, orderBy: COLUMN, order: "desc" } });
      expect(json.status).toBe(200);
      expect(json.body.columns).toEqual([
        { name: "id", type: "integer" },
        { name: COLUMN, type: "text" },
      ]);
      // Descending by the odd column: "row of i" sorts after "b".
      expect(json.body.data).toEqual([
        { id: 1, [COLUMN]: `row of ${i}` },
        { id: 2, [COLUMN]: "b" },
      ]);
      expect(json.body.estimatedTotal).toBe(2);

      const response = await fetch(`${sandbox.app.baseUrl}/get-table-data`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokenFor(OWNER)}`, "content-type": "application/json" },
        body: JSON.stringify({ ...where(), tableName, format: "csv" }),
      });
      expect(response.status).toBe(200);
      const disposition = response.headers.get("content-disposition") ?? "";
      expect(decodeURIComponent(disposition.split("filename*=UTF-8''")[1] ?? "")).toBe(`${tableName}.csv`);
      const csv = await response.text();
      expect(csv.split("\n")[0]).toBe(`id,${COLUMN}`);
      expect(csv).toContain(`1,row of ${i}\n`);
    }
  }, 120_000);

  test("schemas with odd names list and open too; unknown odd names are 404", async () => {
    const list = await sandbox.app.request("POST", "/get-tables-list", { userId: OWNER, body: { ...where(), schema: SCHEMA } });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([NAMES[4]]);
    const read = await sandbox.app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), schema: SCHEMA, tableName: NAMES[4] } });
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual([{ v: "inside" }]);
    const missing = await sandbox.app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), tableName: "no such-table\\!" } });
    expect(missing.status).toBe(404);
    const noColumn = await sandbox.app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), tableName: NAMES[0], orderBy: ":'zsl_select'" } });
    expect(noColumn.status).toBe(400);
    const noSchema = await sandbox.app.request("POST", "/get-tables-list", { userId: OWNER, body: { ...where(), schema: "nope:'x'" } });
    expect(noSchema.status).toBe(404);
    expect((await sandbox.vps.exec(`test -e ${CANARY}`)).exitCode).not.toBe(0);
  }, 60_000);
});
