import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Papa from "papaparse";
import pg from "pg";
import { MachineUnreachableError, RemoteTimeoutError } from "../../src/errors/appErrors";
import { SSHClient } from "../../src/ssh/SSHClient";
import { connectAs } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/**
 * Table browsing end to end: a sandbox VPS with a running cluster, a database deployed
 * through the API, fixtures written over TCP as its owner, and every answer compared with
 * what PostgreSQL itself prints (read over the same TCP connection with no type parsing).
 */
const OWNER = 11;
const PASSWORD = "browse-pw-1";

let vps: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;
let cappedApp: RunningTestApp;
let machineId = 0;
let owner: pg.Client;

type Row = Record<string, unknown>;
interface Page {
  status: string;
  data: Row[];
  columns: Array<{ name: string; type: string }>;
  limit: number;
  offset: number;
  truncated: boolean;
  estimatedTotal: number | null;
}

const where = () => ({ databaseName: "browse", vpsId: machineId, vpsIp: vps.ip, username: "browse_user" });
const readTable = (tableName: string, extra: Record<string, unknown> = {}, target = app) =>
  target.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), tableName, ...extra } });
const page = async (tableName: string, extra: Record<string, unknown> = {}, target = app): Promise<Page> => {
  const response = await readTable(tableName, extra, target);
  expect(response.status).toBe(200);
  return response.body as unknown as Page;
};
const rawTableData = (body: Record<string, unknown>, signal?: AbortSignal) =>
  fetch(`${app.baseUrl}/get-table-data`, {
    method: "POST",
    headers: { authorization: `Bearer ${tokenFor(OWNER)}`, "content-type": "application/json" },
    body: JSON.stringify({ ...where(), ...body }),
    signal,
  });

const sqlAsPostgres = async (sql: string) => (await vps.exec(`cd /tmp && sudo -u postgres psql -X -d browse -tAc ${JSON.stringify(sql)}`)).stdout;

// As postgres: other roles' query texts are hidden from browse_user.
const runningCopies = async () => Number((await sqlAsPostgres("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY%' AND pid <> pg_backend_pid()")).trim());
const copiesGone = async () => {
  for (let i = 0; i < 50 && (await runningCopies()) > 0; i++) await Bun.sleep(100);
  return (await runningCopies()) === 0;
};

/** PostgreSQL's own text for every value: the text protocol with every type parser disabled. */
async function printed(sql: string): Promise<Array<Record<string, string | null>>> {
  const result = await owner.query({ text: sql, types: { getTypeParser: () => (text: string) => text } });
  return result.rows as Array<Record<string, string | null>>;
}

/** The contract's mapping from PostgreSQL's text to JSON, written independently of the service. */
const KINDS: Record<string, "boolean" | "integer" | "float"> = { id: "integer", b: "boolean", i2: "integer", i4: "integer", pos: "integer", small_pos: "integer", r4: "float", r8: "float" };
function asJson(row: Record<string, string | null>): Row {
  const out: Row = {};
  for (const [name, text] of Object.entries(row)) {
    const kind = KINDS[name];
    if (text === null) out[name] = null;
    else if (kind === "boolean") out[name] = text === "t";
    else if (kind === "integer") out[name] = Number(text);
    else if (kind === "float") out[name] = Number.isFinite(Number(text)) ? Number(text) : text;
    else out[name] = text;
  }
  return out;
}

const TRICKY = [
  'comma, "double" and \'single\' quotes',
  "new\nline, crlf\r\n, tab\t, backslash \\ and \\N and \\t",
  "\\N",
  "NULL",
  "null",
  " leading and trailing spaces ",
  "ünïcödé ✓ — 日本語 — עברית — 🐘👩‍👩‍👧 — e\u0301 — \u200b\ufeff",
  '{"looks": "like json"}',
  "=1+2",
];

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword });
  app = startTestApp({ store: dbs.store, registry: dbs.registry });
  cappedApp = startTestApp({ store: dbs.store, registry: dbs.registry, tableDataMaxRows: 5 });
  const deployed = await app.request("POST", "/deploy-postgres", {
    userId: OWNER,
    body: { vpsId: machineId, vpsIp: vps.ip, dbName: "browse", userName: "browse_user", password: PASSWORD, dbType: "postgres" },
  });
  expect(deployed.status).toBe(200);

  const setup = await connectAs(vps.ip, "browse_user", PASSWORD, "browse");
  // Fixed settings make the expected spellings of times and dates independent of the host.
  await setup.query(`ALTER DATABASE browse SET timezone = 'UTC'; ALTER DATABASE browse SET datestyle = 'ISO, MDY'`);
  await setup.end();
  owner = await connectAs(vps.ip, "browse_user", PASSWORD, "browse");
  await owner.query(`
    CREATE TYPE mood AS ENUM ('happy', 'sad, "very"');
    CREATE TYPE pair AS (n integer, label text);
    CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
    CREATE DOMAIN small_positive AS positive CHECK (VALUE < 100);
    CREATE DOMAIN note AS text;
    CREATE TABLE everything (
      id integer PRIMARY KEY,
      b boolean, i2 smallint, i4 integer, i8 bigint, num numeric, num_scaled numeric(12,4), r4 real, r8 double precision,
      t text, vc varchar(40), ch char(5), js json, jsb jsonb,
      ts timestamp, tstz timestamptz, d date, tm time, iv interval,
      arr_i integer[], arr_t text[], by bytea, u uuid, ip inet, net cidr, mac macaddr,
      mood_v mood, pair_v pair, pos positive, small_pos small_positive, note_v note,
      rng int4range, pt point, bits bit varying(8), money_v money, x xml, tsv tsvector
    );
    INSERT INTO everything VALUES
      (1, true, 7, 42, 9223372036854775807, 12345678901234567890.123456789012345678901234567890, 3.1416, 1.5, 0.1,
       'plain', 'varchar', 'ab', '{"b": 1,  "a" : [1, 2.50]}', '{"b": 1,  "a" : [1, 2.50]}',
       '2024-02-29 13:45:06.123456', '2024-02-29 13:45:06.5+02', '2024-02-29', '23:59:59.999999', '1 year 2 mons 3 days 04:05:06.789',
       '{1,NULL,3}', ARRAY['a,b', 'c"d', 'e\\f', NULL, '', 'NULL'], '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
       '192.168.0.1', '10.1.0.0/16', '08:00:2b:01:02:03',
       'sad, "very"', ROW(5, 'x, "y"'), 7, 99, 'a note',
       '[1,5)', '(1.5,-2)', B'101', 12.34, '<a href="x">t &amp; u</a>', 'the quick brown fox'),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, false, -32768, -2147483648, -9223372036854775808, 'NaN', 0, 'Infinity', '-Infinity',
       '', '', '', '""', '""', '-infinity', 'infinity', '0001-01-01 BC', '00:00', '-1 days +00:00:00.000001',
       '{}', '{""}', '', '00000000-0000-0000-0000-000000000000', '::1', '::/0', 'ff:ff:ff:ff:ff:ff',
       'happy', ROW(NULL, ''), 1, 1, '', 'empty', '(0,0)', B'', 0, '', ''),
      (4, true, 32767, 2147483647, 9007199254740993, 1e-30, -99999999.9999, 3.4028235e38, 5e-324,
       $tricky$${TRICKY[0]}$tricky$, 'x', 'abcde', '[]', '{"k": "v\\n\\u00e9 \\"q\\""}', '294276-12-31 23:59:59.999999', '1970-01-01 00:00:00+00',
       '5874897-12-31', '12:00', 'PT0S', '{{1,2},{3,4}}', ARRAY[$t1$${TRICKY[1]}$t1$], '\\x5c4e', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
       '2001:db8::1/64', '2001:db8::/32', '00:00:00:00:00:00', 'happy', ROW(-1, $t2$${TRICKY[1]}$t2$), 2147483647, 50, $t3$${TRICKY[6]}$t3$,
       '[,)', '(1e+30,-0)', B'11111111', -0.01, '<x/>', 'a:1 b:2'),
      (5, false, 0, 0, 0, 0.000000000000000000000000000001, 0.0001, 'NaN', 'NaN',
       $t4$${TRICKY[1]}$t4$, $t5$${TRICKY[2]}$t5$, 'x', 'null', 'null', 'epoch', 'epoch', 'epoch', 'allballs', '0',
       '{-1}', ARRAY[$t6$${TRICKY[6]}$t6$], '\\x', '11111111-2222-3333-4444-555555555555', '0.0.0.0', '0.0.0.0/0', '01:23:45:67:89:ab',
       'sad, "very"', ROW(0, NULL), 3, 3, $t7$${TRICKY[2]}$t7$, '(,)', '(0,0)', B'0', 1000000, '<y>&lt;</y>', ''),
      (6, true, 1, 1, 1, 1, 1, -0, -0, $t8$${TRICKY[3]}$t8$, $t9$${TRICKY[4]}$t9$, ' ', $ta$"${TRICKY[5]}"$ta$, '{"a": null}',
       '2000-01-01', '2000-01-01', '2000-01-01', '00:00:01', '1 mon', '{1}', ARRAY[$tb$${TRICKY[7]}$tb$, $tc$${TRICKY[8]}$tc$],
       '\\xdeadbeef', '12345678-1234-1234-1234-123456789abc', '1.2.3.4/24', '1.2.3.0/24', 'aa:bb:cc:dd:ee:ff',
       'happy', ROW(1, $td$${TRICKY[0]}$td$), 4, 4, $te$${TRICKY[5]}$te$, '[2,3]', '(-1,1)', B'1', -1, '<z a="1"/>', 'z');
    CREATE TABLE ties (id serial PRIMARY KEY, grp integer NOT NULL, label text);
    INSERT INTO ties (grp, label) SELECT g % 4, 'row ' || g FROM generate_series(1, 53) g;
    CREATE TABLE heap (n integer, tag text);
    INSERT INTO heap SELECT n, CASE WHEN n % 3 = 0 THEN 'fizz' ELSE 'other' END FROM (SELECT n FROM generate_series(1, 40) n ORDER BY md5(n::text)) s;
    CREATE TABLE big (id integer PRIMARY KEY, payload text);
    INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
    ANALYZE big;
    CREATE VIEW everything_view AS SELECT id, t FROM everything;
    CREATE FUNCTION boom(n integer) RETURNS integer LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom at %', n; END $$;
    CREATE VIEW explodes_at_once AS SELECT boom(1) AS x;
    CREATE VIEW slow_start AS SELECT 1 AS x FROM pg_sleep(60);
    CREATE VIEW endless AS SELECT generate_series(1, 1000000000) AS g, repeat('z', 100) AS pad;
    CREATE VIEW explodes_later AS SELECT CASE WHEN g < 20000 THEN g ELSE boom(g) END AS x, repeat('y', 50) AS pad FROM generate_series(1, 30000) g;
    CREATE SCHEMA sales;
    CREATE TABLE sales.orders (id integer PRIMARY KEY, total numeric);
    CREATE TABLE sales.customers (id integer PRIMARY KEY);
    INSERT INTO sales.orders VALUES (1, 19.99), (2, 0.10);
  `);
}, 120_000);

afterAll(async () => {
  await owner?.end().catch(() => undefined);
  await app?.stop();
  await cappedApp?.stop();
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("exact values", () => {
  test("every type family, NULLs, empty strings and tricky texts come back exactly as PostgreSQL prints them", async () => {
    const result = await page("everything");
    const expected = (await printed("SELECT * FROM everything ORDER BY id")).map(asJson);
    expect(result.data).toEqual(expected);
    expect(result.data).toHaveLength(6);

    // The oracle above is PostgreSQL itself; these pin the contract independently of it.
    const [first, nulls, edges, fourth] = result.data as [Row, Row, Row, Row];
    expect(first).toMatchObject({ b: true, i2: 7, i4: 42, i8: "9223372036854775807", num: "12345678901234567890.123456789012345678901234567890", r4: 1.5, r8: 0.1 });
    expect(first).toMatchObject({ ch: "ab   ", js: '{"b": 1,  "a" : [1, 2.50]}', jsb: '{"a": [1, 2.50], "b": 1}', ip: "192.168.0.1", by: "\\x00ff10" });
    expect(first).toMatchObject({ ts: "2024-02-29 13:45:06.123456", tstz: "2024-02-29 11:45:06.5+00", iv: "1 year 2 mons 3 days 04:05:06.789", arr_i: "{1,NULL,3}" });
    expect(first).toMatchObject({ arr_t: '{"a,b","c\\"d","e\\\\f",NULL,"","NULL"}', pair_v: '(5,"x, ""y""")', mood_v: 'sad, "very"', pos: 7, small_pos: 99, rng: "[1,5)" });
    expect(Object.values(nulls).filter((v) => v !== null)).toEqual([2]);
    expect(edges).toMatchObject({ t: "", vc: "", ch: "     ", js: '""', note_v: "", by: "\\x", arr_t: '{""}', num: "NaN", r4: "Infinity", r8: "-Infinity", i8: "-9223372036854775808" });
    expect(fourth).toMatchObject({ t: TRICKY[0], i8: "9007199254740993", note_v: TRICKY[6], r8: 5e-324 });
    expect(result.columns.slice(0, 12)).toEqual([
      { name: "id", type: "integer" },
      { name: "b", type: "boolean" },
      { name: "i2", type: "smallint" },
      { name: "i4", type: "integer" },
      { name: "i8", type: "bigint" },
      { name: "num", type: "numeric" },
      { name: "num_scaled", type: "numeric(12,4)" },
      { name: "r4", type: "real" },
      { name: "r8", type: "double precision" },
      { name: "t", type: "text" },
      { name: "vc", type: "character varying(40)" },
      { name: "ch", type: "character(5)" },
    ]);
    expect(result.columns.find((c) => c.name === "small_pos")).toEqual({ name: "small_pos", type: "small_positive" });
    expect(result).toMatchObject({ status: "success", limit: 10_000, offset: 0, truncated: false, estimatedTotal: 6 });
  });

  test("texts round-trip through JSON unchanged", async () => {
    const values = (await page("everything", { orderBy: "id" })).data.flatMap((row) => [row.t, row.vc, row.note_v]);
    for (const text of TRICKY.slice(0, 7)) expect(values).toContain(text);
    const arrays = (await page("everything", { orderBy: "id", order: "desc", limit: 1 })).data[0]?.arr_t;
    expect(arrays).toBe('{"{\\"looks\\": \\"like json\\"}",=1+2}');
  });
});

describe("paging", () => {
  const walk = async (tableName: string, extra: Record<string, unknown>, size: number) => {
    const seen: Row[] = [];
    for (let offset = 0; ; offset += size) {
      const result = await page(tableName, { ...extra, limit: size, offset });
      expect(result.limit).toBe(size);
      expect(result.offset).toBe(offset);
      seen.push(...result.data);
      if (!result.truncated) return seen;
      expect(result.data).toHaveLength(size);
    }
  };

  test("pages across ties in the order column are stable and complete (primary key breaks ties)", async () => {
    for (const order of ["asc", "desc"] as const) {
      const rows = await walk("ties", { orderBy: "grp", order }, 7);
      const expected = await printed(`SELECT id FROM ties ORDER BY grp ${order}, id ${order}`);
      expect(rows.map((row) => row.id)).toEqual(expected.map((row) => Number(row.id)));
    }
    const byKey = await walk("ties", {}, 10);
    expect(byKey.map((row) => row.id)).toEqual(Array.from({ length: 53 }, (_, i) => i + 1));
    const backwards = await page("ties", { order: "desc", limit: 3 });
    expect(backwards.data.map((row) => row.id)).toEqual([53, 52, 51]);
  });

  test("a table without a primary key pages by row position, with no row lost or repeated", async () => {
    for (const extra of [{}, { orderBy: "tag" }, { orderBy: "tag", order: "desc" }]) {
      const rows = await walk("heap", extra, 6);
      expect(rows.map((row) => row.n as number).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    }
  });

  test("truncated says whether more rows exist", async () => {
    expect(await page("ties", { limit: 53 })).toMatchObject({ truncated: false, estimatedTotal: 53 });
    expect((await page("ties", { limit: 52 })).truncated).toBe(true);
    expect(await page("ties", { limit: 10, offset: 50 })).toMatchObject({ truncated: false, data: [{ id: 51 }, { id: 52 }, { id: 53 }] });
    expect(await page("ties", { offset: 500 })).toMatchObject({ truncated: false, data: [] });
  });

  test("without limit the answer is capped (configurable) and says so", async () => {
    const capped = await page("ties", {}, cappedApp);
    expect(capped).toMatchObject({ limit: 5, truncated: true });
    expect(capped.data.map((row) => row.id)).toEqual([1, 2, 3, 4, 5]);
    expect((await page("ties", { limit: 20 }, cappedApp)).data).toHaveLength(20);
    const big = await page("big");
    expect(big).toMatchObject({ limit: 10_000, truncated: true });
    expect(big.data).toHaveLength(10_000);
  });

  test("estimatedTotal: exact for small tables, the catalog's estimate for large ones, null for views", async () => {
    expect((await page("big", { limit: 1 })).estimatedTotal).toBe(20_000);
    expect((await page("everything_view", { limit: 1 })).estimatedTotal).toBeNull();
    expect((await page("heap", { limit: 1 })).estimatedTotal).toBe(40);
  });
});

describe("refusals", () => {
  test("invalid paging, ordering, schema or format fields are 400 before any connection", async () => {
    const bad: Array<Record<string, unknown>> = [
      { limit: 0 },
      { limit: 100_001 },
      { limit: 1.5 },
      { limit: "ten" },
      { offset: -1 },
      { order: "up" },
      { orderBy: "id\u0000" },
      { orderBy: "" },
      { schema: "é".repeat(32) },
      { format: "xml" },
    ];
    for (const extra of bad) {
      const response = await readTable("ties", extra);
      expect({ extra, status: response.status }).toEqual({ extra, status: 400 });
      expect(typeof response.body.message).toBe("string");
    }
    const badList = await app.request("POST", "/get-tables-list", { userId: OWNER, body: { ...where(), schema: "x\u0000y" } });
    expect(badList.status).toBe(400);
  });

  test("orderBy must be a column of the table, with a sort order", async () => {
    const missing = await readTable("ties", { orderBy: "nope" });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toContain("nope");
    const unsortable = await readTable("everything", { orderBy: "js" });
    expect(unsortable.status).toBe(400);
    expect((await readTable("everything", { orderBy: "pt", format: "csv" })).status).toBe(400);
  });

  test("unknown tables, schemas and databases are 404; someone else's machine is the contract's 404", async () => {
    expect((await readTable("nope")).status).toBe(404);
    expect((await readTable("ties", { schema: "sales" })).status).toBe(404);
    expect((await readTable("ties", { databaseName: "nope" })).status).toBe(404);
    const notMine = await app.request("POST", "/get-table-data", { userId: OWNER + 1, body: { ...where(), tableName: "ties" } });
    expect(notMine).toMatchObject({ status: 404, body: { message: "Invalid Machine details or you are unauthorized to access this machine" } });
  });

  test("a query failing before its first row is an ordinary JSON error", async () => {
    const failed = await readTable("explodes_at_once");
    expect(failed.status).toBe(502);
    expect(failed.headers.get("content-type")).toContain("application/json");
    expect(typeof failed.body.message).toBe("string");
  });

  test("a query failing after rows were sent cuts the response: never a silently shorter table", async () => {
    const response = await rawTableData({ tableName: "explodes_later", limit: 30_000 });
    expect(response.status).toBe(200);
    const outcome = await response.text().then(
      (text) => {
        try {
          JSON.parse(text);
          return "complete JSON";
        } catch {
          return "incomplete";
        }
      },
      () => "incomplete",
    );
    expect(outcome).toBe("incomplete");
  });
});

describe("CSV export", () => {
  test("streams a download whose values round-trip through a CSV parser; NULL is an empty unquoted field", async () => {
    const response = await rawTableData({ tableName: "everything", format: "csv" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe(`attachment; filename="everything.csv"; filename*=UTF-8''everything.csv`);
    const text = await response.text();
    const parsed = Papa.parse<string[]>(text.replace(/\n$/, ""), { header: false, dynamicTyping: false, newline: "\n" });
    expect(parsed.errors).toEqual([]);
    const [header, ...rows] = parsed.data;
    const expected = await printed("SELECT * FROM everything ORDER BY id");
    expect(header).toEqual(Object.keys(expected[0] ?? {}));
    expect(rows).toEqual(expected.map((row) => Object.values(row).map((value) => value ?? "")));
    // NULL vs empty string: the all-NULL row is bare commas, the empty strings are quoted.
    const lines = text.split("\n");
    expect(lines).toContain("2" + ",".repeat(header?.length ? header.length - 1 : 0));
    expect(lines.find((line) => line.startsWith("3,"))).toContain(',"",');
  });

  test("limit, offset and orderBy select the same rows as JSON", async () => {
    const response = await rawTableData({ tableName: "ties", format: "csv", orderBy: "grp", order: "desc", limit: 5, offset: 3 });
    const rows = Papa.parse<string[]>((await response.text()).trimEnd(), { newline: "\n" }).data;
    const json = await page("ties", { orderBy: "grp", order: "desc", limit: 5, offset: 3 });
    expect(rows).toEqual([["id", "grp", "label"], ...json.data.map((row) => [String(row.id), String(row.grp), String(row.label)])]);
  });

  test("without limit a download is the whole table", async () => {
    const response = await rawTableData({ tableName: "big", format: "csv" });
    const text = await response.text();
    expect(text.split("\n").length).toBe(20_000 + 2);
  });

  test("a client that goes away stops the remote query and frees the session", async () => {
    const controller = new AbortController();
    const response = await rawTableData({ tableName: "endless", format: "csv" }, controller.signal);
    expect(response.status).toBe(200);
    const reader = response.body?.getReader();
    await reader?.read();
    expect(await runningCopies()).toBe(1);
    controller.abort();
    expect(await copiesGone()).toBe(true);
    expect((await page("ties", { limit: 1 })).data).toEqual([{ id: 1, grp: 1, label: "row 1" }]);
  }, 30_000);

  test("a client that leaves before the first row cancels the query waiting on the VPS", async () => {
    const controller = new AbortController();
    const pending = rawTableData({ tableName: "slow_start" }, controller.signal).catch(() => undefined);
    for (let i = 0; i < 50 && (await runningCopies()) === 0; i++) await Bun.sleep(100);
    expect(await runningCopies()).toBe(1);
    controller.abort();
    await pending;
    expect(await copiesGone()).toBe(true);
  }, 30_000);
});

describe("schemas", () => {
  test("tables list and table data take a schema (default public)", async () => {
    const list = (schema?: string) => app.request("POST", "/get-tables-list", { userId: OWNER, body: { ...where(), schema } });
    expect((await list("sales")).body).toEqual({ status: 200, data: ["customers", "orders"], message: "Tables list fetched successfully" });
    expect((await list()).body.data).toEqual(["big", "endless", "everything", "everything_view", "explodes_at_once", "explodes_later", "heap", "slow_start", "ties"]);
    expect((await list("nope")).status).toBe(404);
    expect((await page("orders", { schema: "sales" })).data).toEqual([
      { id: 1, total: "19.99" },
      { id: 2, total: "0.10" },
    ]);
  });
});

describe("SSHClient.execStream", () => {
  const connect = async () => {
    const ssh = new SSHClient({ host: vps.ip, port: 22, username: "root", password: vps.rootPassword, connectTimeoutMs: 5_000 });
    await ssh.connect();
    return ssh;
  };

  test("streams stdout, feeds stdin, reports exit code and stderr", async () => {
    const ssh = await connect();
    try {
      const command = await ssh.execStream("cat; seq 1 100000; echo oops >&2; exit 3", { stdin: "from stdin\n", timeoutMs: 5_000 });
      const chunks: Buffer[] = [];
      for await (const chunk of command.stdout) chunks.push(chunk);
      const text = Buffer.concat(chunks).toString("utf8");
      expect(text.startsWith("from stdin\n1\n2\n")).toBe(true);
      expect(text.endsWith("99999\n100000\n")).toBe(true);
      expect(await command.result).toEqual({ exitCode: 3, stderr: "oops\n" });
    } finally {
      ssh.close();
    }
  });

  test("a consumer that stops reading stops the remote writer (backpressure)", async () => {
    const ssh = await connect();
    const flag = `/run/zsl-stream-done-${process.pid}`;
    try {
      const command = await ssh.execStream(`head -c 64000000 /dev/zero | tr '\\0' x; touch ${flag}`, { timeoutMs: 10_000 });
      const iterator = command.stdout[Symbol.asyncIterator]();
      await iterator.next();
      await Bun.sleep(1_000);
      expect((await vps.exec(`test -e ${flag}`)).exitCode).not.toBe(0);
      let bytes = 0;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) bytes += next.value.length;
      expect(bytes).toBeGreaterThan(60_000_000);
      expect((await command.result).exitCode).toBe(0);
      expect((await vps.exec(`test -e ${flag}`)).exitCode).toBe(0);
    } finally {
      ssh.close();
      await vps.exec(`rm -f ${flag}`);
    }
  }, 20_000);

  test("silence beyond the idle limit is a timeout; abort stops the command", async () => {
    const ssh = await connect();
    try {
      const silent = await ssh.execStream("sleep 5", { timeoutMs: 300 });
      await expect(silent.stdout[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(RemoteTimeoutError);
      await expect(silent.result).rejects.toBeInstanceOf(RemoteTimeoutError);

      // sshd closes a channel only once its command has exited: this one dies of SIGPIPE.
      const long = await ssh.execStream("echo started; sleep 0.2; exec yes", { timeoutMs: 60_000 });
      const iterator = long.stdout[Symbol.asyncIterator]();
      expect((await iterator.next()).value?.toString()).toBe("started\n");
      const before = Date.now();
      long.abort();
      expect(await iterator.next()).toEqual({ value: undefined, done: true });
      await expect(long.result).rejects.toBeInstanceOf(MachineUnreachableError);
      expect(Date.now() - before).toBeLessThan(5_000);
    } finally {
      ssh.close();
    }
  }, 20_000);
});

describe("keyset paging (after / nextAfter)", () => {
  const KEY_TEXTS = ["a", "a\tb", "a\nb", 'q"uote', "back\\slash", "ünï", "\\N", "", "zz"];
  beforeAll(async () => {
    await owner.query(`
      CREATE SCHEMA keyset;
      CREATE TABLE keyset.pairs (k1 text, k2 bigint, val text, PRIMARY KEY (k1, k2));
      INSERT INTO keyset.pairs SELECT t, g, t || '/' || g FROM unnest($1::text[]) t, (VALUES (-9223372036854775808), (1), (9223372036854775807)) v(g);
      CREATE VIEW keyset.leaky AS SELECT pg_catalog.set_config('zsl.leak', 'leaked', false) AS x;
      CREATE VIEW keyset.peek AS SELECT pg_catalog.current_setting('zsl.leak', true) AS v;
    `.replace("$1::text[]", `ARRAY[${KEY_TEXTS.map((t) => `'${t.replaceAll("'", "''")}'`).join(", ")}]::text[]`));
  });

  /** Follows nextAfter from the first page to the end; returns every row in order. */
  async function allByKey(tableName: string, extra: Record<string, unknown>): Promise<{ rows: Row[]; pages: Page[] }> {
    const rows: Row[] = [];
    const pages: Page[] = [];
    let after: unknown;
    for (let i = 0; i < 50; i++) {
      const next = await page(tableName, { ...extra, ...(after === undefined ? {} : { after }) });
      pages.push(next);
      rows.push(...next.data);
      after = (next as unknown as { nextAfter: unknown }).nextAfter;
      if (after === null) break;
    }
    return { rows, pages };
  }

  test("pages follow the primary key exactly, ascending and descending, with a composite text/bigint key", async () => {
    const expected = async (dir: string) =>
      (await printed(`SELECT * FROM keyset.pairs ORDER BY k1 ${dir}, k2 ${dir}`)).map((row) => asJson(row));
    const up = await allByKey("pairs", { schema: "keyset", limit: 4 });
    expect(up.rows).toEqual(await expected("ASC"));
    expect(up.pages).toHaveLength(Math.ceil((KEY_TEXTS.length * 3) / 4));
    // nextAfter is the last row's key, exactly as its cells are in data (bigint as digits).
    const first = up.pages[0] as Page & { nextAfter: unknown };
    const last = first.data[3] as Row;
    expect(first.nextAfter).toEqual([last.k1, last.k2]);
    expect(typeof last.k2).toBe("string");
    expect((up.pages.at(-1) as Page & { nextAfter: unknown }).nextAfter).toBeNull();
    const down = await allByKey("pairs", { schema: "keyset", limit: 5, order: "desc" });
    expect(down.rows).toEqual(await expected("DESC"));
  });

  test("integer keys come back as numbers and are accepted as numbers or text; CSV pages by key too", async () => {
    const first = (await page("ties", { limit: 10 })) as Page & { nextAfter: unknown };
    expect(first.nextAfter).toEqual([10]);
    const second = (await page("ties", { limit: 3, after: [10] })) as Page & { nextAfter: unknown };
    expect(second.data).toEqual([
      { id: 11, grp: 3, label: "row 11" },
      { id: 12, grp: 0, label: "row 12" },
      { id: 13, grp: 1, label: "row 13" },
    ]);
    expect(second.nextAfter).toEqual([13]);
    expect((await page("ties", { limit: 3, after: ["10"] })).data).toEqual(second.data);
    const tail = (await page("ties", { after: [50] })) as Page & { nextAfter: unknown };
    expect(tail.data.map((row) => row.id)).toEqual([51, 52, 53]);
    expect(tail).toMatchObject({ truncated: false, nextAfter: null });
    const csv = await readTable("ties", { format: "csv", limit: 2, after: [51] });
    expect(String(csv.body.raw)).toBe("id,grp,label\n52,0,row 52\n53,1,row 53\n");
    // Without a key order there is no key to hand back.
    expect((await page("ties", { limit: 2, orderBy: "grp" })).truncated).toBe(true);
    expect(((await page("ties", { limit: 2, orderBy: "grp" })) as Page & { nextAfter: unknown }).nextAfter).toBeNull();
    expect(((await page("heap", { limit: 2 })) as Page & { nextAfter: unknown }).nextAfter).toBeNull();
  });

  test("a key that does not fit the table is a 400 before any row", async () => {
    const refused = async (tableName: string, extra: Record<string, unknown>) => {
      const response = await readTable(tableName, extra);
      expect({ tableName, extra, status: response.status }).toEqual({ tableName, extra, status: 400 });
      return String(response.body.message);
    };
    expect(await refused("ties", { after: [1, 2] })).toContain("after");
    expect(await refused("ties", { after: ["one"] })).toContain("after");
    expect(await refused("ties", { after: [1.5] })).toContain("after");
    expect(await refused("pairs", { schema: "keyset", after: ["a"] })).toContain("after");
    expect(await refused("pairs", { schema: "keyset", after: ["a", "not a number"] })).toContain("after");
    expect(await refused("heap", { after: [1] })).toContain("no primary key");
    expect(await refused("ties", { after: [1], orderBy: "grp" })).toContain("orderBy");
    expect(await refused("ties", { after: [1], offset: 5 })).toContain("offset");
    expect(await refused("ties", { after: [] })).toContain("after");
    expect(await refused("ties", { after: ["a\u0000b"] })).toContain("after");
    expect(await refused("ties", { after: [{ id: 1 }] })).toContain("after");
  });

  test("consecutive reads share one kept reader session, and nothing a read leaves in it reaches the next", async () => {
    // The idle reader backend whose last statement read `relation`: there is one only if the session was kept.
    const keptReader = async (relation: string) =>
      (
        await sqlAsPostgres(
          `SELECT pid FROM pg_stat_activity WHERE usename LIKE 'zsl\\_reader\\_%' AND datname = 'browse' AND state = 'idle' AND query LIKE '%FROM ${relation}%' ORDER BY pid`,
        )
      ).trim();
    // Earlier tests may have left kept sessions on other pooled connections that also last read
    // these relations: the one that served this test's reads is among them, and it is the same one.
    const pids = async (relation: string) => (await keptReader(relation)).split("\n").filter(Boolean);
    await page("ties", { limit: 1 });
    const first = await pids("public.ties");
    expect(first.length).toBeGreaterThanOrEqual(1);
    expect((await page("leaky", { schema: "keyset" })).data).toEqual([{ x: "leaked" }]);
    expect((await page("peek", { schema: "keyset" })).data).not.toEqual([{ v: "leaked" }]);
    // Only this test reads keyset.peek: exactly one backend, one of those that served the first read.
    const kept = await keptReader("keyset.peek");
    expect(kept).toMatch(/^\d+$/);
    expect(first).toContain(kept);
    expect((await app.request("POST", "/get-tables-list", { userId: OWNER, body: { ...where(), schema: "keyset" } })).body.data).toEqual(["leaky", "pairs", "peek"]);
    expect(await pids("pg_catalog.pg_class")).toContain(kept);
  });
});
