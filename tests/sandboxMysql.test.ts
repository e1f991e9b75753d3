/**
 * The sandbox VPS's MySQL: the host's MariaDB in private dirs, installed by the stand-in
 * apt-get (Debian: no mysql-server candidate) and run by the stand-in systemctl's mysql/mariadb
 * units, invisible to the host. Needs root and Debian's mariadb-server.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { startSandboxVps, type SandboxVps } from "./support/sandboxVps";

const TIMEOUT_MS = 90_000;
const started: SandboxVps[] = [];

async function sandbox(options: Parameters<typeof startSandboxVps>[0]): Promise<SandboxVps> {
  const vps = await startSandboxVps(options);
  started.push(vps);
  return vps;
}

afterAll(async () => {
  for (const vps of started) await vps.stop();
});

describe("sandbox VPS: MySQL", () => {
  test(
    "absent: no server until apt-get installs default-mysql-server (mysql-server has no candidate); units start and stop it",
    async () => {
      const vps = await sandbox({ postgres: "absent", mysql: "absent", systemd: true });
      expect((await vps.exec("test -x /usr/sbin/mysqld || test -x /usr/sbin/mariadbd")).exitCode).not.toBe(0);
      expect((await vps.exec("systemctl is-active mysql")).stdout.trim()).toBe("inactive");

      const ubuntuPackage = await vps.exec("apt-get install -y mysql-server");
      expect(ubuntuPackage.exitCode).toBe(100);
      expect(ubuntuPackage.stderr).toContain("no installation candidate");

      expect((await vps.exec("apt-get install -y default-mysql-server")).exitCode).toBe(0);
      expect((await vps.exec("systemctl is-active mariadb")).stdout.trim()).toBe("active");
      const version = await vps.exec("mysql -N -e 'SELECT VERSION()'");
      expect(version.exitCode).toBe(0);
      expect(version.stdout).toContain("MariaDB");
      // A fresh install: root logs in through the socket only.
      expect((await vps.exec("mysql -N -e 'SHOW CREATE USER root@localhost'")).stdout).toContain("unix_socket");

      expect((await vps.exec("systemctl stop mysql")).exitCode).toBe(0);
      expect((await vps.exec("systemctl is-active mysql")).exitCode).toBe(3);
      expect((await vps.exec("systemctl restart mysql && systemctl is-active mysql")).stdout.trim()).toBe("active");
      expect(await vps.systemctlCalls()).toContain("start mariadb");
    },
    TIMEOUT_MS,
  );

  test(
    "running: state private to the sandbox (a database made inside is not on the host); aptHasMysqlServer offers mysql-server",
    async () => {
      const vps = await sandbox({ postgres: "absent", mysql: "running", systemd: true, aptHasMysqlServer: true });
      const created = await vps.exec("mysql -e 'CREATE DATABASE zsl_sandbox_probe'");
      expect(created.exitCode).toBe(0);
      expect((await vps.exec("ls /var/lib/mysql")).stdout).toContain("zsl_sandbox_probe");
      expect(existsSync("/var/lib/mysql/zsl_sandbox_probe")).toBe(false);
      expect((await vps.exec("apt-get install -y mysql-server")).exitCode).toBe(0);
      expect((await vps.exec("ls /run/mysqld")).stdout).toContain("mysqld.sock");
      expect(existsSync("/run/mysqld/mysqld.sock")).toBe(false);
    },
    TIMEOUT_MS,
  );
});
