import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { connectAs } from "../support/remoteDb";
import { startServiceProcess, type ServiceProcess } from "../support/serviceProcess";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/** A bounded soak on loopback against the real service process. */
const TOTAL = 5_000;
// A bound on the loop, not a speed target: every cold browse now logs in as a throwaway reader
// role (superuser-free browsing), which costs about a second of remote work per request.
const ROUND_BUDGET_MS = 480_000;
const CONCURRENCY = 50;
const USER = 31;

let vps: SandboxVps;
let dbs: TestDatabases;
let service: ServiceProcess;
let machineId = 0;

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: USER, rootPassword: vps.rootPassword });
  service = startServiceProcess({
    captureLog: true,
    metadataUrl: dbs.metadata.url,
    registryUrl: dbs.registryDb.url,
    extra: { RATE_LIMIT_PER_ADDRESS: "1000000", RATE_LIMIT_USER_READS: "1000000", RATE_LIMIT_USER_WRITES: "1000000", SSH_IDLE_TIMEOUT_MS: "1000" },
  });
  await service.waitHealthy();
}, 120_000);

afterAll(async () => {
  service?.process.kill("SIGKILL");
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("soak", () => {
  test(`${TOTAL} mixed requests at concurrency ${CONCURRENCY}: no 5xx, no crash, memory settles, no leaked SSH sessions`, async () => {
    const headers = { authorization: `Bearer ${tokenFor(USER, { expiresIn: "1h" })}`, "content-type": "application/json" };
    const call = (path: string, body?: unknown) =>
      fetch(`${service.baseUrl}${path}`, { method: body === undefined ? "GET" : "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    const deployed = await call("/deploy-postgres", { vpsId: machineId, vpsIp: vps.ip, dbName: "soak", userName: "soak_user", password: "soak-pw" });
    expect(deployed).toBe(200);
    const client = await connectAs(vps.ip, "soak_user", "soak-pw", "soak");
    await client.query("CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 50) g");
    await client.end();

    const where = { databaseName: "soak", vpsId: machineId, vpsIp: vps.ip };
    // Mostly the portal's polling of get-db; every tenth a remote read; every tenth a failing deploy.
    const getDb = { valid: true, run: () => call("/get-db") };
    const kinds = [
      getDb,
      { valid: true, run: () => call("/get-tables-list", where) },
      getDb,
      getDb,
      // Failing deploys: the name exists (400) or the IP is wrong (403).
      { valid: false, run: () => call("/deploy-postgres", { vpsId: machineId, vpsIp: vps.ip, dbName: "soak", userName: "soak_user", password: "x" }) },
      getDb,
      getDb,
      { valid: true, run: () => call("/get-table-data", { ...where, tableName: "items", username: "soak_user", limit: 10 }) },
      getDb,
      { valid: false, run: () => call("/deploy-postgres", { vpsId: machineId, vpsIp: "10.255.255.1", dbName: "other", userName: "o", password: "x" }) },
    ];

    const statuses = new Map<string, number>();
    let started = Date.now();
    const round = async (count: number) => {
      let next = 0;
      const worker = async () => {
        while (next < count && Date.now() - started < ROUND_BUDGET_MS) {
          const kind = kinds[next++ % kinds.length];
          if (!kind) break;
          const status = await kind.run().catch(() => 0);
          const key = `${kind.valid ? "valid" : "failing"}:${status}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    };
    // A warm-up at the same concurrency: the process reaches its working size (JIT, buffers, pools).
    await round(1_000);
    statuses.clear();
    const before = rssKb(service.process.pid);
    started = Date.now();
    const sessionsSeen: number[] = [];
    const watcher = setInterval(() => void vps.sshSessionCount().then((n) => sessionsSeen.push(n)), 250);
    await round(TOTAL);
    clearInterval(watcher);

    const summary = Object.fromEntries(statuses);
    // Any 5xx is a failure below; its log lines (kind, reason: never a secret) say why.
    if (Object.keys(summary).some((key) => /:5\d\d$/.test(key))) {
      console.log(service.log().split("\n").filter((line) => line.includes("request.failed") || line.includes("request.crashed")).slice(0, 10).join("\n"));
    }
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(TOTAL);
    expect(Object.keys(summary).filter((key) => key.startsWith("valid:") && key !== "valid:200")).toEqual([]);
    expect(Object.keys(summary).filter((key) => key.startsWith("failing:") && !["failing:400", "failing:403"].includes(key))).toEqual([]);
    expect(service.process.exitCode).toBeNull();
    expect(Math.max(...sessionsSeen)).toBeLessThanOrEqual(4);

    await Bun.sleep(1_000);
    const afterSoak = rssKb(service.process.pid);
    // The garbage collector returns memory lazily, so compare steady states: a further round must
    // not grow the process again. A leak would add memory with every request.
    await round(2_000);
    await Bun.sleep(1_000);
    const afterMore = rssKb(service.process.pid);
    console.log(`soak: ${JSON.stringify(summary)} in ${Date.now() - started} ms; RSS ${before} kB warm, ${afterSoak} kB after the soak, ${afterMore} kB after 2,000 more; max SSH sessions ${Math.max(...sessionsSeen)}`);
    expect(afterMore).toBeLessThan(afterSoak + 64 * 1024);
    expect(afterSoak).toBeLessThan(before + 160 * 1024);
    let sessions = -1;
    for (let i = 0; i < 40 && sessions !== 0; i++) {
      sessions = await vps.sshSessionCount();
      if (sessions !== 0) await Bun.sleep(100);
    }
    expect(sessions).toBe(0);
    expect((await fetch(`${service.baseUrl}/health`)).status).toBe(200);
  }, 720_000);
});
