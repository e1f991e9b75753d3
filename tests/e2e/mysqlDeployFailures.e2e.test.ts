import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import { eq } from "drizzle-orm";
import mysql from "mysql2/promise";
import { deployed_db } from "../../src/metadata/schema";

/**
 * Failures inside the remote deploy script: a machine (no systemd, MariaDB installed and running
 * by someone else, root with a password) whose tools fail at one step through stand-ins first
 * on root's PATH. Whatever the step, the deploy answers a clear error and leaves no database,
 * no user and no row behind.
 */
const OWNER = 7;
const ROOT_PASSWORD = "failures-root-pw";

const deploy = (dbName: string, userName: string) =>
  sandbox.app.request("POST", "/deploy-mysql", {
    userId: OWNER,
    body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName, userName, password: "user-pw", rootPassword: ROOT_PASSWORD, dbType: "mysql" },
  });

async function rootSql(sql: string): Promise<string> {
  return (await sandbox.vps.exec(`/usr/bin/mysql -N -B -e ${JSON.stringify(sql)}`)).stdout.trim();
}

async function nothingLeft(dbName: string, userName: string): Promise<void> {
  expect(await rootSql(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='${dbName}'`)).toBe("0");
  expect(await rootSql(`SELECT COUNT(*) FROM mysql.user WHERE User='${userName}'`)).toBe("0");
  expect(await sandbox.dbs.drizzleDb.select().from(deployed_db).where(eq(deployed_db.dbName, dbName))).toEqual([]);
}

/**
 * A `mysql` that runs what it is given and then reports failure when the SQL creates a user:
 * as a client whose connection dropped after the server had done the work (or that created
 * one account of two) would.
 */
const MYSQL_FAILING_AFTER_CREATE_USER = `#!/bin/bash
input=$(cat)
printf '%s\\n' "$input" | /usr/bin/mysql "$@"
status=$?
case "$input" in *"CREATE USER"*) echo "ERROR 2013 (HY000): Lost connection to server during query (simulated)" >&2; exit 1 ;; esac
exit $status
`;

/** A \`service\` whose restarts fail (the server keeps running with its old settings). */
const SERVICE_FAILING_RESTART = `#!/bin/sh
[ "$2" = restart ] && { echo "Job for $1 failed (simulated)" >&2; exit 1; }
exec /usr/sbin/service "$@"
`;

const sandbox = sandboxService({ vps: { postgres: "absent", mysql: "running", systemd: false }, ownerId: OWNER });

beforeAll(async () => {
  const root = await sandbox.vps.exec(`mysql -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('${ROOT_PASSWORD}')"`);
  if (root.exitCode !== 0) throw new Error(root.stderr);
}, 180_000);

describe("deploy-mysql: a step failing on the machine", () => {
  test("CREATE USER reported failed after the server ran it: 502 naming the step; the user's accounts are dropped again, no database, no row", async () => {
    await sandbox.vps.setStandIn("mysql", MYSQL_FAILING_AFTER_CREATE_USER);
    try {
      const response = await deploy("half_user", "half_user_u");
      expect(response.status).toBe(502);
      expect(String(response.body.message)).toContain("creating the user and database");
    } finally {
      await sandbox.vps.setStandIn("mysql", undefined);
    }
    await nothingLeft("half_user", "half_user_u");
  }, 120_000);

  test("the restart that opens remote access fails: 502 naming the step; database and user dropped, no row; the next deploy restarts and works", async () => {
    expect(await rootSql("SELECT @@bind_address")).not.toBe("0.0.0.0");
    await sandbox.vps.setStandIn("service", SERVICE_FAILING_RESTART);
    try {
      const response = await deploy("no_restart", "no_restart_u");
      expect(response.status).toBe(502);
      expect(String(response.body.message)).toContain("restarting MySQL");
    } finally {
      await sandbox.vps.setStandIn("service", undefined);
    }
    await nothingLeft("no_restart", "no_restart_u");

    const retried = await deploy("no_restart", "no_restart_u");
    expect(retried.status).toBe(200);
    expect(await rootSql("SELECT @@bind_address")).toBe("0.0.0.0");
    const connection = await mysql.createConnection({ host: sandbox.vps.ip, port: 3306, user: "no_restart_u", password: "user-pw", database: "no_restart", connectTimeout: 5_000 });
    await connection.end();
  }, 180_000);
});
