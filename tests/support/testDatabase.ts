import { randomBytes } from "node:crypto";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { createDeployedDbStore, type DeployedDbStore, type MetadataDatabase } from "../../src/metadata/deployedDbStore";
import { createCachingStore, type CachingStore } from "../../src/metadata/cachingStore";
import { MIGRATIONS_FOLDER } from "../../src/devMode/embeddedDatabase";
import { openMetadataDatabase } from "../../src/metadata/metadataClient";
import { encryptMachineSecret } from "../../src/crypto/machineSecret";
import { createSqlMachineRegistry, type MachineRegistry } from "../../src/machines/machineRegistry";

/** The deployment manager's table, as documented in shared/reference/README.md. */
export const VPS_MACHINES_DDL = `
CREATE TABLE vps_machines (
  id serial PRIMARY KEY,
  vps_ip varchar(100) NOT NULL,
  vps_name varchar(100) NOT NULL,
  vps_password text NOT NULL,
  "ownerId" integer NOT NULL,
  ssh_key text,
  ram integer, storage integer, cpu_cores integer,
  expiry_date timestamp, added_at timestamp DEFAULT now(), updated_at timestamp DEFAULT now()
)`;

/** What `drizzle-kit push` left in production for the previous implementation: the table, no history. */
export const LEGACY_TABLE = `
CREATE TABLE deployed_db (
  id serial PRIMARY KEY,
  db_name varchar NOT NULL,
  username varchar NOT NULL,
  password varchar NOT NULL,
  host varchar NOT NULL,
  db_type varchar NOT NULL,
  vps_id integer NOT NULL,
  user_id integer NOT NULL,
  status varchar NOT NULL,
  created_at timestamp DEFAULT now() NOT NULL
)`;

export function testDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("TEST_DATABASE_URL is not set: run the suite with `npm test` (scripts/test.sh)");
  return url;
}

export function urlForDatabase(name: string): string {
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** A throwaway database on the machine's real PostgreSQL server. */
export class ThrowawayDatabase {
  readonly pool: pg.Pool;
  private constructor(
    readonly name: string,
    readonly url: string,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 10 });
    this.pool.on("error", () => undefined);
  }

  static async create(prefix = "zsl_test"): Promise<ThrowawayDatabase> {
    const name = `${prefix}_${randomBytes(5).toString("hex")}`;
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${name}"`);
    } finally {
      await admin.end();
    }
    return new ThrowawayDatabase(name, urlForDatabase(name));
  }

  async drop(): Promise<void> {
    await this.pool.end().catch(() => undefined);
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${this.name}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}

export interface TestDatabases {
  metadata: ThrowawayDatabase;
  registryDb: ThrowawayDatabase;
  drizzleDb: MetadataDatabase;
  store: DeployedDbStore;
  /** Redis servers (`caching`), on the production driver too. */
  caching: CachingStore;
  registry: MachineRegistry;
  addMachine(machine: { ip: string; ownerId: number; rootPassword: string; sshKey?: string }): Promise<number>;
  dropAll(): Promise<void>;
}

/**
 * Our migrated metadata database plus a deployment-manager registry, both real and throwaway.
 * `beforeMigrate` may lay out what an older deployment left (e.g. the previous implementation's rows).
 */
export async function createTestDatabases(encryptionKey: string, options: { beforeMigrate?: (metadata: pg.Pool) => Promise<void> } = {}): Promise<TestDatabases> {
  const metadata = await ThrowawayDatabase.create("zsl_meta");
  const registryDb = await ThrowawayDatabase.create("zsl_registry");
  const drizzleDb = drizzle(metadata.pool);
  await options.beforeMigrate?.(metadata.pool);
  await migrate(drizzleDb, { migrationsFolder: MIGRATIONS_FOLDER });
  await registryDb.pool.query(VPS_MACHINES_DDL);
  // The store under test uses the production driver; assertions go through `drizzleDb` (pg).
  const production = openMetadataDatabase(metadata.url);
  return {
    metadata,
    registryDb,
    drizzleDb,
    store: createDeployedDbStore(production.db),
    caching: createCachingStore(production.db),
    registry: createSqlMachineRegistry(registryDb.pool),
    async addMachine({ ip, ownerId, rootPassword, sshKey }) {
      const { rows } = await registryDb.pool.query<{ id: number }>(
        `INSERT INTO vps_machines (vps_ip, vps_name, vps_password, "ownerId", ssh_key) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
        [ip, `vps-${ip}`, encryptMachineSecret(rootPassword, encryptionKey), ownerId, sshKey ? encryptMachineSecret(sshKey, encryptionKey) : null],
      );
      return Number(rows[0]?.id);
    },
    async dropAll() {
      await production.close();
      await metadata.drop();
      await registryDb.drop();
    },
  };
}
