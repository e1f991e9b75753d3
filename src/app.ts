import { Elysia } from "elysia";
import { DEFAULT_BACKUP_CONFIG, DEFAULT_QUERY_SETTINGS, DEFAULT_TABLE_DATA_MAX_ROWS, type BackupConfig, type QuerySettings, type SshSettings } from "./config/env";
import type { BackupStore } from "./metadata/backupStore";
import { postgresBackupEngine } from "./engines/postgres/postgresBackups";
import { backupsController } from "./features/backups/backups.controller";
import { createBackupService } from "./features/backups/backups.service";
import { createSecretBox } from "./crypto/secretBox";
import { createPgProbe } from "./engines/postgres/loginProbe";
import { noAudit, type AuditTrail } from "./metadata/auditTrail";
import type { DeployedDbStore } from "./metadata/deployedDbStore";
import type { CachingStore } from "./metadata/cachingStore";
import { probeRedis, type RedisProbe } from "./engines/redis/redisClient";
import { cachingController } from "./features/caching/caching.controller";
import { createCachingService } from "./features/caching/caching.service";
import { databasesController } from "./features/databases/databases.controller";
import { createDatabaseService, type DatabaseProbe } from "./features/databases/databases.service";
import { createSqlConnectionPool } from "./engines/postgres/sqlConnections";
import { healthController } from "./features/health/health.controller";
import { mysqlBackupEngine } from "./engines/mysql/mysqlBackups";
import { createMySqlProbe, type MySqlProbe } from "./engines/mysql/mysqlProbe";
import { mysqlController } from "./features/mysql/mysql.controller";
import { createMySqlService } from "./features/mysql/mysql.service";
import { createMySqlBrowsingService } from "./features/mysql/mysqlBrowsing.service";
import { createMySqlQueryService } from "./features/mysql/mysqlQuery.service";
import { queryController } from "./features/query/query.controller";
import { createQueryService } from "./features/query/query.service";
import { tablesController } from "./features/tables/tables.controller";
import { createTableService } from "./features/tables/tables.service";
import { apiDocs } from "./http/apiDocs";
import { clientAddress } from "./http/clientAddress";
import { corsHeaders } from "./http/cors";
import { crossSiteGuard } from "./http/crossSiteGuard";
import { errorResponses } from "./http/errorResponses";
import { requestGuards } from "./http/requestGuards";
import { requestLog } from "./http/requestLog";
import { addressRateLimit, type RateLimitSettings } from "./http/rateLimits";
import type { MachineRegistry } from "./machines/machineRegistry";
import { KeyedMutex } from "./shared/keyedMutex";
import { silentLogger, type Logger } from "./shared/logger";
import type { SshLeases } from "./ssh/sshLeases";

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
  leases: SshLeases;
  /** Redis servers (`caching`); without it the Redis routes are not served. */
  caching?: CachingStore;
  /** Defaults to AUTH + PING over TCP. */
  redisProbe?: RedisProbe;
  /** Defaults to a real TCP login with `pg`. */
  probe?: DatabaseProbe;
  /** Defaults to a real TCP login with `mysql2`. */
  mysqlProbe?: MySqlProbe;
  /** Rows in a table-data answer without `limit`; defaults to DEFAULT_TABLE_DATA_MAX_ROWS. */
  tableDataMaxRows?: number;
  /** The SQL editor's bounds; defaults to DEFAULT_QUERY_SETTINGS. */
  query?: QuerySettings;
  /** Backup records; without them the backup routes are not served. */
  backups?: BackupStore;
  backupConfig?: BackupConfig;
  clock?: () => Date;
  logger?: Logger;
}

/** The backup feature of an app with these dependencies (the server also uses it at start-up). */
export function backupServiceFor(deps: AppDependencies, backups: BackupStore) {
  const config = deps.backupConfig ?? DEFAULT_BACKUP_CONFIG;
  return createBackupService({
    registry: deps.registry,
    databases: deps.store,
    backups,
    audit: deps.audit ?? noAudit,
    leases: deps.leases,
    encryptionKey: deps.encryptionKey,
    ssh: deps.ssh,
    engines: { postgres: postgresBackupEngine(deps.ssh.user), mysql: mysqlBackupEngine(deps.ssh.user) },
    settings: { retention: config.retention, answerWithinMs: config.answerWithinMs, dumpTimeoutMs: config.dumpTimeoutMs, commandTimeoutMs: deps.ssh.commandTimeoutMs },
    logger: deps.logger ?? silentLogger,
    clock: deps.clock ?? (() => new Date()),
  });
}

/** Builds a complete, independent service instance from its dependencies (no globals). */
export function createApp(deps: AppDependencies) {
  const logger = deps.logger ?? silentLogger;
  const clock = deps.clock ?? (() => new Date());

  const shared = {
    store: deps.store,
    audit: deps.audit ?? noAudit,
    registry: deps.registry,
    leases: deps.leases,
    // No cache of opened passwords: a plaintext lives only as long as the answer that carries it.
    secretBox: createSecretBox(deps.encryptionKey),
    encryptionKey: deps.encryptionKey,
    ssh: deps.ssh,
    // One per service instance: PostgreSQL and MySQL deploys to one machine take turns.
    hostLocks: new KeyedMutex(),
    logger,
  };
  const databases = createDatabaseService({ ...shared, probe: deps.probe ?? createPgProbe(deps.ssh.connectTimeoutMs) });
  const mysql = createMySqlService({ ...shared, probe: deps.mysqlProbe ?? createMySqlProbe(deps.ssh.connectTimeoutMs) });
  const mysqlBrowsing = createMySqlBrowsingService({ ...shared, maxRows: deps.tableDataMaxRows ?? DEFAULT_TABLE_DATA_MAX_ROWS });
  const tables = createTableService({
    registry: deps.registry,
    store: deps.store,
    audit: deps.audit ?? noAudit,
    leases: deps.leases,
    encryptionKey: deps.encryptionKey,
    ssh: deps.ssh,
    maxRows: deps.tableDataMaxRows ?? DEFAULT_TABLE_DATA_MAX_ROWS,
  });

  const querySettings = deps.query ?? DEFAULT_QUERY_SETTINGS;
  const mysqlQuery = createMySqlQueryService({ ...shared, query: querySettings });
  const query = createQueryService({
    registry: deps.registry,
    store: deps.store,
    audit: deps.audit ?? noAudit,
    secretBox: createSecretBox(deps.encryptionKey, 1_000),
    encryptionKey: deps.encryptionKey,
    ssh: deps.ssh,
    connections: createSqlConnectionPool({ leases: deps.leases, ssh: deps.ssh, connectTimeoutMs: deps.ssh.connectTimeoutMs, statementTimeoutMs: querySettings.statementTimeoutMs, idleMs: 30_000, maxIdlePerKey: 2, maxIdlePerMachine: 4 }),
    statementTimeoutMs: querySettings.statementTimeoutMs,
    maxRows: querySettings.maxRows,
    maxBytes: 64 * 1024 * 1024,
  });


  const caching =
    deps.caching &&
    createCachingService({
      store: deps.caching,
      audit: deps.audit ?? noAudit,
      registry: deps.registry,
      leases: deps.leases,
      secretBox: createSecretBox(deps.encryptionKey, 10_000),
      encryptionKey: deps.encryptionKey,
      ssh: deps.ssh,
      hostLocks: new KeyedMutex(),
      probe: deps.redisProbe ?? probeRedis,
      probeTimeoutMs: deps.ssh.connectTimeoutMs,
      logger,
    });

  // onRequest hooks run in this order, for every route whenever it was registered. CORS comes
  // before the guards so that every answer to an allowed origin, refusals included (413, 415,
  // 429), can be read by the portal, and preflights are answered before anything counts them.
  //
  // Monitoring's probes are registered before the per-request log and error mapping, so those
  // route hooks never run for them (profiled: they were most of a probe's cost); the request
  // hooks above still do (request id, security headers, CORS). The readiness route logs its own
  // failures.
  return new Elysia()
    .use(
      healthController(
        clock,
        [
          { name: "metadata", ping: () => deps.store.ping() },
          { name: "registry", ping: () => deps.registry.ping() },
        ],
        logger,
      ),
    )
    .use(requestLog(logger))
    .use(errorResponses(logger))
    .use(
      corsHeaders({
        origins: deps.corsOrigins,
        methods: ["GET", "POST", "PUT", "DELETE"],
        allowedHeaders: ["Content-Type", "Authorization"],
        exposeHeaders: ["X-Request-Id"],
        maxAgeSeconds: 5,
      }),
    )
    .use(requestGuards())
    .use(crossSiteGuard(deps.corsOrigins))
    .use(clientAddress(deps.rateLimits))
    .use(addressRateLimit(deps.rateLimits))
    .use(apiDocs())
    .use(databasesController(databases, deps.accessTokenSecret, deps.rateLimits))
    .use(tablesController(tables, deps.accessTokenSecret, deps.rateLimits))
    .use(queryController(query, deps.accessTokenSecret, deps.rateLimits))
    .use(deps.backups ? backupsController(backupServiceFor(deps, deps.backups), deps.accessTokenSecret, deps.rateLimits) : new Elysia())
    .use(mysqlController({ deploys: mysql, browsing: mysqlBrowsing, queries: mysqlQuery }, deps.accessTokenSecret, deps.rateLimits))
    .use(caching ? cachingController(caching, deps.accessTokenSecret, deps.rateLimits) : new Elysia());
}

export type App = ReturnType<typeof createApp>;
