import pg from "pg";
import { backupServiceFor, createApp } from "./app";
import { createBackupStore } from "./metadata/backupStore";
import { ConfigError, type AppConfig } from "./config/env";
import { createAuditTrail } from "./metadata/auditTrail";
import { reconcileUnfinishedDeploys, type ReconcileDeps } from "./features/databases/reconcileDeploys";
import { createDeployedDbStore, type MetadataDatabase } from "./metadata/deployedDbStore";
import { DEFAULT_LIST_CACHE_TTL_MS, withListCache } from "./metadata/listCache";
import { createCachingStore, type CachingStore } from "./metadata/cachingStore";
import { reconcileUnfinishedRedisDeploys } from "./features/caching/reconcileRedisDeploys";
import { createHostKeyStore } from "./metadata/hostKeyStore";
import { openMetadataDatabase } from "./metadata/metadataClient";
import { startAdminSocket } from "./devMode/adminSocket";
import { loadOrCreateDevSecrets } from "./devMode/devSecrets";
import { openEmbeddedDatabase } from "./devMode/embeddedDatabase";
import { createSqlMachineRegistry } from "./machines/machineRegistry";
import { MAX_BODY_BYTES } from "./http/requestGuards";
import { errorIdentity } from "./shared/errorIdentity";
import type { Logger } from "./shared/logger";
import { createSshPool, DEFAULT_POOL_SETTINGS } from "./ssh/sshPool";

const RECONCILE_EVERY_MS = 60_000;

/** Undo interrupted deploys now and then every minute; returns the function that stops it. */
function scheduleReconciliation(deps: ReconcileDeps & { caching: CachingStore }, staleAfterMs: number): () => void {
  let running = false;
  const pass = async () => {
    if (running) return;
    running = true;
    try {
      await reconcileUnfinishedDeploys(deps, new Date(Date.now() - staleAfterMs));
      await reconcileUnfinishedRedisDeploys(deps, new Date(Date.now() - staleAfterMs));
    } catch (error) {
      deps.logger.error("deploy.reconcile_failed", { reason: error instanceof Error ? error.name : "unknown" });
    } finally {
      running = false;
    }
  };
  void pass();
  // Never let an interrupted deploy wait much longer than it takes to become stale.
  const timer = setInterval(() => void pass(), Math.min(RECONCILE_EVERY_MS, Math.max(1_000, staleAfterMs)));
  timer.unref();
  return () => clearInterval(timer);
}

export interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

/** Wires real dependencies for the configured mode and starts listening. */
export async function startServer(config: AppConfig, logger: Logger): Promise<RunningServer> {
  const closers: Array<() => Promise<void> | void> = [];
  let wiring: Pick<Parameters<typeof createApp>[0], "store" | "registry" | "accessTokenSecret" | "encryptionKey"> & { metadata: MetadataDatabase };

  if (config.databases.mode === "external") {
    // Nothing may hang on the registry: bounded connect, statement and client-side query times.
    const poolOptions = { max: 10, connectionTimeoutMillis: 5_000, statement_timeout: 10_000, query_timeout: 15_000, idle_in_transaction_session_timeout: 10_000 };
    const metadataConnection = openMetadataDatabase(config.databases.metadataUrl);
    const registryPool = new pg.Pool({ connectionString: config.databases.registryUrl, ...poolOptions });
    // Idle clients can fail when a database restarts; the pool replaces them, the process must not die.
    registryPool.on("error", (error) => logger.warn("registry_pool.error", errorIdentity(error)));
    closers.push(() => metadataConnection.close(), () => registryPool.end());
    const metadata = metadataConnection.db;
    wiring = {
      metadata,
      store: withListCache(createDeployedDbStore(metadata), { ttlMs: DEFAULT_LIST_CACHE_TTL_MS }),
      registry: createSqlMachineRegistry(registryPool),
      accessTokenSecret: config.accessTokenSecret ?? "",
      encryptionKey: config.encryptionKey ?? "",
    };
  } else {
    const { dataDir } = config.databases;
    const { secrets, created } = loadOrCreateDevSecrets(dataDir);
    const accessTokenSecret = config.accessTokenSecret ?? secrets.ACCESS_TOKEN_SECRET;
    const encryptionKey = config.encryptionKey ?? secrets.ENCRYPTION_KEY;
    if (created) logger.warn("dev.secrets_generated", { file: `${dataDir}/secrets.json`, note: "zero-config mode: never use these in production" });
    const embedded = await openEmbeddedDatabase(dataDir, "service");
    const admin = startAdminSocket(dataDir, embedded.registry, encryptionKey);
    closers.push(() => admin.stop(), () => embedded.close());
    wiring = {
      metadata: embedded.metadata,
      store: withListCache(createDeployedDbStore(embedded.metadata), { ttlMs: DEFAULT_LIST_CACHE_TTL_MS }),
      registry: createSqlMachineRegistry(embedded.registry),
      accessTokenSecret,
      encryptionKey,
    };
    logger.warn("dev.embedded_database", { dataDir, note: "zero-config mode with embedded PGlite; set the database URLs for production" });
  }

  const leases = createSshPool({
    ...DEFAULT_POOL_SETTINGS,
    connectTimeoutMs: config.ssh.connectTimeoutMs,
    idleTimeoutMs: config.ssh.idleTimeoutMs,
    hostKeys: createHostKeyStore(wiring.metadata),
  });
  closers.push(() => leases.closeAll());
  const audit = createAuditTrail(wiring.metadata, logger);
  const caching = createCachingStore(wiring.metadata);
  const appDeps = { ...wiring, audit, corsOrigins: config.corsOrigins, ssh: config.ssh, rateLimits: config.rateLimits, leases, logger, tableDataMaxRows: config.tableDataMaxRows, query: config.query, backups: createBackupStore(wiring.metadata), backupConfig: config.backups, caching };
  // Before any request: a backup still `running` was cut off by the last stop of the service.
  const interrupted = await backupServiceFor(appDeps, appDeps.backups).failInterrupted().catch((error: unknown) => {
    logger.warn("backup.reconcile_failed", { reason: error instanceof Error ? error.name : "unknown" });
    return 0;
  });
  if (interrupted > 0) logger.warn("backup.interrupted", { count: interrupted });
  const app = createApp(appDeps);
  try {
    // Bun closes requests idle for 10 s by default; remote reads may legitimately take longer
    // (deploys and deletes lift the limit per request, bounded by their SSH timeouts).
    // Bodies are capped at MAX_BODY_BYTES by our own reader, with an answer the portal can read;
    // Bun's limit is only a backstop. Elysia asks for SO_REUSEPORT, which would let a second copy
    // (an old version, another secret) silently share the port: a busy port must stop us instead.
    app.listen({ port: config.port, maxRequestBodySize: 16 * MAX_BODY_BYTES, idleTimeout: 120, reusePort: false });
  } catch (error) {
    for (const close of closers.reverse()) await close();
    if ((error as { code?: unknown }).code === "EADDRINUSE") throw new ConfigError("PORT", `port ${config.port} is already in use by another process`);
    throw error;
  }
  const port = app.server?.port ?? config.port;
  logger.info("server.listening", { port, mode: config.databases.mode });

  const stopReconciling = scheduleReconciliation(
    {
      store: wiring.store,
      caching,
      registry: wiring.registry,
      leases,
      audit,
      encryptionKey: wiring.encryptionKey,
      ssh: config.ssh,
      logger,
    },
    // A deploy younger than its longest possible run may still be in progress elsewhere.
    config.ssh.installTimeoutMs + config.ssh.commandTimeoutMs + config.ssh.connectTimeoutMs,
  );

  return {
    port,
    async stop() {
      stopReconciling();
      // Stop accepting requests, let in-flight ones (deploys above all) finish, bounded.
      const drained = app.stop(false).then(() => true);
      const timedOut = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), config.shutdownGraceMs).unref());
      if (!(await Promise.race([drained, timedOut]))) {
        logger.warn("server.shutdown_forced", { graceMs: config.shutdownGraceMs });
        await app.stop(true);
      }
      for (const close of closers.reverse()) await close();
    },
  };
}
