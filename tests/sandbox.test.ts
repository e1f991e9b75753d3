/**
 * Proves the sandbox VPS harness behaves like the real servers the storage
 * layer deploys to: root SSH with a password, Debian's PostgreSQL tooling,
 * a stand-in apt-get/systemctl, and complete isolation from this host.
 * Needs root (namespaces, mounts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { Client } from "ssh2";
import { removeStaleSandboxes, startSandboxVps, type SandboxOptions, type SandboxVps } from "./support/sandboxVps";

const TEST_TIMEOUT_MS = 60_000;
const HOOK_TIMEOUT_MS = 60_000;

interface SshResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

function connect(host: string, password: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .once("ready", () => resolve(client))
      .once("error", reject)
      .connect({ host, port: 22, username: "root", password, readyTimeout: 10_000, tryKeyboard: false });
  });
}

function execOn(client: Client, command: string): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, stream) => {
      if (error) return reject(error);
      let stdout = "";
      let stderr = "";
      stream.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      stream.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      stream.once("close", (code: number | null) => resolve({ stdout, stderr, code }));
    });
  });
}

/** One command over a fresh SSH connection, the way the service talks to a VPS. */
async function ssh(vps: SandboxVps, command: string): Promise<SshResult> {
  const client = await connect(vps.ip, vps.rootPassword);
  try {
    return await execOn(client, command);
  } finally {
    client.end();
  }
}

/** Bounded polling for asynchronous effects such as sshd reaping a closed session. */
async function eventually<T>(read: () => Promise<T>, expected: T, attempts = 50, intervalMs = 100): Promise<T> {
  let value = await read();
  for (let i = 0; i < attempts && value !== expected; i++) {
    await Bun.sleep(intervalMs);
    value = await read();
  }
  return value;
}

/** Whether the VPS's running 15/main postmaster has `path` open. */
async function postmasterHolds(vps: SandboxVps, path: string): Promise<boolean> {
  const pid = "$(head -1 /var/lib/postgresql/15/main/postmaster.pid)";
  const result = await vps.exec(`for fd in /proc/${pid}/fd/*; do readlink "$fd"; done`);
  expect(result.exitCode).toBe(0);
  return result.stdout.split("\n").includes(path);
}

function hostCommand(argv: string[]): string {
  const result = Bun.spawnSync(argv, { stdin: "ignore" });
  return result.stdout.toString();
}

function netnsNames(): string {
  return hostCommand(["ip", "netns", "list"]);
}

/** Root's entry in the host's shadow file; the VPS must only ever change its private copy. */
function hostRootShadowEntry(): string {
  return readFileSync("/etc/shadow", "utf8").split("\n").find((line) => line.startsWith("root:")) ?? "";
}

// Only things this harness could break are compared: the host's PostgreSQL
// cluster itself may legitimately be started or stopped by other tooling
// while these tests run (checked by hand instead, see the report).
const hostRootShadowBefore = hostRootShadowEntry();

beforeAll(async () => {
  await removeStaleSandboxes();
});

/** Every sandbox this file starts; other test files may run their own sandboxes concurrently. */
const started: SandboxVps[] = [];

async function start(options: SandboxOptions): Promise<SandboxVps> {
  const vps = await startSandboxVps(options);
  started.push(vps);
  return vps;
}

afterAll(() => {
  expect(hostRootShadowEntry()).toBe(hostRootShadowBefore);
  const namespaces = netnsNames();
  for (const vps of started) {
    expect(namespaces).not.toContain(vps.name);
    expect(existsSync(`/tmp/zsl-sandbox/${vps.name}`)).toBe(false);
  }
});

describe("absent PostgreSQL, no systemd", () => {
  let vps: SandboxVps;

  beforeAll(async () => {
    vps = await start({ postgres: "absent", rootPassword: "correct horse battery" });
  }, HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await vps?.stop();
  });

  test("root can log in over SSH with the password", async () => {
    expect(vps.rootPassword).toBe("correct horse battery");
    const result = await ssh(vps, "id -un");
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe("root");
  }, TEST_TIMEOUT_MS);

  test("a wrong password is refused", async () => {
    await expect(connect(vps.ip, "wrong password")).rejects.toThrow(/authentication/i);
  }, TEST_TIMEOUT_MS);

  test("exec() sees the VPS's private mounts while the host keeps its own", async () => {
    const run = await vps.exec("findmnt -n -o FSTYPE /run; grep '^root:' /etc/shadow | cut -d: -f2");
    expect(run.exitCode).toBe(0);
    const [runFsType, rootHash] = run.stdout.trim().split("\n");
    expect(runFsType).toBe("tmpfs");
    expect(rootHash).toStartWith("$6$");
    expect(readFileSync("/etc/shadow", "utf8")).not.toContain(rootHash as string);
    expect(hostRootShadowEntry()).toBe(hostRootShadowBefore);

    const marker = `zsl-marker-${vps.name}`;
    const touched = await vps.exec(`touch /run/postgresql/${marker} && ls -ld /run/postgresql && ls /run/postgresql`);
    expect(touched.stdout).toStartWith("drwxrwsr-x");
    expect(touched.stdout).toContain(marker);
    expect(existsSync(`/run/postgresql/${marker}`)).toBe(false);
  }, TEST_TIMEOUT_MS);

  test("without systemd there is no /run/systemd/system and no stand-in systemctl", async () => {
    const result = await vps.exec("[ -d /run/systemd/system ] || echo no-systemd; ls /usr/local/sbin");
    expect(result.stdout).toContain("no-systemd");
    expect(result.stdout).not.toContain("systemctl");
  }, TEST_TIMEOUT_MS);

  test("apt-get install makes a running cluster appear", async () => {
    const before = await ssh(vps, "ls /usr/lib/postgresql/*/bin/postgres");
    expect(before.code).not.toBe(0);

    // Holding a lock on fd 9 like a deployment script would: real apt-get
    // never lets the started server inherit it.
    const install = await ssh(
      vps,
      "exec 9>/run/lock/zsl-test.lock; export DEBIAN_FRONTEND=noninteractive; apt-get update && apt-get install -y postgresql postgresql-contrib",
    );
    expect(install.code).toBe(0);

    const after = await ssh(vps, "ls /usr/lib/postgresql/*/bin/postgres && pg_lsclusters -h");
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/^15\s+main\s+5432\s+online/m);
    expect(await vps.aptCalls()).toEqual(["update", "install -y postgresql postgresql-contrib"]);
    expect(await postmasterHolds(vps, "/run/lock/zsl-test.lock")).toBe(false);
  }, TEST_TIMEOUT_MS);

  test("sshSessionCount() follows open SSH connections", async () => {
    expect(await eventually(() => vps.sshSessionCount(), 0)).toBe(0);
    const client = await connect(vps.ip, vps.rootPassword);
    try {
      expect(await vps.sshSessionCount()).toBe(1);
    } finally {
      client.end();
    }
    expect(await eventually(() => vps.sshSessionCount(), 0)).toBe(0);
  }, TEST_TIMEOUT_MS);
});

describe("stand-in systemd", () => {
  let vps: SandboxVps;

  beforeAll(async () => {
    vps = await start({ postgres: "absent", systemd: true });
  }, HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await vps?.stop();
  });

  test("apt-get install starts the new cluster through systemctl", async () => {
    const install = await ssh(vps, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql");
    expect(install.code).toBe(0);
    expect(await vps.aptCalls()).toEqual(["install -y -q postgresql"]);
    // pg_createcluster --start -> pg_ctlcluster -> redirect to systemctl, as on a real Debian host.
    expect(await vps.systemctlCalls()).toContain("start postgresql@15-main");
  }, TEST_TIMEOUT_MS);

  test("systemctl is-active reports the cluster and the call is recorded", async () => {
    const result = await ssh(vps, "systemctl is-active postgresql");
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe("active");
    expect(await vps.systemctlCalls()).toContain("is-active postgresql");
  }, TEST_TIMEOUT_MS);

  test("a failing service manager makes restarts fail until it recovers", async () => {
    await vps.setServiceManagerFailing(true);
    const broken = await ssh(vps, "systemctl restart postgresql");
    expect(broken.code).not.toBe(0);

    await vps.setServiceManagerFailing(false);
    const fixed = await ssh(vps, "systemctl restart postgresql@15-main && systemctl is-active postgresql@15-main.service");
    expect(fixed.code).toBe(0);
    expect(fixed.stdout.trim()).toBe("active");
  }, TEST_TIMEOUT_MS);

  test("services started through systemctl do not inherit the caller's descriptors", async () => {
    const restart = await ssh(vps, "exec 9>/run/lock/zsl-test.lock; systemctl restart postgresql");
    expect(restart.code).toBe(0);
    expect(await postmasterHolds(vps, "/run/lock/zsl-test.lock")).toBe(false);
  }, TEST_TIMEOUT_MS);

  test("pg_ctlcluster as root is redirected through the stand-in systemctl", async () => {
    const stop = await ssh(vps, "pg_ctlcluster 15 main stop; systemctl is-active postgresql");
    expect(stop.stdout.trim()).toBe("inactive");
    expect(stop.code).toBe(3);
    expect(await vps.systemctlCalls()).toContain("stop postgresql@15-main");
  }, TEST_TIMEOUT_MS);
});

describe("several sandboxes at once", () => {
  let running: SandboxVps;
  let stopped: SandboxVps;
  let noCluster: SandboxVps;

  beforeAll(async () => {
    [running, stopped, noCluster] = await Promise.all([
      start({ postgres: "running" }),
      start({ postgres: "stopped" }),
      start({ postgres: "no-cluster" }),
    ]);
  }, HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all([running?.stop(), stopped?.stop(), noCluster?.stop()]);
  });

  test("they get distinct addresses", () => {
    const ips = new Set([running.ip, stopped.ip, noCluster.ip]);
    expect(ips.size).toBe(3);
    expect(running.hostIp).toMatch(/^10\.217\.\d+\.1$/);
    expect(running.ip).toBe(running.hostIp.replace(/\.1$/, ".2"));
  });

  test("running: sudo -u postgres psql works over SSH", async () => {
    const result = await ssh(running, "sudo -u postgres psql -tAc 'select 1'");
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe("1");
  }, TEST_TIMEOUT_MS);

  test("stopped and no-cluster have the expected PostgreSQL state", async () => {
    const stoppedClusters = await stopped.exec("pg_lsclusters -h");
    expect(stoppedClusters.stdout).toMatch(/^15\s+main\s+5432\s+down/m);

    const bare = await noCluster.exec("ls /usr/lib/postgresql/*/bin/postgres >/dev/null && ls -A /etc/postgresql | wc -l");
    expect(bare.exitCode).toBe(0);
    expect(bare.stdout.trim()).toBe("0");
  }, TEST_TIMEOUT_MS);

  test("stop() removes the namespace and is idempotent", async () => {
    const name = stopped.name;
    expect(netnsNames()).toContain(name);
    await stopped.stop();
    await stopped.stop();
    expect(netnsNames()).not.toContain(name);
    expect(existsSync(`/tmp/zsl-sandbox/${name}`)).toBe(false);
  }, TEST_TIMEOUT_MS);
});
