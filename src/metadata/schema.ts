import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, pgTable, primaryKey, serial, timestamp, uniqueIndex, varchar } from "drizzle-orm/pg-core";

/**
 * Our metadata: one row per database we deployed. Column names are those of the previous
 * implementation's table so an existing production database is adopted as it is.
 * `password` holds the sealed (AES-256-GCM) password; legacy plaintext rows are sealed on first read.
 * `status` is `deploying` while remote work runs, then `running` (or `failed`).
 * `legacy_names` marks rows adopted from the previous implementation, which created the
 * database and role with unquoted names: on the machine they are lower-cased (see recordedNames.ts).
 */
export const deployed_db = pgTable(
  "deployed_db",
  {
    id: serial("id").primaryKey(),
    dbName: varchar("db_name").notNull(),
    username: varchar("username").notNull(),
    password: varchar("password").notNull(),
    host: varchar("host").notNull(),
    dbType: varchar("db_type").notNull(),
    vpsId: integer("vps_id").notNull(),
    userId: integer("user_id").notNull(),
    status: varchar("status").notNull(),
    createdAt: timestamp("created_at").defaultNow().notNull(),
    legacyNames: boolean("legacy_names").default(false).notNull(),
  },
  (table) => [
    // One database name per machine and address: the database-level guard against concurrent
    // duplicate deploys. Not per address alone: when an address moves to another tenant's
    // machine, the old tenant's rows for it are stale and must not block (or meet) the new one's.
    // Per engine too: a MySQL and a PostgreSQL database of one name live in different servers.
    uniqueIndex("deployed_db_vps_id_host_engine_db_name_key").on(table.vpsId, table.host, sql`(lower(${table.dbType}) = 'mysql')`, table.dbName),
    index("deployed_db_user_id_id_idx").on(table.userId, table.id),
  ],
);

export type DeployedDbRow = typeof deployed_db.$inferSelect;
export type NewDeployedDbRow = typeof deployed_db.$inferInsert;

export const DEPLOY_STATUS = {
  deploying: "deploying",
  running: "running",
  failed: "failed",
} as const;

/**
 * Who did what to which machine and database, and how it ended: every deploy and delete, and
 * every refused attempt on someone else's resource. Never holds a secret.
 */
export const audit_log = pgTable(
  "audit_log",
  {
    id: serial("id").primaryKey(),
    at: timestamp("at", { withTimezone: true }).defaultNow().notNull(),
    userId: integer("user_id").notNull(),
    action: varchar("action", { length: 32 }).notNull(),
    machineId: integer("machine_id"),
    host: varchar("host", { length: 100 }),
    dbName: varchar("db_name", { length: 63 }),
    outcome: varchar("outcome", { length: 16 }).notNull(),
    detail: varchar("detail", { length: 200 }),
    clientAddress: varchar("client_address", { length: 64 }),
    requestId: varchar("request_id", { length: 64 }),
  },
  (table) => [index("audit_log_at_idx").on(table.at), index("audit_log_user_id_at_idx").on(table.userId, table.at)],
);

export type NewAuditEntry = typeof audit_log.$inferInsert;

/** SSH host keys pinned on first use, per machine and address. */
export const machine_host_keys = pgTable(
  "machine_host_keys",
  {
    machineId: integer("machine_id").notNull(),
    host: varchar("host", { length: 100 }).notNull(),
    fingerprint: varchar("fingerprint", { length: 100 }).notNull(),
    pinnedAt: timestamp("pinned_at", { withTimezone: true }).defaultNow().notNull(),
  },
  (table) => [primaryKey({ columns: [table.machineId, table.host] })],
);

/**
 * Every backup taken of a user's database: where its file is on the machine and what it
 * holds. Not tied to the database row by a foreign key: deleting a database keeps its backups
 * (restorable) until they are deleted themselves. `status`: `running`, then `done` or `failed`
 * (with `error`); a failed backup has no file.
 */
export const backups = pgTable(
  "backups",
  {
    id: serial("id").primaryKey(),
    databaseId: integer("database_id").notNull(),
    userId: integer("user_id").notNull(),
    machineId: integer("machine_id").notNull(),
    host: varchar("host", { length: 100 }).notNull(),
    engine: varchar("engine", { length: 16 }).notNull(),
    /** The database's name on the machine when the backup was taken. */
    dbName: varchar("db_name", { length: 63 }).notNull(),
    /** Its owner role there: a restore gives the new database to it. */
    roleName: varchar("role_name", { length: 63 }).notNull(),
    fileName: varchar("file_name", { length: 200 }).notNull(),
    path: varchar("path", { length: 500 }).notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }),
    sha256: varchar("sha256", { length: 64 }),
    status: varchar("status", { length: 16 }).notNull(),
    error: varchar("error", { length: 500 }),
    createdAt: timestamp("created_at", { withTimezone: true }).defaultNow().notNull(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (table) => [index("backups_user_id_database_id_idx").on(table.userId, table.databaseId, table.id), index("backups_status_idx").on(table.status)],
);

export type BackupRow = typeof backups.$inferSelect;
export type NewBackupRow = typeof backups.$inferInsert;

export const BACKUP_STATUS = { running: "running", done: "done", failed: "failed" } as const;

/**
 * Redis servers we deployed. Column names are the previous implementation's `caching` table
 * (the portal reads its camelCase fields), adopted by migration 0005. `password` is sealed like
 * deployed_db's. `status`: `deploying` while remote work runs, then `running`, `stopped` or
 * `failed`. `unit_instance` is the systemd instance (`redis-server@<instance>`) this service
 * created; adopted rows (started by hand by the previous implementation) have none.
 * A port is unique per machine and address, not across machines.
 */
export const caching = pgTable(
  "caching",
  {
    id: serial("id").primaryKey(),
    cacheName: varchar("cache_name").notNull(),
    password: varchar("password").notNull(),
    host: varchar("host").notNull(),
    vpsId: integer("vps_id").notNull(),
    userId: integer("user_id").notNull(),
    port: integer("port").notNull(),
    cachingType: varchar("caching_type").default("redis").notNull(),
    status: varchar("status").default("running").notNull(),
    createdAt: timestamp("created_at").defaultNow().notNull(),
    unitInstance: varchar("unit_instance"),
  },
  (table) => [
    uniqueIndex("caching_vps_id_host_port_key").on(table.vpsId, table.host, table.port),
    index("caching_user_id_id_idx").on(table.userId, table.id),
  ],
);

export type CachingRow = typeof caching.$inferSelect;
export type NewCachingRow = typeof caching.$inferInsert;

export const CACHING_STATUS = {
  deploying: "deploying",
  running: "running",
  stopped: "stopped",
  failed: "failed",
} as const;
