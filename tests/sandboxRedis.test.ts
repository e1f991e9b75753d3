/**
 * The sandbox VPS's Redis: Debian's real redis-server, run by the stand-in systemctl as the
 * redis user through the package's units, with state dirs private to the VPS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "./support/sandboxVps";

const sandboxes: SandboxVps[] = [];
let installed: SandboxVps;
let absent: SandboxVps;

beforeAll(async () => {
  await removeStaleSandboxes();
  [installed, absent] = await Promise.all([
    startSandboxVps({ postgres: "absent", systemd: true, redis: "installed" }),
    startSandboxVps({ postgres: "absent", systemd: true, redis: "absent" }),
  ]);
  sandboxes.push(installed, absent);
}, 60_000);

afterAll(async () => {
  for (const vps of sandboxes) await vps.stop();
}, 60_000);

const out = async (vps: SandboxVps, command: string) => (await vps.exec(command)).stdout.trim();

describe("sandbox Redis", () => {
  test("installed: the package's own instance listens on 127.0.0.1:6379 as the redis user", async () => {
    expect(await out(installed, "ss -ltnH 'sport = :6379' | awk '{ print $4 }' | sort")).toBe("127.0.0.1:6379\n[::1]:6379");
    expect(await out(installed, "ps -o user= -C redis-server")).toBe("redis");
    expect(await out(installed, "systemctl is-active redis-server")).toBe("active");
    // The host's own state dirs are not the sandbox's.
    await installed.exec("touch /var/lib/redis/zsl-probe");
    expect(existsSync("/var/lib/redis/zsl-probe")).toBe(false);
  });

  test("absent: redis-server does not run until apt-get installs it, then 6379 is busy", async () => {
    expect((await absent.exec("redis-server --version")).exitCode).not.toBe(0);
    expect((await absent.exec("apt-get install -y redis-server")).exitCode).toBe(0);
    expect(await out(absent, "redis-server --version >/dev/null && echo ok")).toBe("ok");
    expect(await out(absent, "ss -ltnH 'sport = :6379' | wc -l")).toBe("2");
  });

  test("template units run /etc/redis/redis-<instance>.conf as redis; enable, is-enabled, stop, disable", async () => {
    const conf = "port 7101\\nbind 127.0.0.1\\ndir /var/lib/redis\\ndbfilename t.rdb\\n";
    await installed.exec(`printf '${conf}' > /etc/redis/redis-t.conf && chown redis:redis /etc/redis/redis-t.conf`);
    expect((await installed.exec("systemctl enable --now redis-server@t")).exitCode).toBe(0);
    expect(await out(installed, "redis-cli -p 7101 ping")).toBe("PONG");
    expect(await out(installed, "systemctl is-enabled redis-server@t")).toBe("enabled");
    expect(await out(installed, "ps -o user= -p $(cat /run/zsl-sandbox/state/redis-units/redis-server@t.pid)")).toBe("redis");
    expect(await out(installed, "systemctl stop redis-server@t; systemctl is-active redis-server@t")).toBe("inactive");
    expect(await out(installed, "ss -ltnH 'sport = :7101' | wc -l")).toBe("0");
    expect(await out(installed, "systemctl disable redis-server@t; systemctl is-enabled redis-server@t")).toBe("disabled");
    expect((await installed.exec("systemctl start redis-server@missing")).exitCode).not.toBe(0);
  });
});
