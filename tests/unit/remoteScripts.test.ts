import { describe, expect, test } from "bun:test";
import { bashScriptCommand } from "../../src/engines/shell";
import { assertBackupPath, deployScript, dropDatabaseSql, postgresDumpScript, psqlAsDatabaseOwnerCommand, psqlAsPostgresCommand, readBackupScript, removeBackupScript, roleAndDatabaseSql } from "../../src/engines/postgres/remoteScripts";

const hostilePassword = `p'a"s$s\`w\\o%rd\n;DROP ROLE x;--ü✓`;

describe("remote scripts", () => {
  test("the deploy script is valid bash", async () => {
    const script = deployScript({ roleAndDatabaseSql: roleAndDatabaseSql({ dbName: "shop", userName: "shop_user", password: hostilePassword, deployId: 1 }) });
    const check = Bun.spawnSync(["bash", "-n"], { stdin: Buffer.from(script) });
    expect(check.stderr.toString()).toBe("");
    expect(check.exitCode).toBe(0);
  });

  test("the password never appears in the deploy script's text, only base64 inside it", () => {
    const sql = roleAndDatabaseSql({ dbName: "shop", userName: "shop_user", password: hostilePassword, deployId: 1 });
    const script = deployScript({ roleAndDatabaseSql: sql });
    expect(script).not.toContain(hostilePassword);
    expect(script).not.toContain("DROP ROLE x");
    const encoded = /printf '%s' '([A-Za-z0-9+/=]+)'/.exec(script)?.[1] ?? "";
    expect(Buffer.from(encoded, "base64").toString("utf8")).toBe(sql);
  });

  test("the role SQL quotes the password as a literal with quotes doubled", () => {
    const sql = roleAndDatabaseSql({ dbName: "shop", userName: "shop_user", password: "it's", deployId: 1 });
    expect(sql).toContain("PASSWORD 'it''s'");
    expect(sql).toContain("SET standard_conforming_strings = on;");
    expect(sql).toContain('CREATE DATABASE "shop" OWNER "shop_user";');
  });

  test("commands carry no secrets and only fixed text", () => {
    expect(bashScriptCommand("root")).toBe("bash -s");
    expect(bashScriptCommand("deploy")).toBe("sudo -n bash -s");
    expect(psqlAsPostgresCommand({ port: 5433 })).toContain('"$PSQL" -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d');
    expect(psqlAsPostgresCommand({ port: 5433 })).toContain("options=");
    expect(psqlAsPostgresCommand({ port: 5433 })).toContain("-csearch_path=pg_catalog,pg_temp");
    for (const command of [psqlAsPostgresCommand({ port: 5433 }), psqlAsPostgresCommand({ clusterOf: "shop" }), psqlAsDatabaseOwnerCommand("shop")]) {
      const syntax = Bun.spawnSync(["sh", "-n", "-c", command]);
      expect(syntax.stderr.toString()).toBe("");
      expect(syntax.exitCode).toBe(0);
    }
  });

  test("the role SQL decides every refusal before its first change, and reuses a role only when told", () => {
    const sql = roleAndDatabaseSql({ dbName: "shop", userName: "shop_user", password: "pw", deployId: 1 });
    const firstChange = Math.min(...["CREATE ROLE", "ALTER ROLE", "CREATE DATABASE", "GRANT", "COMMENT"].map((statement) => sql.indexOf(statement)).filter((at) => at >= 0));
    for (const reason of ["privileged-role", "foreign-database", "foreign-role"]) expect(sql.indexOf(`@@REFUSED ${reason}`)).toBeLessThan(firstChange);
    expect(sql.indexOf("RAISE EXCEPTION")).toBeLessThan(firstChange);
    expect(sql).toContain("\\elif :zsl_role_exists\n\\echo @@REFUSED foreign-role");
    const reusing = roleAndDatabaseSql({ dbName: "shop", userName: "shop_user", password: "pw", deployId: 1, reuseExistingRole: true });
    expect(reusing).toContain("\\elif false\n\\echo @@REFUSED foreign-role");
  });

  test("drop SQL drops the role only when asked", () => {
    expect(dropDatabaseSql({ dbName: "shop" })).not.toContain("DROP ROLE");
    const both = dropDatabaseSql({ dbName: "shop", dropRole: "shop_user" });
    expect(both).toContain('DROP DATABASE IF EXISTS "shop";');
    expect(both).toContain('DROP ROLE IF EXISTS "shop_user";');
    expect(dropDatabaseSql({ dropRole: "u" })).not.toContain("DROP DATABASE");
    // Superuser scripts pin search_path before anything else and qualify what they call.
    expect(both.startsWith("SET search_path = pg_catalog, pg_temp;\n")).toBe(true);
    expect(both).toContain("pg_catalog.count(pg_catalog.pg_terminate_backend(pid))");
    expect(both).not.toMatch(/[^.]count\(/);
  });

});

describe("backup scripts", () => {
  test("only paths of the shape this service writes are ever dumped to, read or removed", () => {
    const good = "/var/backups/zyotra/postgres/shop/shop-20261124T020512.123Z.dump";
    expect(assertBackupPath(good)).toBe(good);
    for (const bad of [
      "/etc/passwd",
      "/var/backups/zyotra/postgres/shop/../../../../etc/shadow.dump",
      "/var/backups/zyotra/postgres/shop/x.dump; rm -rf /",
      "/var/backups/zyotra/postgres/sh op/x.dump",
      "/var/backups/zyotra/postgres/shop/.hidden.dump",
      "/var/backups/zyotra/postgres/shop/x.sql",
      "relative/x.dump",
    ]) {
      expect(() => assertBackupPath(bad)).toThrow();
      expect(() => removeBackupScript(bad)).toThrow();
      expect(() => postgresDumpScript("shop", bad)).toThrow();
      expect(() => readBackupScript(bad, "a".repeat(64))).toThrow();
    }
    expect(() => readBackupScript(good, "not-a-sha")).toThrow();
  });

  test("a dump goes to a temporary name and is renamed only on success; files 0600, directories 0700", () => {
    const script = postgresDumpScript("shop", "/var/backups/zyotra/postgres/shop/shop-1.dump");
    expect(script).toContain("umask 077");
    expect(script).toContain("/var/backups/zyotra/postgres/shop/.shop-1.dump.partial");
    expect(script).toContain("chmod 0700");
    expect(script).toContain("pg_dump\" -Fc");
    expect(script.indexOf("pg_dump\" -Fc")).toBeLessThan(script.indexOf("mv -f"));
  });
});
