import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RemoteOutputTooLargeError, RemoteTimeoutError } from "../../src/errors/appErrors";
import { SSHClient } from "../../src/ssh/SSHClient";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { canLogin } from "../support/remoteDb";
import { startTestApp, type RunningTestApp } from "../support/testApp";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../support/tokens";

/** A machine registered with an SSH key, PostgreSQL installed but stopped, no systemd. */
let vps: SandboxVps;
let dbs: TestDatabases;
let app: RunningTestApp;
let keyDir: string;
let privateKey: string;
let machineId = 0;

beforeAll(async () => {
  await removeStaleSandboxes();
  keyDir = mkdtempSync(join(tmpdir(), "zsl-key-"));
  Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "id")]);
  privateKey = readFileSync(join(keyDir, "id"), "utf8");
  vps = await startSandboxVps({ postgres: "stopped", authorizedKey: readFileSync(join(keyDir, "id.pub"), "utf8") });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  // The stored password is wrong on purpose: only the key can log in.
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: 3, rootPassword: "wrong-password", sshKey: privateKey });
  app = startTestApp({ store: dbs.store, registry: dbs.registry });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await dbs?.dropAll();
  await vps?.stop();
  rmSync(keyDir, { recursive: true, force: true });
}, 60_000);

describe("machine with an SSH key and a stopped cluster", () => {
  test("logs in with the key, starts the stopped cluster with pg_ctlcluster, and deploys", async () => {
    const response = await app.request("POST", "/deploy-postgres", {
      userId: "3",
      body: { vpsId: machineId, vpsIp: vps.ip, dbName: "keyed", userName: "keyed_user", password: "pw-1" },
    });
    expect(response.status).toBe(200);
    expect(await vps.aptCalls()).toEqual([]);
    expect(await canLogin(vps.ip, "keyed_user", "pw-1", "keyed")).toBe(true);
    const tables = await app.request("POST", "/get-tables-list", { userId: 3, body: { databaseName: "keyed", vpsId: machineId, vpsIp: vps.ip } });
    expect(tables.body).toEqual({ status: 200, data: [], message: "Tables list fetched successfully" });
  }, 60_000);
});

describe("SSHClient", () => {
  const connect = async () => {
    const ssh = new SSHClient({ host: vps.ip, port: 22, username: "root", privateKey, connectTimeoutMs: 5_000 });
    await ssh.connect();
    return ssh;
  };

  test("exec keeps stdout, stderr and the exit code apart and feeds stdin", async () => {
    const ssh = await connect();
    try {
      const chunks: string[] = [];
      const result = await ssh.exec("cat; echo oops >&2; exit 3", { stdin: "from stdin\n", timeoutMs: 5_000, onLog: (chunk) => chunks.push(chunk) });
      expect(result).toEqual({ command: "cat; echo oops >&2; exit 3", stdout: "from stdin\n", stderr: "oops\n", exitCode: 3 });
      expect(chunks.join("")).toContain("from stdin");
    } finally {
      ssh.close();
    }
  });

  test("a buffered command past its output cap is stopped with RemoteOutputTooLargeError, and the connection stays usable", async () => {
    const ssh = await connect();
    try {
      await expect(ssh.exec("head -c 3000000 /dev/zero", { timeoutMs: 5_000, maxStdoutBytes: 1_000_000 })).rejects.toBeInstanceOf(RemoteOutputTooLargeError);
      expect((await ssh.exec("echo still here", { timeoutMs: 5_000 })).stdout).toBe("still here\n");
    } finally {
      ssh.close();
    }
  });

  test("progress extends a command's timer, but never past its deadline", async () => {
    const ssh = await connect();
    try {
      const extended = await ssh.exec("echo step; sleep 0.6; echo done", { timeoutMs: 300, onStdout: (_chunk, control) => control.extendTimeout(2_000) });
      expect(extended.stdout).toBe("step\ndone\n");
      const started = Date.now();
      const chatty = ssh.exec("for i in 1 2 3 4 5 6 7 8 9 10; do echo tick; sleep 0.2; done", { timeoutMs: 300, deadlineMs: 700, onStdout: (_chunk, control) => control.extendTimeout(300) });
      await expect(chatty).rejects.toBeInstanceOf(RemoteTimeoutError);
      expect(Date.now() - started).toBeLessThan(1_800);
    } finally {
      ssh.close();
    }
  });

  test("a command over its time limit fails with a timeout", async () => {
    const ssh = await connect();
    try {
      await expect(ssh.exec("sleep 5", { timeoutMs: 300 })).rejects.toBeInstanceOf(RemoteTimeoutError);
    } finally {
      ssh.close();
    }
  });
});
