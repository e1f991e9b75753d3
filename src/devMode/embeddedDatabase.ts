import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import { migrate } from "drizzle-orm/pglite/migrator";
import { join } from "node:path";
import type { MetadataDatabase } from "../db/deployedDbStore";
import type { SqlQueryable } from "../machines/machineRegistry";

/** The deployment manager's table shape, so the zero-config registry behaves like the real one. */
const LOCAL_REGISTRY_DDL = `
CREATE TABLE IF NOT EXISTS vps_machines (
  id serial PRIMARY KEY,
  vps_ip varchar(100) NOT NULL,
  vps_name varchar(100) NOT NULL DEFAULT 'local machine',
  vps_password text NOT NULL,
  "ownerId" integer NOT NULL,
  ssh_key text,
  ram integer NOT NULL DEFAULT 0,
  storage integer NOT NULL DEFAULT 0,
  cpu_cores integer NOT NULL DEFAULT 0,
  expiry_date timestamp,
  added_at timestamp NOT NULL DEFAULT now(),
  updated_at timestamp NOT NULL DEFAULT now()
)`;

export interface EmbeddedDatabase {
  metadata: MetadataDatabase;
  registry: SqlQueryable;
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = join(import.meta.dir, "..", "..", "drizzle");

/** Opens (creating on first use) the PGlite database of zero-config mode and migrates it. */
export async function openEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const client = new PGlite(join(dataDir, "pglite"));
  const metadata = drizzle(client);
  await migrate(metadata, { migrationsFolder: MIGRATIONS_FOLDER });
  await client.exec(LOCAL_REGISTRY_DDL);
  return {
    metadata,
    registry: {
      query: async (text, params) => {
        const result = await client.query<Record<string, unknown>>(text, params);
        return { rows: result.rows };
      },
    },
    close: () => client.close(),
  };
}
