import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { backupServiceFor } from "../../src/app";
import { createAuditTrail } from "../../src/metadata/auditTrail";
import { createBackupStore, type BackupStore } from "../../src/metadata/backupStore";
import { audit_log } from "../../src/metadata/schema";
import { silentLogger } from "../../src/shared/logger";
import { createSshPool, DEFAULT_POOL_SETTINGS } from "../../src/ssh/sshPool";
import { connectAs } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startServiceProcess } from "../support/serviceProcess";
import { startTestApp, TEST_SSH, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/**
 * Backups against a sandbox VPS: pg_dump into /var/backups/zyotra on the machine, listed,
 * downloaded (checksum), restored into a new database whose data equals the original's.
 */
const OWNER = 31;
const OTHER = 32;
const PASSWORD = "vault-pw-1";

let vps: SandboxVps;
let dbs: TestDatabases;
let backups: BackupStore;
let app: RunningTestApp;
let keepTwo: RunningTestApp;
let background: RunningTestApp;
let machineId = 0;
const databaseIds: Record<string, number> = {};

interface BackupSummary {
  id: number;
  databaseId: number;
  fileName: string;
  sizeBytes: number | null;
  sha256: string | null;
  status: string;
}

const take = (dbName: string, target = app, userId = OWNER) =>
  target.request("POST", "/backup-postgres-db", { userId, body: { vpsId: machineId, vpsIp: vps.ip, dbName, userName: `${dbName}_user` } });
const list = async (databaseId: number, userId = OWNER) => {
  const answer = await app.request("GET", `/backups?databaseId=${databaseId}`, { userId });
  expect(answer.status).toBe(200);
  return answer.body.data as Array<BackupSummary & { error: string | null }>;
};
const onVps = async (command: string) => (await vps.exec(command)).stdout.trim();
const fingerprint = async (dbName: string) => {
  const client = await connectAs(vps.ip, "vault_user", PASSWORD, dbName);
  try {
    const { rows } = await client.query<{ digest: string; owner: string }>(
      "SELECT md5(string_agg(i::text, ',' ORDER BY id)) AS digest, (SELECT tableowner FROM pg_tables WHERE tablename = 'items') AS owner FROM items i",
    );
    return rows[0];
  } finally {
    await client.end();
  }
};

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  backups = createBackupStore(dbs.drizzleDb);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword });
  const audit = createAuditTrail(dbs.drizzleDb, silentLogger);
  const common = { store: dbs.store, registry: dbs.registry, audit, backups };
  app = startTestApp(common);
  keepTwo = startTestApp({ ...common, backupConfig: { retention: 2, answerWithinMs: 60_000, dumpTimeoutMs: 120_000 } });
  background = startTestApp({ ...common, backupConfig: { retention: 7, answerWithinMs: 0, dumpTimeoutMs: 120_000 } });
  for (const dbName of ["vault", "keep", "broken"]) {
    const deployed = await app.request("POST", "/deploy-postgres", { userId: OWNER, body: { vpsId: machineId, vpsIp: vps.ip, dbName, userName: dbName === "vault" ? "vault_user" : `${dbName}_user`, password: PASSWORD, dbType: "postgres" } });
    expect(deployed.status).toBe(200);
    databaseIds[dbName] = deployed.body.id as number;
  }
  const client = await connectAs(vps.ip, "vault_user", PASSWORD, "vault");
  await client.query(`
    CREATE TABLE items (id integer PRIMARY KEY, label text, price numeric(10,2), tags text[], meta jsonb, at timestamptz);
    INSERT INTO items SELECT g, 'item ' || g || E' \\t ''q''', g * 1.25, ARRAY['a', g::text], jsonb_build_object('g', g), '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 5000) g;
    CREATE VIEW cheap AS SELECT * FROM items WHERE price < 10;`);
  await client.end();
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await keepTwo?.stop();
  await background?.stop();
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("backup, list, download, restore", () => {
  let backup: BackupSummary;

  test("POST /backup-postgres-db with the portal's body: a custom-format dump, 0600 in a 0700 directory, size and checksum recorded", async () => {
    const answer = await take("vault");
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe(200);
    backup = answer.body.backup as BackupSummary;
    expect(answer.body.message).toMatch(/^Backup created: vault-\d{8}T\d{6}\.\d{3}Z\.dump, \d+(\.\d)? (bytes|KiB|MiB)$/);
    expect(backup).toMatchObject({ databaseId: databaseIds.vault, status: "done" });
    const path = `/var/backups/zyotra/postgres/vault/${backup.fileName}`;
    expect(await onVps(`stat -c '%a %U' ${path} /var/backups/zyotra/postgres/vault /var/backups/zyotra`)).toBe("600 root\n700 root\n700 root");
    expect(await onVps(`sha256sum ${path} | cut -d' ' -f1`)).toBe(backup.sha256 ?? "");
    expect(Number(await onVps(`stat -c %s ${path}`))).toBe(backup.sizeBytes ?? -1);
    expect(await onVps(`head -c 5 ${path}`)).toBe("PGDMP");
    expect(await onVps("ls -A /var/backups/zyotra/postgres/vault | grep -c partial || true")).toBe("0");
  });

  test("the databaseName/username field names of the original are accepted too; the list is newest first", async () => {
    const answer = await app.request("POST", "/backup-postgres-db", { userId: OWNER, body: { vpsId: String(machineId), vpsIp: vps.ip, databaseName: "vault", username: "vault_user" } });
    expect(answer.status).toBe(200);
    const rows = await list(databaseIds.vault ?? 0);
    expect(rows.map((row) => row.id)).toEqual([(answer.body.backup as BackupSummary).id, backup.id]);
    expect(rows.every((row) => row.status === "done")).toBe(true);
  });

  test("download: streamed with its name, exactly the file (checksum)", async () => {
    const response = await fetch(`${app.baseUrl}/backups/${backup.id}/download`, { headers: { authorization: `Bearer ${tokenFor(OWNER)}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toBe(`attachment; filename="${backup.fileName}"`);
    expect(response.headers.get("x-backup-sha256")).toBe(backup.sha256);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.length).toBe(backup.sizeBytes ?? -1);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(backup.sha256 ?? "");
  });

  test("a file changed on the machine is never served: 409 before any byte", async () => {
    const second = (await take("vault")).body.backup as BackupSummary;
    await onVps(`printf x >> /var/backups/zyotra/postgres/vault/${second.fileName}`);
    const response = await app.request("GET", `/backups/${second.id}/download`, { userId: OWNER });
    expect(response.status).toBe(409);
    expect(response.body.message).toContain("checksum");
    expect((await app.request("DELETE", `/backups/${second.id}`, { userId: OWNER })).status).toBe(200);
  });

  test("restore: a new database owned by the same role, recorded like a deploy, with the original's data", async () => {
    const answer = await app.request("POST", `/backups/${backup.id}/restore`, { userId: OWNER, body: {} });
    expect(answer.status).toBe(200);
    const restoredName = answer.body.dbName as string;
    expect(restoredName).toMatch(/^vault_restored_\d{14}$/);
    expect(await fingerprint(restoredName)).toEqual(await fingerprint("vault"));
    expect((await fingerprint(restoredName))?.owner).toBe("vault_user");
    const rows = (await app.request("GET", "/get-db", { userId: OWNER })).body.data as Array<{ id: number; dbName: string; status: string; username: string }>;
    expect(rows.find((row) => row.id === answer.body.id)).toMatchObject({ dbName: restoredName, status: "running", username: "vault_user" });

    const named = await app.request("POST", `/backups/${backup.id}/restore`, { userId: OWNER, body: { dbName: "vault_copy" } });
    expect(named.status).toBe(200);
    expect(await fingerprint("vault_copy")).toEqual(await fingerprint("vault"));
    // The name is taken now: refused, nothing recorded twice.
    expect((await app.request("POST", `/backups/${backup.id}/restore`, { userId: OWNER, body: { dbName: "vault_copy" } })).status).toBe(400);
  });

  test("tenancy: another user sees none of it and can touch none of it", async () => {
    expect(await list(databaseIds.vault ?? 0, OTHER)).toEqual([]);
    expect((await app.request("GET", `/backups/${backup.id}/download`, { userId: OTHER })).status).toBe(404);
    expect((await app.request("POST", `/backups/${backup.id}/restore`, { userId: OTHER, body: {} })).status).toBe(404);
    expect((await app.request("DELETE", `/backups/${backup.id}`, { userId: OTHER })).status).toBe(404);
    expect((await take("vault", app, OTHER)).status).toBe(403);
    const refused = (await dbs.drizzleDb.select().from(audit_log)).filter((entry) => entry.userId === OTHER && entry.action === "backup");
    expect(refused.map((entry) => entry.outcome)).toEqual(["refused"]);
  });
});

describe("retention, failures, background, delete", () => {
  test("retention keeps the newest N per database, files and records", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = await take("keep", keepTwo);
      expect(answer.status).toBe(200);
      ids.push((answer.body.backup as BackupSummary).id);
    }
    expect((await list(databaseIds.keep ?? 0)).map((row) => row.id)).toEqual(ids.slice(2).reverse());
    expect(await onVps("ls /var/backups/zyotra/postgres/keep | wc -l")).toBe("2");
  });

  test("a failing pg_dump: an error naming it, no file left, a failed record with its reason", async () => {
    await onVps(`cd /tmp && sudo -u postgres psql -X -c 'ALTER DATABASE broken ALLOW_CONNECTIONS false'`);
    const answer = await take("broken");
    expect(answer.status).toBe(502);
    expect(answer.body.message).toContain("pg_dump failed");
    expect(await onVps("ls -A /var/backups/zyotra/postgres/broken | wc -l")).toBe("0");
    const [row] = await list(databaseIds.broken ?? 0);
    expect(row).toMatchObject({ status: "failed" });
    expect(row?.error).toContain("pg_dump failed");
    expect((await app.request("GET", `/backups/${row?.id}/download`, { userId: OWNER })).status).toBe(409);
  });

  test("a dump past the answer time is answered running and finishes in the background", async () => {
    const answer = await take("vault", background);
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe("running");
    expect(answer.body.message).toContain("continues on the server");
    const id = (answer.body.backup as BackupSummary).id;
    let status = "running";
    for (let i = 0; i < 100 && status === "running"; i++) {
      await Bun.sleep(100);
      status = (await list(databaseIds.vault ?? 0)).find((row) => row.id === id)?.status ?? "missing";
    }
    expect(status).toBe("done");
  });

  test("a backup left running by a stopped service is marked failed at start-up and its partial file removed", async () => {
    const row = await backups.insertRunning({ databaseId: databaseIds.vault ?? 0, userId: OWNER, machineId, host: vps.ip, engine: "postgres", dbName: "vault", roleName: "vault_user", fileName: "vault-20260101T000000.000Z.dump", path: "/var/backups/zyotra/postgres/vault/vault-20260101T000000.000Z.dump" });
    await onVps("printf partial > /var/backups/zyotra/postgres/vault/.vault-20260101T000000.000Z.dump.partial");
    const leases = createSshPool({ ...DEFAULT_POOL_SETTINGS, connectTimeoutMs: 5_000, idleTimeoutMs: 5_000 });
    try {
      const service = backupServiceFor({ accessTokenSecret: "x".repeat(16), encryptionKey: TEST_ENCRYPTION_KEY, corsOrigins: [], ssh: TEST_SSH, rateLimits: { windowMs: 1, perAddress: 1, userReads: 1, userWrites: 1 }, store: dbs.store, registry: dbs.registry, leases }, backups);
      expect(await service.failInterrupted()).toBe(1);
    } finally {
      await leases.closeAll();
    }
    expect(await backups.findForUser(row.id, OWNER)).toMatchObject({ status: "failed", error: "interrupted: the service restarted while the backup ran" });
    expect(await onVps("ls -A /var/backups/zyotra/postgres/vault | grep -c partial || true")).toBe("0");
  });

  test("the real service killed mid-backup: after its restart the backup is failed and no file of it remains", async () => {
    // A lock held on a table keeps pg_dump waiting, so the kill surely lands mid-dump.
    const locker = await connectAs(vps.ip, "vault_user", PASSWORD, "vault");
    const services: Array<ReturnType<typeof startServiceProcess>> = [];
    try {
      await locker.query("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE");
      const urls = { metadataUrl: dbs.metadata.url, registryUrl: dbs.registryDb.url, extra: { BACKUP_ANSWER_WITHIN_MS: "0" } };
      const first = startServiceProcess(urls);
      services.push(first);
      await first.waitHealthy();
      const response = await fetch(`${first.baseUrl}/backup-postgres-db`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokenFor(OWNER)}`, "content-type": "application/json" },
        body: JSON.stringify({ vpsId: machineId, vpsIp: vps.ip, dbName: "vault", userName: "vault_user" }),
      });
      const answer = (await response.json()) as { status: unknown; backup: BackupSummary };
      expect(answer.status).toBe("running");
      const partial = `/var/backups/zyotra/postgres/vault/.${answer.backup.fileName}.partial`;
      for (let i = 0; i < 100 && (await onVps(`test -e ${partial} && echo yes || true`)) !== "yes"; i++) await Bun.sleep(100);
      expect(await onVps(`test -e ${partial} && echo yes || true`)).toBe("yes");
      first.process.kill("SIGKILL");
      await first.process.exited;

      const second = startServiceProcess(urls);
      services.push(second);
      await second.waitHealthy();
      expect(await backups.findForUser(answer.backup.id, OWNER)).toMatchObject({ status: "failed", error: "interrupted: the service restarted while the backup ran" });
      // The orphaned pg_dump may now finish: it must not put a file in place.
      await locker.query("COMMIT");
      const orphanDone = async () => (await onVps("ps -eo args | grep -c '[p]g_dump -Fc' || true")) === "0";
      for (let i = 0; i < 100 && !(await orphanDone()); i++) await Bun.sleep(100);
      expect(await orphanDone()).toBe(true);
      // Its script's last steps (checksum, rename attempt) follow pg_dump's exit.
      await Bun.sleep(1_500);
      expect(await onVps(`ls -A /var/backups/zyotra/postgres/vault | grep -c '${answer.backup.fileName}' || true`)).toBe("0");
    } finally {
      for (const service of services) service.process.kill("SIGKILL");
      await locker.end().catch(() => undefined);
    }
  }, 90_000);

  test("DELETE /backups/:id removes the file and the record; deleting the database keeps its backups", async () => {
    const [newest] = await list(databaseIds.keep ?? 0);
    expect((await app.request("DELETE", `/backups/${newest?.id}`, { userId: OWNER })).status).toBe(200);
    expect(await onVps(`ls /var/backups/zyotra/postgres/keep | grep -c '${newest?.fileName}' || true`)).toBe("0");
    expect((await list(databaseIds.keep ?? 0)).map((row) => row.id)).not.toContain(newest?.id);

    const remaining = (await list(databaseIds.keep ?? 0)).length;
    expect((await app.request("DELETE", `/delete-db/${databaseIds.keep}`, { userId: OWNER })).status).toBe(200);
    expect(await list(databaseIds.keep ?? 0)).toHaveLength(remaining);
  });
});
