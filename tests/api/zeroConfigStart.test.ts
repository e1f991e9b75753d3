import { afterAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openEmbeddedDatabase } from "../../src/devMode/embeddedDatabase";

/**
 * The zero-config default must start every time. A first start that raced another opener of
 * the same data directory (a second `npm start`, or `machine:add` while the service was still
 * creating its database) crashed inside PGlite at the first migration; the data directory is
 * now locked to one process.
 */
const ROOT = join(import.meta.dir, "..", "..");
const env = (extra: Record<string, string>) => ({ PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...extra });
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const freshDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

function startService(dataDir: string) {
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  const child = Bun.spawn(["bun", "src/index.ts"], { cwd: ROOT, env: env({ DATA_DIR: dataDir, PORT: String(port) }), stdout: "ignore", stderr: "pipe" });
  return { child, port, healthy: () => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false) };
}

/** Keeps one core busy, as on the machine where the crash was seen; bounded in time either way. */
function cpuLoad(seconds: number): Subprocess {
  return Bun.spawn(["bun", "-e", `const end = Date.now() + ${seconds * 1000}; while (Date.now() < end) {}`], { stdout: "ignore", stderr: "ignore" });
}

const stop = async (child: Subprocess, signal: NodeJS.Signals = "SIGTERM") => {
  child.kill(signal);
  await child.exited;
};

describe("zero-config start-up", () => {
  test("two services started at once on one empty data directory, plus machine:add: one serves, the other refuses with one line", async () => {
    const dataDir = freshDir("zsl-race-");
    const first = startService(dataDir);
    const second = startService(dataDir);
    const add = Bun.spawn(["bun", "src/cli/registerMachine.ts", "--ip", "127.0.0.1", "--owner", "7", "--password-stdin", "--data-dir", dataDir], {
      cwd: ROOT,
      env: env({}),
      stdin: new Blob(["root-password\n"]),
      stdout: "pipe",
      stderr: "pipe",
    });
    let third: ReturnType<typeof startService> | undefined;
    try {
      // Until one answers /health and the other has exited (bounded).
      const deadline = Date.now() + 200_000;
      let serving: typeof first | undefined;
      while (Date.now() < deadline && !(serving && (first.child.exitCode !== null || second.child.exitCode !== null))) {
        for (const candidate of [first, second]) if (!serving && candidate.child.exitCode === null && (await candidate.healthy())) serving = candidate;
        await Bun.sleep(200);
      }
      expect(serving).toBeDefined();
      const refused = serving === first ? second : first;
      expect(await refused.child.exited).toBe(1);
      const stderr = (await new Response(refused.child.stderr).text()).trim();
      expect(stderr).toBe(`Configuration error: DATA_DIR: ${dataDir} is in use by another process (pid ${serving?.child.pid}); stop it first or use another DATA_DIR`);

      // machine:add waited for the starting service and registered through it.
      expect(await add.exited).toBe(0);
      expect(JSON.parse(await new Response(add.stdout).text())).toEqual({ vpsId: 1, vpsIp: "127.0.0.1", ownerId: 7 });
      const token = Bun.spawnSync(["bun", "src/cli/issueToken.ts", "7", "--data-dir", dataDir], { cwd: ROOT, env: env({}) }).stdout.toString().trim();
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const list = await fetch(`http://127.0.0.1:${serving?.port}/get-db`, { headers });
      expect(list.status).toBe(200);
      const foreign = await fetch(`http://127.0.0.1:${serving?.port}/deploy-postgres`, {
        method: "POST",
        headers,
        body: JSON.stringify({ vpsId: 1, vpsIp: "127.0.0.2", dbName: "a", userName: "b", password: "c" }),
      });
      expect(foreign.status).toBe(403);

      // A service killed outright leaves a stale lock; the next start takes it over.
      if (serving) await stop(serving.child, "SIGKILL");
      expect(existsSync(join(dataDir, "pglite.lock"))).toBe(true);
      third = startService(dataDir);
      for (let i = 0; i < 600 && !(await third.healthy()) && third.child.exitCode === null; i++) await Bun.sleep(100);
      expect(await third.healthy()).toBe(true);
      await stop(third.child);
      expect(existsSync(join(dataDir, "pglite.lock"))).toBe(false);
    } finally {
      for (const child of [first.child, second.child, add, third?.child]) if (child && child.exitCode === null) await stop(child, "SIGKILL");
    }
  }, 300_000);

  // A process start is this plus loading the modules and listening (covered by the test above
  // and tests/api/startup.test.ts); in-process, 20 fresh starts fit in the suite's time.
  test("20 fresh starts in a row from an empty data directory, under CPU load, all succeed", async () => {
    const load = cpuLoad(300);
    const failures: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const dataDir = join(freshDir("zsl-fresh-"), "data");
        try {
          const db = await openEmbeddedDatabase(dataDir, "service");
          try {
            const { rows } = await db.registry.query(`SELECT (SELECT count(*) FROM vps_machines)::int AS machines, (SELECT count(*) FROM deployed_db)::int AS databases`, []);
            expect(rows).toEqual([{ machines: 0, databases: 0 }]);
          } finally {
            await db.close();
          }
          expect(existsSync(join(dataDir, "pglite.lock"))).toBe(false);
        } catch (error) {
          failures.push(`start ${i + 1}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      }
    } finally {
      await stop(load, "SIGKILL");
    }
    expect(failures).toEqual([]);
  }, 300_000);

  test("the same process cannot open one data directory twice", async () => {
    const dataDir = freshDir("zsl-twice-");
    const db = await openEmbeddedDatabase(dataDir, "service");
    try {
      await expect(openEmbeddedDatabase(dataDir, "service")).rejects.toThrow(`is in use by another process (pid ${process.pid})`);
    } finally {
      await db.close();
    }
    const again = await openEmbeddedDatabase(dataDir, "service");
    await again.close();
  }, 120_000);
});
