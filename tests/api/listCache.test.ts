import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createSecretBox } from "../../src/crypto/secretBox";
import type { DeployedDbStore } from "../../src/metadata/deployedDbStore";
import { withListCache } from "../../src/metadata/listCache";
import { refusingLeases } from "../support/recordingSessions";
import { startTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/**
 * The per-user cache of `GET /get-db` rows (src/metadata/listCache.ts) against the real metadata
 * database: this instance's writes show at once, another instance's (the uncached store
 * standing in for it) after the TTL, and a user only ever sees their own rows.
 */
let dbs: TestDatabases;
const box = createSecretBox(TEST_ENCRYPTION_KEY);
let clock = 0;
const now = () => clock;

beforeAll(async () => {
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
});

afterAll(async () => {
  await dbs?.dropAll();
});

const row = (userId: number, dbName: string) => ({ dbName, username: `${dbName}_u`, password: box.seal(`pw-${dbName}`), host: "10.9.0.1", dbType: "postgres", vpsId: 1, userId });
const names = async (store: DeployedDbStore, userId: number) => (await store.listByUser(userId)).map((r) => `${r.dbName}:${r.status}`);

describe("GET /get-db row cache", () => {
  test("every write of this instance shows at once: insert, status change, password change, removal", async () => {
    const cached = withListCache(dbs.store, { ttlMs: 60_000, now });
    expect(await names(cached, 101)).toEqual([]);
    const inserted = await cached.insertDeploying(row(101, "a"));
    expect(await names(cached, 101)).toEqual(["a:deploying"]);
    await cached.markRunning(inserted.id);
    expect(await names(cached, 101)).toEqual(["a:running"]);
    const sealed = box.seal("new");
    await cached.setRolePassword({ userId: 101, vpsId: 1, host: "10.9.0.1", engine: "postgres" }, "a_u", sealed);
    expect((await cached.listByUser(101))[0]?.password).toBe(sealed);
    await cached.markFailed(inserted.id);
    expect(await names(cached, 101)).toEqual(["a:failed"]);
    await cached.remove(inserted.id);
    expect(await names(cached, 101)).toEqual([]);
  });

  test("a write that fails still empties the cache (it may have reached the database)", async () => {
    const cached = withListCache(dbs.store, { ttlMs: 60_000, now });
    await cached.insertDeploying(row(102, "dup"));
    expect(await names(cached, 102)).toEqual(["dup:deploying"]);
    await dbs.store.insertDeploying(row(102, "other_instance"));
    await expect(cached.insertDeploying(row(102, "dup"))).rejects.toThrow();
    expect(await names(cached, 102)).toEqual(["dup:deploying", "other_instance:deploying"]);
  });

  test("another instance's writes show once the TTL has passed, not before", async () => {
    const cached = withListCache(dbs.store, { ttlMs: 1_000, now });
    clock = 10_000;
    expect(await names(cached, 103)).toEqual([]);
    await dbs.store.insertDeploying(row(103, "elsewhere"));
    clock = 10_999;
    expect(await names(cached, 103)).toEqual([]);
    clock = 11_000;
    expect(await names(cached, 103)).toEqual(["elsewhere:deploying"]);
  });

  test("a read that started before a write never stores what it read", async () => {
    let release: () => void = () => undefined;
    let started: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const reading = new Promise<void>((resolve) => (started = resolve));
    let slow = true;
    const slowReads: DeployedDbStore = {
      ...dbs.store,
      listByUser: async (userId) => {
        const rows = await dbs.store.listByUser(userId);
        if (slow) {
          slow = false;
          started();
          await gate;
        }
        return rows;
      },
    };
    const cached = withListCache(slowReads, { ttlMs: 60_000, now });
    const before = cached.listByUser(104);
    await reading;
    await cached.insertDeploying(row(104, "meanwhile"));
    release();
    expect(await before).toEqual([]);
    expect(await names(cached, 104)).toEqual(["meanwhile:deploying"]);
  });

  test("users never see each other's cached rows, through the API either", async () => {
    const cached = withListCache(dbs.store, { ttlMs: 60_000, now });
    await cached.insertDeploying(row(105, "mine"));
    await cached.insertDeploying(row(106, "theirs"));
    const app = startTestApp({ store: cached, registry: dbs.registry, leases: refusingLeases() });
    try {
      for (let i = 0; i < 2; i++) {
        const mine = await app.request("GET", "/get-db", { userId: 105 });
        const theirs = await app.request("GET", "/get-db", { userId: 106 });
        expect((mine.body.data as Array<{ dbName: string; password: string }>).map((r) => [r.dbName, r.password])).toEqual([["mine", "pw-mine"]]);
        expect((theirs.body.data as Array<{ dbName: string; password: string }>).map((r) => [r.dbName, r.password])).toEqual([["theirs", "pw-theirs"]]);
      }
    } finally {
      await app.stop();
    }
  });

  test("the cache is bounded", async () => {
    const cached = withListCache(dbs.store, { ttlMs: 60_000, now, maxUsers: 2 });
    await cached.listByUser(201);
    await cached.listByUser(202);
    await cached.listByUser(203);
    await dbs.store.insertDeploying(row(201, "evicted_so_visible"));
    await dbs.store.insertDeploying(row(203, "still_cached"));
    expect(await names(cached, 201)).toEqual(["evicted_so_visible:deploying"]);
    expect(await names(cached, 203)).toEqual([]);
  });
});
