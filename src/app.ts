import { cors } from "@elysiajs/cors";
import { Elysia } from "elysia";
import { DEFAULT_TABLE_DATA_MAX_ROWS, type SshSettings } from "./config/env";
import { createSecretBox } from "./crypto/secretBox";
import { createPgProbe } from "./db/databaseProbe";
import { noAudit, type AuditTrail } from "./db/auditTrail";
import type { DeployedDbStore } from "./db/deployedDbStore";
import type { CachingStore } from "./db/cachingStore";
import { probeRedis, type RedisProbe } from "./engines/redis/redisClient";
import { cachingController } from "./features/caching/caching.controller";
import { createCachingService } from "./features/caching/caching.service";
import { databasesController } from "./features/databases/databases.controller";
import { createDatabaseService, type DatabaseProbe } from "./features/databases/databaseService";
import { healthController } from "./features/health/health.controller";
import { tablesController } from "./features/tables/tables.controller";
import { createTableService } from "./features/tables/tableService";
import { apiDocs } from "./http/apiDocs";
import { errorResponses } from "./http/errorResponses";
import { requestGuards } from "./http/requestGuards";
import { requestLog } from "./http/requestLog";
import { addressRateLimit, type RateLimitSettings } from "./http/rateLimits";
import type { MachineRegistry } from "./machines/machineRegistry";
import { KeyedMutex } from "./shared/keyedMutex";
import { silentLogger, type Logger } from "./shared/logger";
import type { SshSessions } from "./ssh/sshSessions";

export interface AppDependencies {
  accessTokenSecret: string;
  encryptionKey: string;
  corsOrigins: string[];
  ssh: SshSettings;
  rateLimits: RateLimitSettings;
  store: DeployedDbStore;
  /** Defaults to no auditing (tests of unrelated behaviour). */
  audit?: AuditTrail;
  registry: MachineRegistry;
  sessions: SshSessions;
  /** Redis servers (`caching`); without it the Redis routes are not served. */
  caching?: CachingStore;
  /** Defaults to AUTH + PING over TCP. */
  redisProbe?: RedisProbe;
  /** Defaults to a real TCP login with `pg`. */
  probe?: DatabaseProbe;
  /** Rows in a table-data answer without `limit`; defaults to DEFAULT_TABLE_DATA_MAX_ROWS. */
  tableDataMaxRows?: number;
  clock?: () => Date;
  logger?: Logger;
}

/** Builds a complete, independent service instance from its dependencies (no globals). */
export function createApp(deps: AppDependencies) {
  const logger = deps.logger ?? silentLogger;
  const clock = deps.clock ?? (() => new Date());
  const login = { user: deps.ssh.user, port: deps.ssh.port };
  const remote = { sshUser: deps.ssh.user, commandTimeoutMs: deps.ssh.commandTimeoutMs, installTimeoutMs: deps.ssh.installTimeoutMs };

  const databases = createDatabaseService({
    store: deps.store,
    audit: deps.audit ?? noAudit,
    registry: deps.registry,
    sessions: deps.sessions,
    secretBox: createSecretBox(deps.encryptionKey, 10_000),
    encryptionKey: deps.encryptionKey,
    login,
    remote,
    hostLocks: new KeyedMutex(),
    probe: deps.probe ?? createPgProbe(deps.ssh.connectTimeoutMs),
    logger,
  });
  const tables = createTableService({
    registry: deps.registry,
    store: deps.store,
    audit: deps.audit ?? noAudit,
    sessions: deps.sessions,
    encryptionKey: deps.encryptionKey,
    login,
    remote,
    maxRows: deps.tableDataMaxRows ?? DEFAULT_TABLE_DATA_MAX_ROWS,
  });

  const caching =
    deps.caching &&
    createCachingService({
      store: deps.caching,
      audit: deps.audit ?? noAudit,
      registry: deps.registry,
      sessions: deps.sessions,
      secretBox: createSecretBox(deps.encryptionKey, 10_000),
      encryptionKey: deps.encryptionKey,
      login,
      remote,
      hostLocks: new KeyedMutex(),
      probe: deps.redisProbe ?? probeRedis,
      probeTimeoutMs: deps.ssh.connectTimeoutMs,
      logger,
    });

  return new Elysia()
    .use(requestLog(logger))
    .use(errorResponses(logger))
    .use(requestGuards())
    .use(addressRateLimit(deps.rateLimits))
    .use(
      cors({
        origin: deps.corsOrigins,
        credentials: true,
        methods: ["GET", "POST", "PUT", "DELETE"],
        allowedHeaders: ["Content-Type", "Authorization"],
      }),
    )
    .use(apiDocs())
    .use(
      healthController(clock, [
        { name: "metadata", ping: () => deps.store.ping() },
        { name: "registry", ping: () => deps.registry.ping() },
      ]),
    )
    .use(databasesController(databases, deps.accessTokenSecret, deps.rateLimits))
    .use(tablesController(tables, deps.accessTokenSecret, deps.rateLimits))
    .use(caching ? cachingController(caching, deps.accessTokenSecret, deps.rateLimits) : new Elysia());
}

export type App = ReturnType<typeof createApp>;
