import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createAuditTrail, noAudit } from "../../src/metadata/auditTrail";
import { RedisSSHHelper } from "../../src/engines/redis/RedisSSHHelper";
import { reconcileUnfinishedRedisDeploys } from "../../src/features/caching/reconcileRedisDeploys";
import { sshTargetFor } from "../../src/machines/sshTarget";
import { createDirectLeases } from "../support/directLeases";
import { caching } from "../../src/metadata/schema";
import { redisCommands } from "../../src/engines/redis/redisClient";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { captureLogger, startTestApp, TEST_SSH, type RunningTestApp } from "../support/testApp";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";

/**
 * Redis end to end: sandbox VPS hosts running Debian's real redis-server under the stand-in
 * systemd (one with the package installed and its own instance on 6379, one without it), the
 * real service over real SSH, and our real metadata database.
 */
const OWNER = 7;
const OTHER = 8;
// Quotes, $(), backslash, # and ; are all legal (printable, no space) and must be handled.
const PASSWORD = `p"a'$(touch${"$"}{IFS}/tmp/pwned)\\x;#\`id\``;

let vps: SandboxVps;
let bare: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;
let machineId = 0;
let bareMachineId = 0;
/** The other tenant's machine, registered at the same address (it moved to them). */
let otherMachineId = 0;
const logger = captureLogger();

const out = async (target: SandboxVps, command: string) => (await target.exec(command)).stdout.trim();

const deploy = (body: Record<string, unknown>, userId = OWNER) =>
  app.request("POST", "/deploy-redis", { userId, body: { vpsId: machineId, vpsIp: vps.ip, password: PASSWORD, ...body } });

const action = (route: "stop-redis-server" | "start-stopped-redis-server" | "delete-redis-server", name: string, port: number, userId = OWNER, vpsId = machineId) =>
  app.request("POST", `/${route}`, { userId, body: { name, password: PASSWORD, vpsId, vpsIp: vps.ip, port: String(port) } });

const redisOn = (port: number, commands: string[][], password = PASSWORD, host = vps.ip) => redisCommands({ host, port, password, timeoutMs: 5_000 }, commands);

async function ping(port: number, password = PASSWORD): Promise<boolean> {
  try {
    const [auth, pong] = await redisOn(port, [["PING"]], password);
    return auth?.kind === "simple" && pong?.kind === "simple" && pong.text === "PONG";
  } catch {
    return false;
  }
}

const listeningOn = async (port: number) => (await out(vps, `ss -ltnH 'sport = :${port}' | wc -l`)) !== "0";
const rowsNamed = (name: string) => dbs.drizzleDb.select().from(caching).where(eq(caching.cacheName, name));
const redisState = () => out(vps, "ls -A /etc/redis /var/lib/redis /var/log/redis");

beforeAll(async () => {
  await removeStaleSandboxes();
  [vps, bare] = await Promise.all([
    startSandboxVps({ postgres: "absent", systemd: true, redis: "installed" }),
    startSandboxVps({ postgres: "absent", systemd: true, redis: "absent" }),
  ]);
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword });
  bareMachineId = await dbs.addMachine({ ip: bare.ip, ownerId: OWNER, rootPassword: bare.rootPassword });
  otherMachineId = await dbs.addMachine({ ip: vps.ip, ownerId: OTHER, rootPassword: vps.rootPassword });
  app = startTestApp({ store: dbs.store, caching: dbs.caching, registry: dbs.registry, logger, audit: createAuditTrail(dbs.drizzleDb, logger) });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
  await vps?.stop();
  await bare?.stop();
}, 60_000);

describe("deploy-redis refuses bad requests before any connection", () => {
  test("reserved and hostile names, bad ports and passwords: 400 with a string message, nothing run on the machine", async () => {
    const before = await redisState();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: "redis", port: "6390" }, /reserved/],
      [{ name: "redis-server", port: "6390" }, /reserved/],
      [{ name: "mysql", port: "6390" }, /reserved/],
      [{ name: "postgresql", port: "6390" }, /reserved/],
      [{ name: "../etc", port: "6390" }, /name/],
      [{ name: "a;id", port: "6390" }, /name/],
      [{ name: "$(id)", port: "6390" }, /name/],
      [{ name: "Cache", port: "6390" }, /name/],
      [{ name: "c".repeat(41), port: "6390" }, /name/],
      [{ name: "ok-name", port: "80" }, /port/],
      [{ name: "ok-name", port: "70000" }, /port/],
      [{ name: "ok-name", port: "6390; id" }, /port/],
      [{ name: "ok-name", port: "abc" }, /port/],
      [{ name: "ok-name", port: "6390", password: "pass\nport 1" }, /password/],
      [{ name: "ok-name", port: "6390", password: "has space1" }, /password/],
      [{ name: "ok-name", port: "6390", password: "short" }, /password/],
    ];
    for (const [body, message] of cases) {
      const response = await deploy(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(typeof response.body.message).toBe("string");
      expect(response.body.message as string).toMatch(message);
    }
    // No SSH login happened at all, so nothing could run.
    expect(await vps.sshSessionCount()).toBe(0);
    expect(await vps.systemctlCalls()).toEqual([]);
    expect(await redisState()).toBe(before);
    expect(await dbs.drizzleDb.select().from(caching)).toEqual([]);
  });

  test("a busy port (the package's own 6379) is refused with a message naming the port; nothing is written", async () => {
    const before = await redisState();
    const response = await deploy({ name: "on-default", port: "6379" });
    expect(response.status).toBe(409);
    expect((response.body.message as string).toLowerCase()).toContain("port");
    expect(await redisState()).toBe(before);
    expect(await rowsNamed("on-default")).toEqual([]);
    expect((await vps.systemctlCalls()).filter((call) => call.includes("on-default"))).toEqual([]);
  });

  test("another user's machine: 403", async () => {
    const response = await deploy({ name: "intruder", port: "6395" }, OTHER);
    expect(response.status).toBe(403);
  });
});

describe("deploy-redis on a machine with Redis installed", () => {
  let firstId = 0;

  test("answers the exact shape; the server runs under its enabled unit as redis and answers AUTH+PING over TCP", async () => {
    const seen: string[] = [];
    let deploying = true;
    const watcher = (async () => {
      for (let i = 0; i < 300 && deploying; i++) seen.push(await out(vps, "ps -eo args"));
    })();
    const response = await deploy({ name: "my-cache", port: "6380" });
    deploying = false;
    await watcher;
    expect(response.status).toBe(200);
    firstId = response.body.id as number;
    expect(response.body).toEqual({
      status: 200,
      message: `Redis server my-cache deployed on ${vps.ip}:6380`,
      id: firstId,
      connectionString: `redis://:${encodeURIComponent(PASSWORD)}@${vps.ip}:6380`,
    });
    expect(await ping(6380)).toBe(true);
    expect(await ping(6380, "wrong-password")).toBe(false);
    expect(await out(vps, "systemctl is-enabled redis-server@my-cache")).toBe("enabled");
    expect(await out(vps, "ps -o user= -p $(cat /run/zsl-sandbox/state/redis-units/redis-server@my-cache.pid)")).toBe("redis");
    // The password never appeared on a command line, and $(...) in it ran nothing.
    expect(seen.length).toBeGreaterThan(0);
    for (const snapshot of seen) expect(snapshot).not.toContain(PASSWORD);
    expect(await out(vps, "ls /tmp/pwned 2>&1 || true")).toContain("No such file");
    const [row] = await rowsNamed("my-cache");
    expect(row?.status).toBe("running");
    expect(row?.password.startsWith("enc:v1:")).toBe(true);
  });

  test("config 0640 redis:redis with the required directives; no world-readable file or log holds the password", async () => {
    expect(await out(vps, "stat -c '%a %U %G' /etc/redis/redis-my-cache.conf")).toBe("640 redis redis");
    // The package's own directories keep their owners and modes.
    expect(await out(vps, "stat -c '%a %U %G' /etc/redis /var/lib/redis /var/log/redis")).toBe("2770 redis redis\n750 redis redis\n2750 redis adm");
    const config = await out(vps, "cat /etc/redis/redis-my-cache.conf");
    for (const line of ["port 6380", "bind 0.0.0.0 -::*", "protected-mode yes", "dir /var/lib/redis/my-cache", "appendonly yes", "supervised systemd", "maxmemory 256mb", "maxmemory-policy noeviction"]) {
      expect(config.split("\n")).toContain(line);
    }
    expect(config).toMatch(/^requirepass "/m);
    // The raw password is nowhere on the machine's disk (the config holds it escaped only).
    expect(await out(vps, `grep -rlF -- ${shellQuote(PASSWORD)} /etc /var/lib/redis /var/log /tmp /root 2>/dev/null || true`)).toBe("");
    expect(await out(vps, "find /etc/redis /var/lib/redis /var/log/redis -perm -o+r -type f")).toBe("");
    expect(JSON.stringify(logger.lines)).not.toContain(PASSWORD);
  });

  test("a second server on the same machine; the same port or name again is refused with 409", async () => {
    const second = await deploy({ name: "second-cache", port: "6381", password: "another-pass-1", maxMemoryMb: 64 });
    expect(second.status).toBe(200);
    expect(await ping(6380)).toBe(true);
    expect(await ping(6381, "another-pass-1")).toBe(true);
    expect(await out(vps, "grep '^maxmemory ' /etc/redis/redis-second-cache.conf")).toBe("maxmemory 64mb");

    const samePort = await deploy({ name: "third-cache", port: "6380" });
    expect(samePort.status).toBe(409);
    expect((samePort.body.message as string).toLowerCase()).toContain("port");
    const sameName = await deploy({ name: "my-cache", port: "6382" });
    expect(sameName.status).toBe(409);
    expect(await rowsNamed("third-cache")).toEqual([]);
  });

  test("get-redis-server: exactly 200, the caller's servers by id, passwords in clear, non-null strings", async () => {
    const response = await app.request("GET", "/get-redis-server", { userId: OWNER });
    expect(response.status).toBe(200);
    expect(response.body.message).toBe("Redis Server Fetched Successfully.");
    const data = response.body.data as Array<Record<string, unknown>>;
    expect(data.map((row) => [row.cacheName, row.port, row.password, row.cachingType, row.status, row.host, row.vpsId, row.userId])).toEqual([
      ["my-cache", 6380, PASSWORD, "redis", "running", vps.ip, machineId, OWNER],
      ["second-cache", 6381, "another-pass-1", "redis", "running", vps.ip, machineId, OWNER],
    ]);
    expect(data[0]?.id).toBe(firstId);
    expect(Object.keys(data[0] ?? {}).sort()).toEqual(["cacheName", "cachingType", "createdAt", "host", "id", "password", "port", "status", "userId", "vpsId"]);
    expect(new Date(data[0]?.createdAt as string).toISOString()).toBe(data[0]?.createdAt as string);
    const other = await app.request("GET", "/get-redis-server", { userId: OTHER });
    expect(other.body).toEqual({ message: "Redis Server Fetched Successfully.", data: [] });
  });

  test("get-port lists exactly the recorded and the listening ports, ascending; another's machine is refused", async () => {
    const response = await app.request("GET", `/get-port/${machineId}`, { userId: OWNER });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { usedPorts: [22, 6379, 6380, 6381] } });
    expect((await app.request("GET", `/get-port/${machineId}`, { userId: OTHER })).status).toBe(403);
    expect((await app.request("GET", `/get-port/999999`, { userId: OWNER })).status).toBe(403);
  });
});

describe("stop, start, delete", () => {
  test("stop → start keeps the data; both are idempotent; status follows; a stopped server's port stays reported", async () => {
    const [, set] = await redisOn(6380, [["SET", "greeting", "hello"]]);
    expect(set).toEqual({ kind: "simple", text: "OK" });
    const stopped = await action("stop-redis-server", "my-cache", 6380);
    expect(stopped.status).toBe(200);
    expect(stopped.body.message).toBe("Redis server my-cache stopped");
    expect(await listeningOn(6380)).toBe(false);
    expect((await rowsNamed("my-cache"))[0]?.status).toBe("stopped");
    expect((await action("stop-redis-server", "my-cache", 6380)).status).toBe(200);
    expect((await app.request("GET", `/get-port/${machineId}`, { userId: OWNER })).body).toEqual({ data: { usedPorts: [22, 6379, 6380, 6381] } });

    const seen: string[] = [];
    let starting = true;
    const watcher = (async () => {
      for (let i = 0; i < 300 && starting; i++) seen.push(await out(vps, "ps -eo args"));
    })();
    const started = await action("start-stopped-redis-server", "my-cache", 6380);
    starting = false;
    await watcher;
    expect(started.status).toBe(200);
    expect(started.body.message).toBe("Redis server my-cache started");
    for (const snapshot of seen) expect(snapshot).not.toContain(PASSWORD);
    expect((await rowsNamed("my-cache"))[0]?.status).toBe("running");
    expect((await action("start-stopped-redis-server", "my-cache", 6380)).status).toBe(200);
    const [, value] = await redisOn(6380, [["GET", "greeting"]]);
    expect(value).toEqual({ kind: "bulk", value: "hello" });
  });

  test("a server killed behind the service's back is running again after start, with its data", async () => {
    await redisOn(6380, [["SET", "survivor", "yes"]]);
    // appendfsync everysec: let the AOF catch up before the kill.
    await Bun.sleep(1_500);
    await vps.exec("kill -9 $(cat /run/zsl-sandbox/state/redis-units/redis-server@my-cache.pid)");
    expect(await ping(6380)).toBe(false);
    const started = await action("start-stopped-redis-server", "my-cache", 6380);
    expect(started.status).toBe(200);
    expect(await ping(6380)).toBe(true);
    const [, value] = await redisOn(6380, [["GET", "survivor"]]);
    expect(value).toEqual({ kind: "bulk", value: "yes" });
  });

  test("tenancy: another user's server by port or name is not found, by machine refused; nothing changes", async () => {
    for (const route of ["stop-redis-server", "start-stopped-redis-server", "delete-redis-server"] as const) {
      expect((await action(route, "my-cache", 6380, OTHER, otherMachineId)).status).toBe(404);
      expect((await action(route, "my-cache", 6380, OTHER, machineId)).status).toBe(403);
      // The owner naming a wrong name for a port (or a wrong port for a name) matches nothing.
      expect((await action(route, "second-cache", 6380)).status).toBe(404);
      expect((await action(route, "my-cache", 6381)).status).toBe(404);
    }
    expect(await ping(6380)).toBe(true);
    expect(await ping(6381, "another-pass-1")).toBe(true);
    expect((await rowsNamed("my-cache"))[0]?.status).toBe("running");
  });

  test("a stop that cannot be verified fails with the step named and leaves the status alone", async () => {
    await vps.exec("mv /etc/redis/redis-second-cache.conf /etc/redis/moved-away");
    try {
      const response = await action("stop-redis-server", "second-cache", 6381);
      expect(response.status).toBe(502);
      expect(response.body.message as string).toContain("stopping the server");
    } finally {
      await vps.exec("mv /etc/redis/moved-away /etc/redis/redis-second-cache.conf");
    }
    expect((await rowsNamed("second-cache"))[0]?.status).toBe("running");
    expect(await ping(6381, "another-pass-1")).toBe(true);
  });

  test("a delete that fails keeps the row and names the step; retried, it completes", async () => {
    // /etc/redis read-only for a moment: the config cannot be removed.
    await vps.exec("mount --bind -o ro /etc/redis /etc/redis");
    try {
      const response = await action("delete-redis-server", "second-cache", 6381);
      expect(response.status).toBe(502);
      expect(response.body.message as string).toContain("removing the server's files");
    } finally {
      await vps.exec("umount /etc/redis");
    }
    expect(await rowsNamed("second-cache")).toHaveLength(1);
  });

  test("delete leaves no unit, config, data, log or row; a second delete is 404", async () => {
    const response = await action("delete-redis-server", "second-cache", 6381);
    expect(response.status).toBe(200);
    expect(response.body.message).toBe("Redis server second-cache deleted");
    expect(await listeningOn(6381)).toBe(false);
    expect(await out(vps, "systemctl is-enabled redis-server@second-cache; systemctl is-active redis-server@second-cache")).toBe("disabled\ninactive");
    expect(await out(vps, "ls -d /etc/redis/redis-second-cache.conf /var/lib/redis/second-cache /var/log/redis/redis-server-second-cache.log 2>/dev/null | wc -l")).toBe("0");
    expect(await rowsNamed("second-cache")).toEqual([]);
    expect((await action("delete-redis-server", "second-cache", 6381)).status).toBe(404);
    // The other server and the package's own instance are untouched.
    expect(await ping(6380)).toBe(true);
    expect(await out(vps, "ls /etc/redis")).toBe("redis-my-cache.conf\nredis.conf");
  });

  test("a server adopted from the previous implementation: its plaintext password is sealed on first read, it cannot be stopped (409), delete only forgets it", async () => {
    await dbs.drizzleDb.insert(caching).values({ cacheName: "legacy", password: "plain-pass", host: vps.ip, vpsId: machineId, userId: OWNER, port: 6390, status: "running" });
    const listed = (await app.request("GET", "/get-redis-server", { userId: OWNER })).body.data as Array<Record<string, unknown>>;
    expect(listed.find((row) => row.cacheName === "legacy")?.password).toBe("plain-pass");
    expect((await rowsNamed("legacy"))[0]?.password.startsWith("enc:v1:")).toBe(true);
    const stop = await action("stop-redis-server", "legacy", 6390);
    expect(stop.status).toBe(409);
    expect(typeof stop.body.message).toBe("string");
    const before = await redisState();
    const calls = (await vps.systemctlCalls()).length;
    const removed = await action("delete-redis-server", "legacy", 6390);
    expect(removed.status).toBe(200);
    expect(await rowsNamed("legacy")).toEqual([]);
    expect(await redisState()).toBe(before);
    expect((await vps.systemctlCalls()).length).toBe(calls);
  });
});

describe("failures roll everything back", () => {
  const leftovers = (name: string) =>
    out(vps, `ls -d /etc/redis/redis-${name}.conf /var/lib/redis/${name} /var/log/redis/redis-server-${name}.log 2>/dev/null | wc -l; systemctl is-enabled redis-server@${name}; systemctl is-active redis-server@${name}`);

  test("the unit does not start: 502 naming the step, no config, data, log, enabled unit or row", async () => {
    await vps.setServiceManagerFailing(true);
    try {
      const response = await deploy({ name: "wont-start", port: "6410" });
      expect(response.status).toBe(502);
      expect(response.body.message as string).toContain("starting the server");
    } finally {
      await vps.setServiceManagerFailing(false);
    }
    expect(await leftovers("wont-start")).toBe("0\ndisabled\ninactive");
    expect(await rowsNamed("wont-start")).toEqual([]);
  });

  test("the server does not answer AUTH+PING over TCP: 502, and it is stopped, disabled and removed again", async () => {
    const failingProbe = startTestApp({ store: dbs.store, caching: dbs.caching, registry: dbs.registry, redisProbe: async () => Promise.reject(new Error("no answer")) });
    try {
      const response = await failingProbe.request("POST", "/deploy-redis", { userId: OWNER, body: { name: "no-answer", password: PASSWORD, vpsId: machineId, vpsIp: vps.ip, port: "6411" } });
      expect(response.status).toBe(502);
      expect(response.body.message as string).toContain("AUTH and PING");
    } finally {
      await failingProbe.stop();
    }
    expect(await leftovers("no-answer")).toBe("0\ndisabled\ninactive");
    expect(await listeningOn(6411)).toBe(false);
    expect(await rowsNamed("no-answer")).toEqual([]);
  });

  test("a deploy interrupted by a crash is undone at reconciliation; an unreachable machine's row is marked failed", async () => {
    const row = await dbs.caching.insertDeploying({ cacheName: "crashed", password: "sealed", host: vps.ip, vpsId: machineId, userId: OWNER, port: 6412, unitInstance: "crashed" });
    const lost = await dbs.caching.insertDeploying({ cacheName: "lost", password: "sealed", host: "192.0.2.1", vpsId: 999_999, userId: OWNER, port: 6413, unitInstance: "lost" });
    const machine = await dbs.registry.findOwned(machineId, OWNER);
    if (!machine) throw new Error("the test machine is not registered");
    const target = sshTargetFor(machine, { user: "root", port: 22 }, TEST_ENCRYPTION_KEY);
    const leases = createDirectLeases(5_000);
    // What the crashed process had done on the machine: the whole deploy, not yet recorded as running.
    await leases.withLease(target, (ssh) => new RedisSSHHelper(ssh, TEST_SSH, vps.ip).deploy({ instance: "crashed", port: 6412, deployId: row.id, password: "crashed-pass" }));
    expect(await listeningOn(6412)).toBe(true);
    const result = await reconcileUnfinishedRedisDeploys(
      { caching: dbs.caching, registry: dbs.registry, leases, audit: noAudit, encryptionKey: TEST_ENCRYPTION_KEY, ssh: TEST_SSH, logger },
      new Date(Date.now() + 60_000),
    );
    expect(result).toEqual({ rolledBack: 1, failed: 1 });
    expect(await leftovers("crashed")).toBe("0\ndisabled\ninactive");
    expect(await rowsNamed("crashed")).toEqual([]);
    expect((await rowsNamed("lost"))[0]?.status).toBe("failed");
    await dbs.caching.remove(lost.id);
    await leases.closeAll();
  });
});

describe("concurrent deploys", () => {
  test("two deploys racing for one port: exactly one wins, the other is a 409 naming the port", async () => {
    const responses = await Promise.all([deploy({ name: "race-a", port: "6420" }), deploy({ name: "race-b", port: "6420" })]);
    expect(responses.map((response) => response.status).sort()).toEqual([200, 409]);
    const loser = responses.find((response) => response.status === 409);
    expect((loser?.body.message as string).toLowerCase()).toContain("port");
    const winner = responses[0]?.status === 200 ? "race-a" : "race-b";
    expect(await ping(6420)).toBe(true);
    expect((await dbs.drizzleDb.select().from(caching).where(eq(caching.port, 6420))).map((row) => row.cacheName)).toEqual([winner]);
    expect((await action("delete-redis-server", winner, 6420)).status).toBe(200);
  });
});

describe("deploy-redis on a machine without Redis", () => {
  test("installs redis-server (awaited), then deploys; the package's own 6379 is busy afterwards", async () => {
    const response = await app.request("POST", "/deploy-redis", {
      userId: OWNER,
      body: { name: "fresh-cache", password: "fresh-pass-1", vpsId: bareMachineId, vpsIp: bare.ip, port: "6400" },
    });
    expect(response.status).toBe(200);
    expect((await bare.aptCalls()).some((call) => call.includes("install") && call.includes("redis-server"))).toBe(true);
    expect(await ping(6400, "fresh-pass-1").catch(() => false)).toBe(false); // wrong host: the bare VPS has its own address
    const [, pong] = await redisCommands({ host: bare.ip, port: 6400, password: "fresh-pass-1", timeoutMs: 5_000 }, [["PING"]]);
    expect(pong).toEqual({ kind: "simple", text: "PONG" });
    const busy = await app.request("POST", "/deploy-redis", {
      userId: OWNER,
      body: { name: "default-port", password: "fresh-pass-1", vpsId: bareMachineId, vpsIp: bare.ip, port: "6379" },
    });
    expect(busy.status).toBe(409);
    expect((busy.body.message as string).toLowerCase()).toContain("port");
  });
});

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
