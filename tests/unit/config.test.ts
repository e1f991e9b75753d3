import { describe, expect, test } from "bun:test";
import { ConfigError, DEFAULT_CORS_ORIGINS, loadConfig, PRODUCTION_PORTAL_ORIGIN } from "../../src/config/env";

const prod = {
  NODE_ENV: "production",
  STORAGE_LAYER_DATABASE_URL: "postgresql://u:p@db:5432/storage",
  DEPLOYMENT_MANAGER_DATABASE_URL: "postgresql://u:p@db:5432/dm",
  ACCESS_TOKEN_SECRET: "0123456789abcdef-access",
  ENCRYPTION_KEY: "0123456789abcdef-encrypt",
};

function failureOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.variable;
    throw error;
  }
  return "";
}

describe("configuration", () => {
  test("production needs every required variable and names the missing one", () => {
    expect(loadConfig(prod).databases.mode).toBe("external");
    for (const name of Object.keys(prod).filter((k) => k !== "NODE_ENV")) {
      const env: Record<string, string> = { ...prod };
      delete env[name];
      expect(failureOf(env)).toBe(name);
    }
  });

  test("malformed values are refused with the variable's name", () => {
    expect(failureOf({ ...prod, PORT: "80a" })).toBe("PORT");
    expect(failureOf({ ...prod, STORAGE_LAYER_DATABASE_URL: "mysql://x" })).toBe("STORAGE_LAYER_DATABASE_URL");
    expect(failureOf({ ...prod, CORS_ORIGINS: "not a url" })).toBe("CORS_ORIGINS");
    expect(failureOf({ ...prod, SSH_PORT: "70000" })).toBe("SSH_PORT");
    expect(failureOf({ ...prod, ACCESS_TOKEN_SECRET: "short" })).toBe("ACCESS_TOKEN_SECRET");
    expect(failureOf({ ...prod, TRUSTED_PROXY_HOPS: "0" })).toBe("TRUSTED_PROXY_HOPS");
    expect(failureOf({ ...prod, QUERY_STATEMENT_TIMEOUT_MS: "30s" })).toBe("QUERY_STATEMENT_TIMEOUT_MS");
    expect(failureOf({ ...prod, QUERY_MAX_ROWS: "0" })).toBe("QUERY_MAX_ROWS");
    expect(failureOf({ ...prod, BACKUP_RETENTION: "0" })).toBe("BACKUP_RETENTION");
  });

  test("the SQL editor and backup settings have their documented defaults and can be set", () => {
    expect(loadConfig({}).query).toEqual({ statementTimeoutMs: 30_000, maxRows: 10_000 });
    expect(loadConfig({}).backups).toEqual({ retention: 7, answerWithinMs: 60_000, dumpTimeoutMs: 21_600_000 });
    const set = loadConfig({ QUERY_STATEMENT_TIMEOUT_MS: "5000", QUERY_MAX_ROWS: "50", BACKUP_RETENTION: "3", BACKUP_ANSWER_WITHIN_MS: "1000", BACKUP_TIMEOUT_MS: "60000" });
    expect(set.query).toEqual({ statementTimeoutMs: 5_000, maxRows: 50 });
    expect(set.backups).toEqual({ retention: 3, answerWithinMs: 1_000, dumpTimeoutMs: 60_000 });
  });

  test("outside production, no database URLs means the embedded zero-config mode", () => {
    const config = loadConfig({});
    expect(config.databases).toEqual({ mode: "embedded", dataDir: ".data" });
    expect(config.port).toBe(3000);
    expect(config.corsOrigins).toEqual(DEFAULT_CORS_ORIGINS);
    expect(config.ssh.user).toBe("root");
    expect(config.ssh.port).toBe(22);
    expect(failureOf({ STORAGE_LAYER_DATABASE_URL: prod.STORAGE_LAYER_DATABASE_URL })).toBe("DEPLOYMENT_MANAGER_DATABASE_URL");
  });

  test("the portal's development origin is a CORS default only outside production", () => {
    expect(loadConfig({}).corsOrigins).toContain("http://localhost:5173");
    expect(loadConfig(prod).corsOrigins).toEqual([PRODUCTION_PORTAL_ORIGIN]);
    expect(loadConfig({ ...prod, CORS_ORIGINS: "http://localhost:5173" }).corsOrigins).toEqual(["http://localhost:5173"]);
  });

  test("behind a proxy: one trusted hop unless configured", () => {
    expect(loadConfig({ ...prod, TRUSTED_PROXY_HEADER: "X-Forwarded-For" }).rateLimits).toMatchObject({ trustedProxyHeader: "x-forwarded-for", trustedProxyHops: 1 });
    expect(loadConfig({ ...prod, TRUSTED_PROXY_HOPS: "2" }).rateLimits.trustedProxyHops).toBe(2);
  });
});
