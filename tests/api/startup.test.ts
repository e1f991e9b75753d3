import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serviceEnvironment, startServiceProcess } from "../support/serviceProcess";
import { createTestDatabases, ThrowawayDatabase } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/** The real entry points, run as processes: configuration errors, zero-config mode, ops' migrate. */
const ROOT = join(import.meta.dir, "..", "..");
const cleanEnv = () => {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root" };
  return env;
};
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("start-up", () => {
  test("a missing required variable in production stops with one line naming it", () => {
    const run = Bun.spawnSync(["bun", "src/index.ts"], {
      cwd: ROOT,
      env: { ...cleanEnv(), NODE_ENV: "production", STORAGE_LAYER_DATABASE_URL: "postgresql://a@b/c", DEPLOYMENT_MANAGER_DATABASE_URL: "postgresql://a@b/d", ENCRYPTION_KEY: "0123456789abcdefXYZ" },
    });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.toString().trim()).toBe("Configuration error: ACCESS_TOKEN_SECRET: is required");
  });

  test("zero-config mode: starts on PGlite, registers a machine, issues a token, serves every route", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "zsl-zero-"));
    dirs.push(dataDir);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = Bun.spawn(["bun", "src/index.ts"], { cwd: ROOT, env: { ...cleanEnv(), DATA_DIR: dataDir, PORT: String(port) }, stdout: "pipe", stderr: "pipe" });
    try {
      let healthy = false;
      for (let i = 0; i < 300 && !healthy; i++) {
        healthy = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
        if (!healthy) await Bun.sleep(100);
      }
      expect(healthy).toBe(true);

      const add = Bun.spawnSync(["bun", "src/cli/registerMachine.ts", "--ip", "127.0.0.1", "--owner", "7", "--password-stdin", "--data-dir", dataDir], {
        cwd: ROOT,
        env: cleanEnv(),
        stdin: Buffer.from("root-password\n"),
      });
      expect(add.exitCode).toBe(0);
      const machine = JSON.parse(add.stdout.toString()) as { vpsId: number };
      const token = Bun.spawnSync(["bun", "src/cli/issueToken.ts", "7", "--data-dir", dataDir], { cwd: ROOT, env: cleanEnv() }).stdout.toString().trim();

      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const list = await fetch(`http://127.0.0.1:${port}/get-db`, { headers });
      expect(list.status).toBe(200);
      expect(await list.json()).toEqual({ status: 200, data: [] });
      const foreign = await fetch(`http://127.0.0.1:${port}/deploy-postgres`, {
        method: "POST",
        headers,
        body: JSON.stringify({ vpsId: machine.vpsId, vpsIp: "127.0.0.2", dbName: "a", userName: "b", password: "c" }),
      });
      expect(foreign.status).toBe(403);
    } finally {
      server.kill();
      await server.exited;
    }
    const output = await new Response(server.stdout).text();
    expect(output).toContain("dev.secrets_generated");
    expect(output).not.toContain("root-password");
  }, 90_000);

  test("a second copy on a busy port refuses to start with one line and a non-zero exit", async () => {
    const dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
    const first = startServiceProcess({ metadataUrl: dbs.metadata.url, registryUrl: dbs.registryDb.url });
    try {
      await first.waitHealthy();
      const port = Number(new URL(first.baseUrl).port);
      const second = Bun.spawn(["bun", "src/index.ts"], {
        cwd: ROOT,
        env: serviceEnvironment({ metadataUrl: dbs.metadata.url, registryUrl: dbs.registryDb.url, extra: { ACCESS_TOKEN_SECRET: "another-secret-0123456789" } }, port),
        stdout: "ignore",
        stderr: "pipe",
      });
      // Bounded: a second copy that started (sharing the port) is killed and the test fails.
      const exited = await Promise.race([second.exited.then(() => true), Bun.sleep(30_000).then(() => false)]);
      if (!exited) second.kill();
      await second.exited;
      expect(exited).toBe(true);
      expect(second.exitCode).toBe(1);
      expect((await new Response(second.stderr).text()).trim()).toBe(`Configuration error: PORT: port ${port} is already in use by another process`);
      expect((await fetch(`${first.baseUrl}/health`)).status).toBe(200);
    } finally {
      first.process.kill();
      await first.process.exited;
      await dbs.dropAll();
    }
  }, 90_000);

  test("ops migrate with drizzle-kit and STORAGE_LAYER_DATABASE_URL", async () => {
    const db = await ThrowawayDatabase.create("zsl_kit");
    try {
      const run = Bun.spawnSync(["bunx", "drizzle-kit", "migrate"], { cwd: ROOT, env: { ...cleanEnv(), STORAGE_LAYER_DATABASE_URL: db.url } });
      expect(run.exitCode).toBe(0);
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM deployed_db`);
      expect(rows[0]).toEqual({ n: 0 });
    } finally {
      await db.drop();
    }
  }, 60_000);
});
