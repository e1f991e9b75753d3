/**
 * Configuration is parsed and validated once at start-up. A bad value stops the
 * process with one line naming the variable (see `index.ts`).
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`${variable}: ${reason}`);
  }
}

export const PRODUCTION_PORTAL_ORIGIN = "https://zyotraportal.ramkrishna.cloud";
/** The portal's development server is trusted only outside production. */
export const DEFAULT_CORS_ORIGINS = ["http://localhost:5173", PRODUCTION_PORTAL_ORIGIN];
/** Rows in a table-data JSON answer that asks for no `limit`. */
export const DEFAULT_TABLE_DATA_MAX_ROWS = 10_000;

/** The SQL editor's bounds (POST /run-query). */
export interface QuerySettings {
  /** statement_timeout of every run; past it the run is cancelled and answered 504. */
  statementTimeoutMs: number;
  /** Rows kept in one answer, over all its statements. */
  maxRows: number;
}

/** Backups (POST /backup-postgres-db and /backups). */
export interface BackupConfig {
  /** Newest done backups kept per database. */
  retention: number;
  /** A dump still running after this long is answered `running` and finishes in the background. */
  answerWithinMs: number;
  /** The longest one dump or restore may take. */
  dumpTimeoutMs: number;
}

export const DEFAULT_BACKUP_CONFIG: BackupConfig = { retention: 7, answerWithinMs: 60_000, dumpTimeoutMs: 6 * 3_600_000 };

export const DEFAULT_QUERY_SETTINGS: QuerySettings = { statementTimeoutMs: 30_000, maxRows: 10_000 };

export interface ProxySettings {
  /** Header carrying the client address when behind a trusted proxy (e.g. x-forwarded-for). */
  trustedProxyHeader?: string;
  /** How many trusted proxies append to that header; defaults to 1. */
  trustedProxyHops?: number;
}

/** Requests allowed per window (see http/rateLimits.ts). */
export interface RateLimitSettings extends ProxySettings {
  windowMs: number;
  /** Every request from one client address, authenticated or not. */
  perAddress: number;
  /** Reads (listing databases, tables, rows) per user. */
  userReads: number;
  /** Deploys and deletes per user: they run commands as root on a machine. */
  userWrites: number;
}

export interface SshSettings {
  user: string;
  port: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  installTimeoutMs: number;
  /** Pooled connections unused for this long are closed. */
  idleTimeoutMs: number;
}

export interface AppConfig {
  /** How long SIGTERM waits for in-flight requests (deploys) before closing them. */
  shutdownGraceMs: number;
  rateLimits: RateLimitSettings;
  port: number;
  production: boolean;
  /** Both URLs set: production databases. Both unset outside production: embedded PGlite. */
  databases:
    | { mode: "external"; metadataUrl: string; registryUrl: string }
    | { mode: "embedded"; dataDir: string };
  accessTokenSecret: string | undefined;
  encryptionKey: string | undefined;
  corsOrigins: string[];
  ssh: SshSettings;
  tableDataMaxRows: number;
  query: QuerySettings;
  backups: BackupConfig;
}

type Env = Record<string, string | undefined>;

function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}`);
  return value;
}

function readUrl(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, "is not a valid URL (expected postgresql://user:password@host:port/database)");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new ConfigError(name, "must be a postgres:// or postgresql:// URL");
  }
  return raw;
}

function readSecret(env: Env, name: string, required: boolean): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") {
    if (required) throw new ConfigError(name, "is required");
    return undefined;
  }
  if (raw.length < 16) throw new ConfigError(name, "must be at least 16 characters long");
  return raw;
}

function readOrigins(env: Env, production: boolean): string[] {
  const raw = env.CORS_ORIGINS?.trim();
  if (!raw) return production ? [PRODUCTION_PORTAL_ORIGIN] : DEFAULT_CORS_ORIGINS;
  const origins = raw.split(",").map((o) => o.trim()).filter(Boolean);
  for (const origin of origins) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new ConfigError("CORS_ORIGINS", `"${origin}" is not an origin like https://example.com`);
    }
    if (url.origin !== origin) throw new ConfigError("CORS_ORIGINS", `"${origin}" is not an origin like https://example.com`);
  }
  return origins;
}

export function loadConfig(env: Env): AppConfig {
  const production = env.NODE_ENV === "production";
  const metadataUrl = readUrl(env, "STORAGE_LAYER_DATABASE_URL");
  const registryUrl = readUrl(env, "DEPLOYMENT_MANAGER_DATABASE_URL");

  let databases: AppConfig["databases"];
  if (metadataUrl && registryUrl) {
    databases = { mode: "external", metadataUrl, registryUrl };
  } else if (!metadataUrl && !registryUrl && !production) {
    databases = { mode: "embedded", dataDir: env.DATA_DIR?.trim() || ".data" };
  } else {
    throw new ConfigError(metadataUrl ? "DEPLOYMENT_MANAGER_DATABASE_URL" : "STORAGE_LAYER_DATABASE_URL", "is required");
  }

  const secretsRequired = databases.mode === "external";
  const sshUser = env.SSH_USER?.trim() || "root";
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(sshUser)) throw new ConfigError("SSH_USER", "is not a valid user name");

  return {
    port: readInt(env, "PORT", 3000, 1, 65535),
    production,
    databases,
    accessTokenSecret: readSecret(env, "ACCESS_TOKEN_SECRET", secretsRequired),
    encryptionKey: readSecret(env, "ENCRYPTION_KEY", secretsRequired),
    corsOrigins: readOrigins(env, production),
    shutdownGraceMs: readInt(env, "SHUTDOWN_GRACE_MS", 60_000, 0, 3_600_000),
    rateLimits: {
      windowMs: readInt(env, "RATE_LIMIT_WINDOW_MS", 60_000, 1_000, 3_600_000),
      perAddress: readInt(env, "RATE_LIMIT_PER_ADDRESS", 600, 1, 1_000_000),
      userReads: readInt(env, "RATE_LIMIT_USER_READS", 300, 1, 1_000_000),
      userWrites: readInt(env, "RATE_LIMIT_USER_WRITES", 20, 1, 1_000_000),
      trustedProxyHeader: env.TRUSTED_PROXY_HEADER?.trim().toLowerCase() || undefined,
      trustedProxyHops: readInt(env, "TRUSTED_PROXY_HOPS", 1, 1, 10),
    },
    ssh: {
      user: sshUser,
      port: readInt(env, "SSH_PORT", 22, 1, 65535),
      connectTimeoutMs: readInt(env, "SSH_CONNECT_TIMEOUT_MS", 10_000, 100, 600_000),
      commandTimeoutMs: readInt(env, "SSH_COMMAND_TIMEOUT_MS", 60_000, 100, 3_600_000),
      installTimeoutMs: readInt(env, "SSH_INSTALL_TIMEOUT_MS", 900_000, 1000, 7_200_000),
      idleTimeoutMs: readInt(env, "SSH_IDLE_TIMEOUT_MS", 60_000, 100, 3_600_000),
    },
    tableDataMaxRows: readInt(env, "TABLE_DATA_MAX_ROWS", DEFAULT_TABLE_DATA_MAX_ROWS, 1, 100_000),
    query: {
      statementTimeoutMs: readInt(env, "QUERY_STATEMENT_TIMEOUT_MS", DEFAULT_QUERY_SETTINGS.statementTimeoutMs, 100, 3_600_000),
      maxRows: readInt(env, "QUERY_MAX_ROWS", DEFAULT_QUERY_SETTINGS.maxRows, 1, 100_000),
    },
    backups: {
      retention: readInt(env, "BACKUP_RETENTION", DEFAULT_BACKUP_CONFIG.retention, 1, 1_000),
      answerWithinMs: readInt(env, "BACKUP_ANSWER_WITHIN_MS", DEFAULT_BACKUP_CONFIG.answerWithinMs, 0, 3_600_000),
      dumpTimeoutMs: readInt(env, "BACKUP_TIMEOUT_MS", DEFAULT_BACKUP_CONFIG.dumpTimeoutMs, 1_000, 7 * 24 * 3_600_000),
    },
  };
}
