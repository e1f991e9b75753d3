import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { deployed_db } from "../../src/metadata/schema";
import { psqlOnVps } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startServiceProcess, type ServiceProcess } from "../support/serviceProcess";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/**
 * A tenant is root on their machine and decides what it answers. Through stand-ins first on
 * its PATH (`sudo`, which every psql goes through, and `bash`, which runs the deployment), the
 * machine here floods the service, never stops talking, or prints progress markers for ever.
 * The real service process must answer 502/504 within its bounds, keep /health quick and its
 * memory bounded.
 */
const USER = 41;
// Generous enough for a real deploy on a busy 2-core machine; the hostile cases wait them out.
const COMMAND_TIMEOUT_MS = 8_000;
// Short enough that endless new step names (at most 32 honoured, each re-arming the command timeout)
// outlast the hard deadline, which is what the endless-markers test proves.
const INSTALL_TIMEOUT_MS = 12_000;
/** A deploy's hard bound: install + command timeout for the script, one command timeout to roll back. */
const DEPLOY_BOUND_MS = INSTALL_TIMEOUT_MS + 2 * COMMAND_TIMEOUT_MS;
/** Functional bounds, generous for a busy two-core machine: not performance figures. */
const HEALTH_BOUND_MS = 5_000;
const RSS_GROWTH_BOUND_KB = 100 * 1024;
const REQUEST_ABORT_MS = 60_000;

let vps: SandboxVps;
let dbs: TestDatabases;
let service: ServiceProcess;
let machineId = 0;
let baselineRssKb = 0;

/** 64 MiB of output, as fast as the machine can send it. */
const FLOOD = `#!/bin/bash
yes 'hostile output hostile output hostile output hostile output' | head -c 67108864
`;
/** 1 GiB: from the service's point of view, output that never ends. */
const ENDLESS = `#!/bin/bash
yes 'never ending output' | head -c 1073741824
`;
/** A line every 200 ms for up to 10 minutes: never silent, never done. */
const DRIP = `#!/bin/bash
for i in $(seq 1 3000); do echo "still working $i" || exit 0; sleep 0.2; done
`;
/**
 * Runs the real deployment (reading it from stdin) under the install budget, so that a busy
 * test machine cannot make one of its steps time out, then claims progress for ever: the same
 * steps again and again, and a new step every half second, well within each step's timeout.
 */
const DEPLOY_THEN_ENDLESS_MARKERS = `#!/bin/bash
printf '@@STEP install\\n'
/bin/bash "$@" | grep -v '^@@STEP'
for i in $(seq 1 1200); do printf '@@STEP install\\n@@STEP database\\n@@STEP next-%s\\n' "$i" || exit 0; sleep 0.5; done
`;
/** 64 MiB of progress markers. */
const MARKER_FLOOD = `#!/bin/bash
yes '@@STEP install' | head -c 67108864
`;

const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${service.process.pid}/status`, "utf8"))?.[1] ?? 0);
const headers = () => ({ authorization: `Bearer ${tokenFor(USER, { expiresIn: "1h" })}`, "content-type": "application/json" });

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; message: string; elapsedMs: number }> {
  const started = Date.now();
  const response = await fetch(`${service.baseUrl}${path}`, {
    method,
    headers: headers(),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_ABORT_MS),
  });
  const text = await response.text();
  let message = "";
  try {
    message = String((JSON.parse(text) as { message?: unknown }).message ?? "");
  } catch {
    message = text.slice(0, 200);
  }
  return { status: response.status, message, elapsedMs: Date.now() - started };
}

interface Watched<T> {
  result: T;
  slowestHealthMs: number;
  rssGrowthKb: number;
}

/** Runs `work` while polling /health and the service's RSS (both bounded in count by the work's own bound). */
async function watching<T>(work: () => Promise<T>): Promise<Watched<T>> {
  let done = false;
  let slowestHealthMs = 0;
  let peakRssKb = rssKb();
  const poller = (async () => {
    for (let i = 0; i < 2_000 && !done; i++) {
      const started = Date.now();
      const ok = await fetch(`${service.baseUrl}/health`, { signal: AbortSignal.timeout(10_000) }).then(
        (response) => response.ok,
        () => false,
      );
      slowestHealthMs = Math.max(slowestHealthMs, ok ? Date.now() - started : Infinity);
      peakRssKb = Math.max(peakRssKb, rssKb());
      await Bun.sleep(100);
    }
  })();
  try {
    const result = await work();
    return { result, slowestHealthMs, rssGrowthKb: peakRssKb - baselineRssKb };
  } finally {
    done = true;
    await poller;
  }
}

async function withStandIn<T>(tool: string, script: string, work: () => Promise<T>): Promise<Watched<T>> {
  await vps.setStandIn(tool, script);
  try {
    return await watching(work);
  } finally {
    await vps.setStandIn(tool, undefined);
  }
}

function expectServiceUnharmed(watched: Watched<unknown>): void {
  expect(watched.slowestHealthMs).toBeLessThan(HEALTH_BOUND_MS);
  expect(watched.rssGrowthKb).toBeLessThan(RSS_GROWTH_BOUND_KB);
  expect(service.process.exitCode).toBeNull();
}

/**
 * A kept psql session serves a database for a few seconds after its last use: each test names
 * a database of its own, so its request starts a new psql (the stand-in) on the machine.
 */
const where = (databaseName: string) => ({ databaseName, vpsId: machineId, vpsIp: vps.ip });
const rows = () => dbs.drizzleDb.select().from(deployed_db);

/** A recorded database for the delete route (what is on the machine does not matter: it lies). */
async function recordDatabase(dbName: string): Promise<number> {
  const [row] = await dbs.drizzleDb
    .insert(deployed_db)
    .values({ dbName, username: `${dbName}_user`, password: "unused", host: vps.ip, dbType: "postgres", vpsId: machineId, userId: USER, status: "running" })
    .returning();
  return Number(row?.id);
}

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: USER, rootPassword: vps.rootPassword });
  // Owned by an ordinary role, as a deployed database is: browsing refuses a superuser's.
  await psqlOnVps(vps, "CREATE ROLE shop_user LOGIN");
  await psqlOnVps(vps, "CREATE DATABASE shop OWNER shop_user");
  service = startServiceProcess({
    metadataUrl: dbs.metadata.url,
    registryUrl: dbs.registryDb.url,
    extra: {
      SSH_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      SSH_INSTALL_TIMEOUT_MS: String(INSTALL_TIMEOUT_MS),
      RATE_LIMIT_PER_ADDRESS: "1000000",
      RATE_LIMIT_USER_READS: "1000000",
      RATE_LIMIT_USER_WRITES: "1000000",
    },
  });
  await service.waitHealthy();
  // Warm: a connection in the pool and every code path loaded, before the baseline.
  expect((await call("POST", "/get-tables-list", where("shop"))).status).toBe(200);
  await Bun.sleep(500);
  baselineRssKb = rssKb();
}, 120_000);

afterAll(async () => {
  service?.process.kill("SIGKILL");
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("a machine that floods its answers", () => {
  // Browsing runs its superuser step (through sudo) inside the command and keeps that step's
  // output on the machine, so a flood there reaches the service as silence or as the whole flood
  // at once: either way it is cut off (504 at the command timeout, or 502 at the byte cap).
  const cutOff = [502, 504];

  test("tables list: 64 MiB from psql is cut off", async () => {
    const watched = await withStandIn("sudo", FLOOD, () => call("POST", "/get-tables-list", where("flood_list")));
    expect(cutOff).toContain(watched.result.status);
    expectServiceUnharmed(watched);
  }, 90_000);

  test("tables list: output that never ends is cut off", async () => {
    const watched = await withStandIn("sudo", ENDLESS, () => call("POST", "/get-tables-list", where("endless_list")));
    expect(cutOff).toContain(watched.result.status);
    expectServiceUnharmed(watched);
  }, 90_000);

  test("table data: a head that never reaches its rows is cut off", async () => {
    const watched = await withStandIn("sudo", FLOOD, () => call("POST", "/get-table-data", { ...where("flood_data"), tableName: "items", username: "shop_user" }));
    expect(cutOff).toContain(watched.result.status);
    expectServiceUnharmed(watched);
  }, 90_000);

  test("deploy: 64 MiB of progress markers is cut off with a 502 and leaves no row", async () => {
    const watched = await withStandIn("bash", MARKER_FLOOD, () =>
      call("POST", "/deploy-postgres", { vpsId: machineId, vpsIp: vps.ip, dbName: "flooded", userName: "flooded_user", password: "flooded-pw" }),
    );
    expect(watched.result.status).toBe(502);
    expect(watched.result.message).toContain("more output than expected");
    expect((await rows()).some((row) => row.dbName === "flooded")).toBe(false);
    expectServiceUnharmed(watched);
  }, 90_000);

  test("delete: a flood is a 502 and the row stays", async () => {
    const id = await recordDatabase("flood_delete");
    const watched = await withStandIn("sudo", FLOOD, () => call("DELETE", `/delete-db/${id}`));
    expect(watched.result.status).toBe(502);
    expect((await rows()).some((r) => r.id === id)).toBe(true);
    expectServiceUnharmed(watched);
  }, 90_000);
});

describe("a machine that never finishes", () => {
  test("tables list: a psql that keeps talking and never ends is a 504 within the command timeout", async () => {
    const watched = await withStandIn("sudo", DRIP, () => call("POST", "/get-tables-list", where("drip_list")));
    expect(watched.result.status).toBe(504);
    expect(watched.result.elapsedMs).toBeLessThan(3 * COMMAND_TIMEOUT_MS);
    expectServiceUnharmed(watched);
  }, 90_000);

  test("table data: a head dripped line by line is a 504 within the command timeout", async () => {
    const watched = await withStandIn("sudo", DRIP, () => call("POST", "/get-table-data", { ...where("drip_data"), tableName: "items", username: "shop_user" }));
    expect(watched.result.status).toBe(504);
    expect(watched.result.elapsedMs).toBeLessThan(3 * COMMAND_TIMEOUT_MS);
    expectServiceUnharmed(watched);
  }, 90_000);

  test("deploy: endless progress markers after the work are a 504 within install + 2 × command timeout; what it created is rolled back", async () => {
    const watched = await withStandIn("bash", DEPLOY_THEN_ENDLESS_MARKERS, () =>
      call("POST", "/deploy-postgres", { vpsId: machineId, vpsIp: vps.ip, dbName: "endless", userName: "endless_user", password: "endless-pw" }),
    );
    expect(watched.result.status).toBe(504);
    // Every marker came well within a step's timeout: only the deploy's hard deadline ended it.
    expect(watched.result.message).toContain(`within ${(INSTALL_TIMEOUT_MS + COMMAND_TIMEOUT_MS) / 1000} s`);
    expect(watched.result.elapsedMs).toBeLessThan(DEPLOY_BOUND_MS + 5_000);
    expect((await rows()).some((row) => row.dbName === "endless")).toBe(false);
    expect(await psqlOnVps(vps, "SELECT count(*) FROM pg_database WHERE datname = 'endless'")).toBe("0");
    expect(await psqlOnVps(vps, "SELECT count(*) FROM pg_roles WHERE rolname = 'endless_user'")).toBe("0");
    expectServiceUnharmed(watched);
  }, 90_000);

  test("delete: a drop that never ends is a 504 within the command timeout and the row stays", async () => {
    const id = await recordDatabase("drip_delete");
    const watched = await withStandIn("sudo", DRIP, () => call("DELETE", `/delete-db/${id}`));
    expect(watched.result.status).toBe(504);
    expect(watched.result.elapsedMs).toBeLessThan(2 * COMMAND_TIMEOUT_MS);
    expect((await rows()).some((r) => r.id === id)).toBe(true);
    expectServiceUnharmed(watched);
  }, 90_000);

  test("afterwards the same machine is served normally", async () => {
    expect((await call("POST", "/get-tables-list", where("shop"))).status).toBe(200);
    const deployed = await call("POST", "/deploy-postgres", { vpsId: machineId, vpsIp: vps.ip, dbName: "calm", userName: "calm_user", password: "calm-pw" });
    expect(deployed.status).toBe(200);
  }, 90_000);
});
