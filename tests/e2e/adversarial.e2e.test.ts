import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createDeployedDbStore } from "../../src/metadata/deployedDbStore";
import { openMetadataDatabase } from "../../src/metadata/metadataClient";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { audit_log, deployed_db } from "../../src/metadata/schema";
import { silentLogger } from "../../src/shared/logger";
import { createSqlMachineRegistry } from "../../src/machines/machineRegistry";
import { psqlOnVps } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startTcpProxy, type TcpProxy } from "../support/tcpProxy";
import { startTestApp, TEST_SSH, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/** The service attacked the way a hostile user, a flaky network and a busy day would. */
let vps: SandboxVps;
let other: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;
let mine = 0;
let theirs = 0;
const ME = 21;
const THEM = 22;

const CANARY = "/run/zsl-canary";
const HOSTILE = [
  `a;touch ${CANARY}`,
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `a' OR '1'='1`,
  `a"; DROP DATABASE postgres; --`,
  `a\ntouch ${CANARY}`,
  `a || touch ${CANARY}`,
  `a && touch ${CANARY}`,
  `a|touch ${CANARY}`,
  `../../etc/passwd`,
  "a".repeat(64),
  "ѕhop", // Cyrillic "s"
  "shop\u200b",
  "a\u0000b",
  "",
  " shop",
  "-shop",
  "1shop",
];

const sqlOnVps = psqlOnVps;
const rowCount = async () => (await dbs.drizzleDb.select().from(deployed_db)).length;
const deployBody = (overrides: Record<string, unknown> = {}) => ({ vpsId: mine, vpsIp: vps.ip, dbName: "shop", userName: "shop_user", password: "pw", ...overrides });

beforeAll(async () => {
  await removeStaleSandboxes();
  [vps, other] = await Promise.all([startSandboxVps({ postgres: "running" }), startSandboxVps({ postgres: "running" })]);
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  mine = await dbs.addMachine({ ip: vps.ip, ownerId: ME, rootPassword: vps.rootPassword });
  theirs = await dbs.addMachine({ ip: other.ip, ownerId: THEM, rootPassword: other.rootPassword });
  app = startTestApp({ store: dbs.store, registry: dbs.registry, audit: createAuditTrail(dbs.drizzleDb, silentLogger) });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
  await vps?.stop();
  await other?.stop();
}, 60_000);

describe("hostile identifiers", () => {
  test("every identifier field of every route answers 400 and nothing runs on the machine", async () => {
    const sessionsBefore = await vps.sshSessionCount();
    for (const bad of HOSTILE) {
      const attempts = [
        () => app.request("POST", "/deploy-postgres", { userId: ME, body: deployBody({ dbName: bad }) }),
        () => app.request("POST", "/deploy-postgres", { userId: ME, body: deployBody({ userName: bad }) }),
        () => app.request("POST", "/get-tables-list", { userId: ME, body: { databaseName: bad, vpsId: mine, vpsIp: vps.ip } }),
        () => app.request("POST", "/get-tables-list", { userId: ME, body: { databaseName: "shop", vpsId: mine, vpsIp: vps.ip, username: bad } }),
        () => app.request("POST", "/get-table-data", { userId: ME, body: { databaseName: bad, vpsId: mine, vpsIp: vps.ip, tableName: "t", username: "u" } }),
        () => app.request("POST", "/get-table-data", { userId: ME, body: { databaseName: "shop", vpsId: mine, vpsIp: vps.ip, tableName: "t", username: bad } }),
      ];
      for (const attempt of attempts) {
        const response = await attempt();
        expect(response.status).toBe(400);
        expect(typeof response.body.message).toBe("string");
      }
      const deleteId = await app.request("DELETE", `/delete-db/${encodeURIComponent(bad || "x")}`, { userId: ME });
      expect([400, 404]).toContain(deleteId.status);
    }
    expect((await vps.exec(`test -e ${CANARY}`)).exitCode).not.toBe(0);
    expect(await vps.sshSessionCount()).toBe(sessionsBefore);
    expect(await rowCount()).toBe(0);
    // Table names are whatever the catalog holds (tableNames.e2e.test.ts): these are refused
    // (400) or simply not found (404), and still run nothing.
    for (const bad of HOSTILE) {
      const response = await app.request("POST", "/get-table-data", { userId: ME, body: { databaseName: "shop", vpsId: mine, vpsIp: vps.ip, tableName: bad, username: "u" } });
      expect([400, 404]).toContain(response.status);
    }
    expect((await vps.exec(`test -e ${CANARY}`)).exitCode).not.toBe(0);
  }, 60_000);
});

describe("tenancy", () => {
  test("every route tried on the other user's machine or rows is refused and changes nothing", async () => {
    const theirDeploy = await app.request("POST", "/deploy-postgres", {
      userId: THEM,
      body: { vpsId: theirs, vpsIp: other.ip, dbName: "private", userName: "private_user", password: "theirs" },
    });
    expect(theirDeploy.status).toBe(200);
    const theirRow = (await dbs.drizzleDb.select().from(deployed_db))[0];

    const attempts = [
      app.request("POST", "/deploy-postgres", { userId: ME, body: { vpsId: theirs, vpsIp: other.ip, dbName: "x", userName: "y", password: "z" } }),
      app.request("POST", "/deploy-postgres", { userId: ME, body: { vpsId: mine, vpsIp: other.ip, dbName: "x", userName: "y", password: "z" } }),
      app.request("POST", "/get-tables-list", { userId: ME, body: { databaseName: "private", vpsId: theirs, vpsIp: other.ip } }),
      app.request("POST", "/get-table-data", { userId: ME, body: { databaseName: "private", vpsId: theirs, vpsIp: other.ip, tableName: "t", username: "u" } }),
      app.request("DELETE", `/delete-db/${theirRow?.id}`, { userId: ME }),
    ];
    const statuses = (await Promise.all(attempts)).map((r) => r.status);
    expect(statuses).toEqual([403, 403, 403, 404, 404]);
    const mineList = await app.request("GET", "/get-db", { userId: ME });
    expect(mineList.body.data).toEqual([]);
    expect(await rowCount()).toBe(1);
    expect(await sqlOnVps(other, "SELECT count(*) FROM pg_database WHERE datname = 'private'")).toBe("1");
    expect(await sqlOnVps(other, "SELECT count(*) FROM pg_roles WHERE rolname = 'y'")).toBe("0");
    const refused = (await dbs.drizzleDb.select().from(audit_log)).filter((entry) => entry.userId === ME && entry.outcome === "refused");
    expect(refused.map((entry) => entry.action).sort()).toEqual(["delete", "deploy", "deploy", "list-tables", "read-table"]);
  }, 60_000);
});

describe("races", () => {
  test("eight identical deploys at once: one 200, seven 400, one row, one database", async () => {
    const responses = await Promise.all(Array.from({ length: 8 }, (_, i) => app.request("POST", "/deploy-postgres", { userId: ME, body: deployBody({ password: `pw-${i}` }) })));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 400, 400, 400, 400, 400, 400, 400]);
    expect((await dbs.drizzleDb.select().from(deployed_db)).filter((r) => r.dbName === "shop")).toHaveLength(1);
    expect(await sqlOnVps(vps, "SELECT count(*) FROM pg_database WHERE datname = 'shop'")).toBe("1");
  }, 60_000);

  test("five distinct deploys at once on one machine: all succeed, one pg_hba rule", async () => {
    const responses = await Promise.all(Array.from({ length: 5 }, (_, i) => app.request("POST", "/deploy-postgres", { userId: ME, body: deployBody({ dbName: `multi_${i}`, userName: `multi_${i}_u` }) })));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const hba = await sqlOnVps(vps, "SHOW hba_file");
    const rules = (await vps.exec(`grep -cE '^host[[:space:]]+all[[:space:]]+all[[:space:]]+0\\.0\\.0\\.0/0[[:space:]]+scram-sha-256' ${hba}`)).stdout.trim();
    expect(rules).toBe("1");
  }, 90_000);
});

describe("faults", () => {
  test("a machine whose sshd hangs answers 5xx within the connect timeout and writes no row", async () => {
    const impatient = startTestApp({ store: dbs.store, registry: dbs.registry, ssh: { ...TEST_SSH, connectTimeoutMs: 1_500 } });
    const frozen = await dbs.addMachine({ ip: other.ip, ownerId: ME, rootPassword: other.rootPassword });
    await other.exec(`kill -STOP "$(cat /run/zsl-sandbox/sshd.pid)"`);
    try {
      const started = Date.now();
      const response = await impatient.request("POST", "/deploy-postgres", { userId: ME, body: { vpsId: frozen, vpsIp: other.ip, dbName: "hung", userName: "hung_u", password: "x" } });
      expect(response.status).toBeGreaterThanOrEqual(500);
      expect(Date.now() - started).toBeLessThan(4_000);
      expect((await dbs.drizzleDb.select().from(deployed_db)).some((r) => r.dbName === "hung")).toBe(false);
    } finally {
      await other.exec(`kill -CONT "$(cat /run/zsl-sandbox/sshd.pid)"`);
      await impatient.stop();
    }
  }, 30_000);

  test("metadata database cut mid-run: quick 5xx/503, /health answers, full recovery without a restart", async () => {
    const proxy: TcpProxy = await startTcpProxy("127.0.0.1", Number(new URL(dbs.metadata.url).port || 5432));
    const url = new URL(dbs.metadata.url);
    url.port = String(proxy.port);
    const metadata = openMetadataDatabase(url.toString(), { max: 4 });
    const flaky = startTestApp({ store: createDeployedDbStore(metadata.db), registry: createSqlMachineRegistry(dbs.registryDb.pool) });
    try {
      expect((await flaky.request("GET", "/get-db", { userId: ME })).status).toBe(200);
      proxy.cut();
      const started = Date.now();
      const down = await flaky.request("GET", "/get-db", { userId: ME });
      expect(down.status).toBe(503);
      // Within the metadata client's connect timeout (5 s; Bun 1.4 waits it out on a refused reconnect).
      expect(Date.now() - started).toBeLessThan(8_000);
      const deploy = await flaky.request("POST", "/deploy-postgres", { userId: ME, body: deployBody({ dbName: "during_outage" }) });
      expect(deploy.status).toBe(503);
      expect((await flaky.request("GET", "/health")).status).toBe(200);
      expect((await flaky.request("GET", "/health/ready")).status).toBe(503);
      proxy.restore();
      let recovered = 0;
      for (let i = 0; i < 30 && recovered !== 200; i++) {
        recovered = (await flaky.request("GET", "/get-db", { userId: ME })).status;
        if (recovered !== 200) await Bun.sleep(100);
      }
      expect(recovered).toBe(200);
      expect(await sqlOnVps(vps, "SELECT count(*) FROM pg_roles WHERE rolname = 'shop_user'")).toBe("1");
      expect(await sqlOnVps(vps, "SELECT count(*) FROM pg_database WHERE datname = 'during_outage'")).toBe("0");
    } finally {
      await flaky.stop();
      await metadata.close().catch(() => undefined);
      proxy.stop();
    }
  }, 60_000);
});

describe("cross-site requests", () => {
  test("forms and foreign origins carrying the user's cookie never reach the machine; a foreign delete keeps the row", async () => {
    const post = (headers: Record<string, string>, body: string | FormData) =>
      fetch(`${app.baseUrl}/deploy-postgres`, { method: "POST", headers: { cookie: `accessToken=${tokenFor(ME)}`, ...headers }, body });
    const fields = { vpsId: String(mine), vpsIp: vps.ip, dbName: "xsite", userName: "xsite_user", password: "pw" };
    const multipart = new FormData();
    for (const [name, value] of Object.entries(fields)) multipart.append(name, value);
    const sessionsBefore = await vps.sshSessionCount();
    const responses = await Promise.all([
      post({ "content-type": "application/x-www-form-urlencoded" }, new URLSearchParams(fields).toString()),
      post({}, multipart),
      post({ "content-type": "text/plain" }, JSON.stringify(fields)),
      post({ "content-type": "application/json", origin: "https://evil.example" }, JSON.stringify(fields)),
    ]);
    expect(responses.map((response) => response.status)).toEqual([415, 415, 415, 403]);
    expect(await vps.sshSessionCount()).toBeLessThanOrEqual(sessionsBefore);
    expect(await sqlOnVps(vps, "SELECT count(*) FROM pg_database WHERE datname = 'xsite'")).toBe("0");
    expect((await dbs.drizzleDb.select().from(deployed_db)).filter((row) => row.dbName === "xsite")).toEqual([]);

    const theirRow = (await dbs.drizzleDb.select().from(deployed_db)).find((row) => row.userId === THEM);
    expect(theirRow).toBeDefined();
    const foreignDelete = await fetch(`${app.baseUrl}/delete-db/${theirRow?.id}`, { method: "DELETE", headers: { cookie: `accessToken=${tokenFor(THEM)}`, origin: "https://evil.example" } });
    expect(foreignDelete.status).toBe(403);
    expect((await dbs.drizzleDb.select().from(deployed_db)).some((row) => row.id === theirRow?.id)).toBe(true);
    expect(await sqlOnVps(other, `SELECT count(*) FROM pg_database WHERE datname = '${theirRow?.dbName}'`)).toBe("1");
  }, 60_000);
});

describe("bodies", () => {
  test("malformed, mistyped, incomplete or oversized bodies are 400/413, never 500", async () => {
    const cases: Array<[string, number]> = [
      ["{", 400],
      ["[]", 400],
      ["null", 400],
      ['{"vpsId": {"$gt": 0}}', 400],
      [JSON.stringify({ ...deployBody(), vpsId: [1] }), 400],
      [JSON.stringify({ ...deployBody(), password: 5 }), 400],
      [JSON.stringify({ ...deployBody(), dbName: null }), 400],
      [JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }), 413],
    ];
    for (const [rawBody, status] of cases) {
      const response = await app.request("POST", "/deploy-postgres", { userId: ME, rawBody });
      expect(response.status).toBe(status);
      expect(typeof response.body.message).toBe("string");
    }
    const extra = await app.request("POST", "/get-tables-list", { userId: ME, body: { databaseName: "shop", vpsId: mine, vpsIp: vps.ip, extra: "ignored", isAdmin: true } });
    expect(extra.status).toBe(200);
  }, 30_000);
});

describe("deploy onto what already exists on the machine", () => {
  const passwordOf = (role: string) => sqlOnVps(vps, `SELECT coalesce(rolpassword, 'none') FROM pg_authid WHERE rolname = '${role}'`);
  const attempt = (dbName: string, userName: string) =>
    app.request("POST", "/deploy-postgres", { userId: ME, body: deployBody({ dbName, userName, password: "chosen-by-a-cross-site-form" }) });
  const hbaFile = () => sqlOnVps(vps, "SHOW hba_file");

  test("an existing role with administrative privileges is refused with 409 and keeps its password", async () => {
    await sqlOnVps(vps, "CREATE ROLE zsl_admins SUPERUSER NOLOGIN");
    const privileged: Array<[string, string]> = [
      ["priv_super", "SUPERUSER"],
      ["priv_createrole", "CREATEROLE"],
      ["priv_createdb", "CREATEDB"],
      ["priv_replication", "REPLICATION"],
      ["priv_bypassrls", "BYPASSRLS"],
      ["priv_program", "IN ROLE pg_execute_server_program"],
      ["priv_member", "IN ROLE zsl_admins"],
    ];
    const hbaBefore = (await vps.exec(`cat ${await hbaFile()}`)).stdout;
    for (const [role, attributes] of privileged) {
      await sqlOnVps(vps, `CREATE ROLE ${role} LOGIN PASSWORD 'owner-chose-this' ${attributes}`);
      const before = await passwordOf(role);
      const rowsBefore = await rowCount();
      const response = await attempt(`${role}_db`, role);
      expect(response.status).toBe(409);
      expect(String(response.body.message)).toBe(
        `Role ${role} already exists on the machine with administrative privileges (superuser, create role or database, replication, bypass RLS, or membership in such a role); nothing was changed, choose another user name`,
      );
      expect(await passwordOf(role)).toBe(before);
      expect(await sqlOnVps(vps, `SELECT count(*) FROM pg_database WHERE datname = '${role}_db'`)).toBe("0");
      expect(await rowCount()).toBe(rowsBefore);
    }
    expect((await vps.exec(`cat ${await hbaFile()}`)).stdout).toBe(hbaBefore);
    const audited = (await dbs.drizzleDb.select().from(audit_log)).filter((entry) => entry.dbName === "priv_super_db");
    expect(audited.map((entry) => [entry.outcome, entry.detail])).toEqual([["refused", "deploy-refused"]]);
  }, 90_000);

  test("a role the service did not create for the caller's databases there is refused, untouched", async () => {
    await sqlOnVps(vps, "CREATE ROLE by_hand NOLOGIN");
    const response = await attempt("by_hand_db", "by_hand");
    expect(response.status).toBe(409);
    expect(String(response.body.message)).toBe(
      "Role by_hand already exists on the machine and was not created by this service for your databases there; nothing was changed, choose another user name",
    );
    expect(await sqlOnVps(vps, "SELECT rolcanlogin::text || ' ' || coalesce(rolpassword, 'none') FROM pg_authid WHERE rolname = 'by_hand'")).toBe("false none");
    expect(await sqlOnVps(vps, "SELECT count(*) FROM pg_database WHERE datname = 'by_hand_db'")).toBe("0");
    expect((await dbs.drizzleDb.select().from(deployed_db)).some((row) => row.username === "by_hand")).toBe(false);
  }, 30_000);

  test("a database the service did not create is refused (409), never recorded, owner and grants untouched", async () => {
    await sqlOnVps(vps, "CREATE DATABASE made_by_hand");
    const aclBefore = await sqlOnVps(vps, "SELECT pg_get_userbyid(datdba) || ' ' || coalesce(datacl::text, 'default') FROM pg_database WHERE datname = 'made_by_hand'");
    const response = await attempt("made_by_hand", "fresh_owner");
    expect(response.status).toBe(409);
    expect(String(response.body.message)).toBe("Database made_by_hand already exists on the machine and was not created by this service; nothing was changed");
    expect(await sqlOnVps(vps, "SELECT pg_get_userbyid(datdba) || ' ' || coalesce(datacl::text, 'default') FROM pg_database WHERE datname = 'made_by_hand'")).toBe(aclBefore);
    expect(await sqlOnVps(vps, "SELECT count(*) FROM pg_roles WHERE rolname = 'fresh_owner'")).toBe("0");
    expect((await dbs.drizzleDb.select().from(deployed_db)).some((row) => row.dbName === "made_by_hand")).toBe(false);

    // Not even with a role of the caller's own: the existing database stays someone else's.
    const own = await attempt("own_first", "own_user");
    expect(own.status).toBe(200);
    const before = await passwordOf("own_user");
    expect((await attempt("made_by_hand", "own_user")).status).toBe(409);
    expect(await passwordOf("own_user")).toBe(before);
    expect(await sqlOnVps(vps, "SELECT pg_get_userbyid(datdba) || ' ' || coalesce(datacl::text, 'default') FROM pg_database WHERE datname = 'made_by_hand'")).toBe(aclBefore);
  }, 60_000);

  test("a role the service created for another of the caller's databases there is still reused, with the new password", async () => {
    const second = await app.request("POST", "/deploy-postgres", { userId: ME, body: deployBody({ dbName: "own_second", userName: "own_user", password: "new-shared-password" }) });
    expect(second.status).toBe(200);
    const ownRows = (await app.request("GET", "/get-db", { userId: ME })).body.data as Array<Record<string, unknown>>;
    expect(ownRows.filter((row) => row.username === "own_user").map((row) => row.password)).toEqual(["new-shared-password", "new-shared-password"]);
  }, 30_000);
});
