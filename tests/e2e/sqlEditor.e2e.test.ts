import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { createSqlConnectionPool } from "../../src/engines/postgres/sqlConnections";
import { createSshPool, DEFAULT_POOL_SETTINGS } from "../../src/ssh/sshPool";
import { audit_log } from "../../src/metadata/schema";
import { psqlOnVps } from "../support/remoteDb";
import { captureLogger, startTestApp, TEST_SSH, type RunningTestApp } from "../support/testApp";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/**
 * POST /run-query against a sandbox VPS: SQL runs as the database's own role through an
 * SSH-forwarded pg session. Oracles are PostgreSQL itself, asked as postgres on the VPS.
 */
const OWNER = 21;
const OTHER = 22;
const PASSWORD = "editor-pw-1";

let quickApp: RunningTestApp;
const logs = captureLogger();

type Answer = { status: number; body: Record<string, unknown> };
const where = () => ({ databaseName: "editor", vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, username: "editor_user" });
const run = (query: string, extra: Record<string, unknown> = {}, target = sandbox.app, userId = OWNER): Promise<Answer> =>
  target.request("POST", "/run-query", { userId, body: { ...where(), query, ...extra } });
const ok = async (query: string, extra: Record<string, unknown> = {}, target = sandbox.app) => {
  const answer = await run(query, extra, target);
  if (answer.status !== 200) throw new Error(`expected 200, got ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body as {
    rows: Array<Record<string, unknown>>;
    columns: Array<{ name: string; type: string }>;
    command: string;
    rowCount: number;
    executionTime: string;
    truncated: boolean;
    results: Array<{ rows: unknown[]; command: string; rowCount: number; columns: unknown[]; executionTime: string }>;
  };
};
const asPostgres = (sql: string, db = "editor") => psqlOnVps({ exec: (command) => sandbox.vps.exec(command.replace("psql -X", `psql -X -d ${db}`)) }, sql);
const sleepers = async () => Number(await asPostgres("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3%' AND pid <> pg_backend_pid()"));

const sandbox = sandboxService({ vps: { postgres: "running" }, ownerId: OWNER, app: (dbs) => ({ audit: createAuditTrail(dbs.drizzleDb, logs), logger: logs }) });

beforeAll(async () => {
  quickApp = startTestApp({ store: sandbox.dbs.store, registry: sandbox.dbs.registry, query: { statementTimeoutMs: 1_000, maxRows: 5 } });
  for (const [dbName, userName] of [
    ["editor", "editor_user"],
    ["MixedCase", "mixed_user"],
  ]) {
    const deployed = await sandbox.app.request("POST", "/deploy-postgres", { userId: OWNER, body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName, userName, password: PASSWORD, dbType: "postgres" } });
    expect(deployed.status).toBe(200);
  }
}, 180_000);

afterAll(async () => {
  await quickApp?.stop();
}, 60_000);

describe("results", () => {
  test("a SELECT: typed cells, distinct repeated column names, type names, command and time", async () => {
    const answer = await ok("SELECT 1 AS n, 'a', 'b', true AS yes, NULL::text AS nothing, ''::text AS empty, 9007199254740993::int8 AS big, 12.50::numeric AS num, 1.5::float8 AS f, 'NaN'::float4 AS nan, '{\"a\": 1}'::jsonb AS j, 'x'::varchar(5) AS v");
    expect(answer.rows).toEqual([{ n: 1, "?column?": "a", "?column?_2": "b", yes: true, nothing: null, empty: "", big: "9007199254740993", num: "12.50", f: 1.5, nan: "NaN", j: '{"a": 1}', v: "x" }]);
    expect(answer.columns.map((c) => c.type)).toEqual(["integer", "text", "text", "boolean", "text", "text", "bigint", "numeric", "double precision", "real", "jsonb", "character varying(5)"]);
    expect(answer.command).toBe("SELECT");
    expect(answer.rowCount).toBe(1);
    expect(answer.executionTime).toMatch(/^\d+ ms$/);
    expect(answer.truncated).toBe(false);
    expect(answer.results).toHaveLength(1);
  });

  test("DDL and DML in one text: one result per statement, affected counts from the tags, the last one on top", async () => {
    const answer = await ok(`
      CREATE TABLE items (id integer PRIMARY KEY, label text);
      INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, NULL);
      UPDATE items SET label = 'none' WHERE label IS NULL;
      DELETE FROM items WHERE id = 1;
      -- a comment, then the rows
      SELECT * FROM items ORDER BY id;`);
    expect(answer.results.map((r) => [r.command, r.rowCount])).toEqual([
      ["CREATE TABLE", 0],
      ["INSERT", 3],
      ["UPDATE", 1],
      ["DELETE", 1],
      ["SELECT", 2],
    ]);
    expect(answer.rows).toEqual([
      { id: 2, label: "two" },
      { id: 3, label: "none" },
    ]);
    expect(await asPostgres("SELECT count(*) FROM items")).toBe("2");
  });

  test("a SELECT with no rows keeps its columns; a text of only comments is an empty success", async () => {
    const empty = await ok("SELECT id, label FROM items WHERE false");
    expect(empty.rows).toEqual([]);
    expect(empty.columns).toEqual([
      { name: "id", type: "integer" },
      { name: "label", type: "text" },
    ]);
    const nothing = await ok("-- nothing here\n");
    expect(nothing.results).toEqual([]);
  });

  test("more rows than the cap: the first ones, truncated, the true count; the statement still completed", async () => {
    const answer = await ok("SELECT g FROM generate_series(1, 25000) g");
    expect(answer.rows).toHaveLength(10_000);
    expect(answer.rows[9_999]).toEqual({ g: 10_000 });
    expect(answer.truncated).toBe(true);
    expect(answer.rowCount).toBe(25_000);
    const capped = await ok("CREATE TABLE capped AS SELECT g FROM generate_series(1, 20) g; SELECT * FROM capped", {}, quickApp);
    expect(capped.rows).toHaveLength(5);
    expect(await asPostgres("SELECT count(*) FROM capped")).toBe("20");
  });
});

describe("errors and sessions", () => {
  test("a syntax error: 400 with PostgreSQL's message, SQLSTATE, position in the whole text and the statement's index", async () => {
    const answer = await run("SELECT 1; SELEC 2");
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ message: 'syntax error at or near "SELEC"', code: "42601", position: 11, statement: 2 });
  });

  test("a failure stops the text there; the text was one transaction, so earlier statements are undone", async () => {
    const answer = await run("CREATE TABLE before_error (a int); SELECT 1/0; CREATE TABLE after_error (a int)");
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ code: "22012", statement: 2, message: "division by zero" });
    expect(await asPostgres("SELECT to_regclass('before_error') IS NULL AND to_regclass('after_error') IS NULL")).toBe("t");
  });

  test("a BEGIN left open is rolled back; settings do not leak into the next run", async () => {
    await ok("BEGIN; CREATE TABLE left_open (a int); SET search_path = nowhere");
    await ok("SET application_name = 'changed'; SET statement_timeout = 0");
    const after = await ok("SELECT to_regclass('public.left_open') IS NULL AS gone, current_setting('search_path') AS path, current_setting('statement_timeout') AS timeout");
    expect(after.rows).toEqual([{ gone: true, path: '"$user", public', timeout: "30s" }]);
  });

  test("statement_timeout: 504, also when the SQL switched the timeout off for its session", async () => {
    const started = Date.now();
    const first = await run("SELECT pg_sleep(30)", {}, quickApp);
    expect(first.status).toBe(504);
    const second = await run("SET statement_timeout = 0; SELECT pg_sleep(31)", {}, quickApp);
    expect(second.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(20_000);
    for (let i = 0; i < 50 && (await sleepers()) > 0; i++) await Bun.sleep(100);
    expect(await sleepers()).toBe(0);
  });

  test("a client that goes away cancels its query on the server", async () => {
    const controller = new AbortController();
    const pending = fetch(`${sandbox.app.baseUrl}/run-query`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokenFor(OWNER)}`, "content-type": "application/json" },
      body: JSON.stringify({ ...where(), query: "SELECT pg_sleep(32)" }),
      signal: controller.signal,
    }).catch(() => undefined);
    for (let i = 0; i < 50 && (await sleepers()) === 0; i++) await Bun.sleep(100);
    expect(await sleepers()).toBe(1);
    controller.abort();
    await pending;
    for (let i = 0; i < 50 && (await sleepers()) > 0; i++) await Bun.sleep(100);
    expect(await sleepers()).toBe(0);
  });

  test("the query text never reaches the logs; the audit trail records the run without it", async () => {
    const marker = "secret_marker_4711";
    await ok(`SELECT '${marker}' AS m`);
    await run(`SELECT '${marker}' + `);
    expect(JSON.stringify(logs.lines)).not.toContain(marker);
    const audited = (await sandbox.dbs.drizzleDb.select().from(audit_log)).filter((entry) => entry.action === "run-query");
    expect(audited.length).toBeGreaterThan(0);
    expect(JSON.stringify(audited)).not.toContain(marker);
    expect(audited.some((entry) => entry.outcome === "success" && /statement/.test(entry.detail ?? ""))).toBe(true);
  });
});

describe("no superuser, no OS", () => {
  test("the SQL runs as the database's recorded role, which is no superuser and cannot become one", async () => {
    const who = await ok("SELECT current_user AS u, session_user AS s, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su");
    expect(who.rows).toEqual([{ u: "editor_user", s: "editor_user", su: false }]);
    expect((await ok("RESET ROLE; SELECT current_user AS u")).rows).toEqual([{ u: "editor_user" }]);
    for (const attempt of ["ALTER ROLE editor_user SUPERUSER", "SET SESSION AUTHORIZATION postgres", "SET ROLE postgres", "ALTER ROLE postgres PASSWORD 'x'"]) {
      const answer = await run(attempt);
      expect(answer.status).toBe(400);
      expect(answer.body.code).toBe("42501");
    }
    expect(await asPostgres("SELECT rolsuper FROM pg_roles WHERE rolname = 'editor_user'")).toBe("f");
  });

  test("COPY ... TO PROGRAM, psql's \\! and shell syntax are refused or plain SQL errors; no canary appears", async () => {
    const attempts = [
      "COPY (SELECT 1) TO PROGRAM 'touch /tmp/zsl_canary_1'",
      "COPY (SELECT 1) TO '/tmp/zsl_canary_2'",
      "\\! touch /tmp/zsl_canary_3",
      "$(touch /tmp/zsl_canary_4)",
      "SELECT 1`touch /tmp/zsl_canary_5`",
      "CREATE EXTENSION IF NOT EXISTS file_fdw",
      "SELECT pg_read_file('/etc/shadow')",
    ];
    for (const attempt of attempts) {
      const answer = await run(attempt);
      expect(answer.status).toBe(400);
      expect(typeof answer.body.code).toBe("string");
    }
    expect((await sandbox.vps.exec("ls /tmp | grep -c zsl_canary || true")).stdout.trim()).toBe("0");
  });

  test("COPY FROM STDIN fails cleanly and the session stays usable", async () => {
    const answer = await run("COPY items FROM STDIN");
    expect(answer.status).toBe(400);
    expect((await ok("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
  });
});

describe("which database", () => {
  test("the portal's lower-cased name reaches the database recorded as MixedCase, as its own role", async () => {
    const answer = await ok("SELECT current_database() AS db, current_user AS u", { databaseName: "mixedcase", username: "mixed_user" });
    expect(answer.rows).toEqual([{ db: "MixedCase", u: "mixed_user" }]);
  });

  test("two recorded names differing only in case are ambiguous: 400 naming both", async () => {
    for (const dbName of ["Twin", "TWIN"]) {
      const row = await sandbox.dbs.store.insertDeploying({ dbName, username: "twin_user", password: "x", host: sandbox.vps.ip, dbType: "postgres", vpsId: sandbox.machineId, userId: OWNER });
      await sandbox.dbs.store.markRunning(row.id);
    }
    const answer = await run("SELECT 1", { databaseName: "twin" });
    expect(answer.status).toBe(400);
    expect(answer.body.message).toContain("Twin");
    expect(answer.body.message).toContain("TWIN");
  });

  test("tenancy: another user's machine is 403, the same address as their own machine finds none of the owner's databases", async () => {
    expect((await run("SELECT 1", {}, sandbox.app, OTHER)).status).toBe(403);
    const theirs = await sandbox.dbs.addMachine({ ip: sandbox.vps.ip, ownerId: OTHER, rootPassword: sandbox.vps.rootPassword });
    const answer = await run("SELECT 1", { vpsId: theirs }, sandbox.app, OTHER);
    expect(answer.status).toBe(404);
    expect((await run("SELECT 1", { databaseName: "nosuchdb" })).status).toBe(404);
  });

  test("request checks: blank text, NUL, a bad name are 400 before any connection", async () => {
    expect((await run("   ")).status).toBe(400);
    expect((await run("SELECT 1\u0000")).status).toBe(400);
    expect((await run("SELECT 1", { databaseName: "x; rm -rf /" })).status).toBe(400);
  });
});

describe("session pool", () => {
  test("idle sessions are capped per machine: each holds an SSH lease others may need", async () => {
    const leases = createSshPool({ ...DEFAULT_POOL_SETTINGS, connectTimeoutMs: 5_000, idleTimeoutMs: 5_000 });
    const pool = createSqlConnectionPool({ leases, ssh: TEST_SSH, connectTimeoutMs: 5_000, statementTimeoutMs: 5_000, idleMs: 30_000, maxIdlePerKey: 2, maxIdlePerMachine: 1 });
    const target = { machineId: sandbox.machineId, host: sandbox.vps.ip, port: 22, username: "root", password: sandbox.vps.rootPassword };
    try {
      const editor = await pool.acquire(target, { dbName: "editor", role: "editor_user", password: PASSWORD });
      const mixed = await pool.acquire(target, { dbName: "MixedCase", role: "mixed_user", password: PASSWORD });
      expect((await editor.client.query("SELECT current_user AS u")).rows).toEqual([{ u: "editor_user" }]);
      expect(pool.liveCount()).toBe(2);
      await pool.release(editor);
      await pool.release(mixed);
      expect(pool.liveCount()).toBe(1);
      // The idle one is reused, not a new login.
      const again = await pool.acquire(target, { dbName: "editor", role: "editor_user", password: PASSWORD });
      expect(again).toBe(editor);
      await pool.release(again);
    } finally {
      await pool.closeAll();
      await leases.closeAll();
    }
  });
});
