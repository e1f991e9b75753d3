import { createApp, type AppDependencies } from "../../src/app";
import type { SshSettings } from "../../src/config/env";
import type { HostKeyStore } from "../../src/metadata/hostKeyStore";
import type { RateLimitSettings } from "../../src/http/rateLimits";
import type { Logger, LogFields } from "../../src/shared/logger";
import { createSshPool, DEFAULT_POOL_SETTINGS } from "../../src/ssh/sshPool";
import { TEST_ACCESS_SECRET, TEST_ENCRYPTION_KEY, tokenFor } from "./tokens";

export const TEST_SSH: SshSettings = { user: "root", port: 22, connectTimeoutMs: 5_000, commandTimeoutMs: 60_000, installTimeoutMs: 120_000, idleTimeoutMs: 60_000 };

/** Tests that are not about rate limits must never hit one. */
export const GENEROUS_LIMITS: RateLimitSettings = { windowMs: 60_000, perAddress: 1_000_000, userReads: 1_000_000, userWrites: 1_000_000 };

export interface CapturedLog {
  level: string;
  event: string;
  fields?: LogFields;
}

export function captureLogger(): Logger & { lines: CapturedLog[] } {
  const lines: CapturedLog[] = [];
  return {
    lines,
    info: (event, fields) => lines.push({ level: "info", event, fields }),
    warn: (event, fields) => lines.push({ level: "warn", event, fields }),
    error: (event, fields) => lines.push({ level: "error", event, fields }),
  };
}

export interface RunningTestApp {
  baseUrl: string;
  stop(): Promise<void>;
  request(method: string, path: string, options?: { userId?: string | number; token?: string; body?: unknown; rawBody?: string; cookie?: boolean }): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
}

type Overrides = Partial<AppDependencies> & Pick<AppDependencies, "store" | "registry"> & { hostKeys?: HostKeyStore };

/** A real service instance listening on a loopback port. */
export function startTestApp(overrides: Overrides): RunningTestApp {
  const ssh = overrides.ssh ?? TEST_SSH;
  // The production path: leases of pooled SSH connections, unless a test brings its own.
  const leases =
    overrides.leases ??
    createSshPool({ ...DEFAULT_POOL_SETTINGS, connectTimeoutMs: ssh.connectTimeoutMs, idleTimeoutMs: ssh.idleTimeoutMs, hostKeys: overrides.hostKeys });
  const app = createApp({
    accessTokenSecret: TEST_ACCESS_SECRET,
    encryptionKey: TEST_ENCRYPTION_KEY,
    corsOrigins: ["http://localhost:5173"],
    ssh: TEST_SSH,
    rateLimits: GENEROUS_LIMITS,
    leases,
    ...overrides,
  }).listen({ port: 0, hostname: "127.0.0.1" });
  const baseUrl = `http://127.0.0.1:${app.server?.port}`;

  return {
    baseUrl,
    async stop() {
      await app.stop(true);
      await leases.closeAll();
    },
    async request(method, path, options = {}) {
      const headers: Record<string, string> = {};
      const token = options.token ?? (options.userId !== undefined ? tokenFor(options.userId) : undefined);
      if (token) {
        if (options.cookie) headers.cookie = `accessToken=${token}`;
        else headers.authorization = `Bearer ${token}`;
      }
      let body: string | undefined;
      if (options.rawBody !== undefined) body = options.rawBody;
      else if (options.body !== undefined) body = JSON.stringify(options.body);
      if (body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(baseUrl + path, { method, headers, body });
      const text = await response.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        parsed = { raw: text };
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
  };
}
