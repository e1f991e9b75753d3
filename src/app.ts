import { cors } from "@elysiajs/cors";
import { Elysia } from "elysia";
import { DEFAULT_TABLE_DATA_MAX_ROWS, type SshSettings } from "./config/env";
import { createSecretBox } from "./crypto/secretBox";
import { createPgProbe } from "./db/databaseProbe";
import { noAudit, type AuditTrail } from "./db/auditTrail";
import type { DeployedDbStore } from "./db/deployedDbStore";
import { databasesController } from "./features/databases/databases.controller";
import { createDatabaseService, type DatabaseProbe } from "./features/databases/databaseService";
import { healthController } from "./features/health/health.controller";
import { createMySqlProbe, type MySqlProbe } from "./engines/mysql/mysqlProbe";
import { mysqlController } from "./features/mysql/mysql.controller";
import { createMySqlService } from "./features/mysql/mysql.service";
import { createMySqlBrowsingService } from "./features/mysql/mysqlBrowsing.service";
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
  /** Defaults to a real TCP login with `pg`. */
  probe?: DatabaseProbe;
  /** Defaults to a real TCP login with `mysql2`. */
  mysqlProbe?: MySqlProbe;
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

  const shared = {
    store: deps.store,
    audit: deps.audit ?? noAudit,
    registry: deps.registry,
    sessions: deps.sessions,
    secretBox: createSecretBox(deps.encryptionKey, 10_000),
    encryptionKey: deps.encryptionKey,
    login,
    remote,
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
    sessions: deps.sessions,
    encryptionKey: deps.encryptionKey,
    login,
    remote,
    maxRows: deps.tableDataMaxRows ?? DEFAULT_TABLE_DATA_MAX_ROWS,
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
    .use(mysqlController(mysql, mysqlBrowsing, deps.accessTokenSecret, deps.rateLimits));
}

export type App = ReturnType<typeof createApp>;
