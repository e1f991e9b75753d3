import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import { migrate } from "drizzle-orm/pglite/migrator";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { MetadataDatabase } from "../metadata/deployedDbStore";
import type { SqlQueryable } from "../machines/machineRegistry";
import { DataDirInUseError, lockDataDir, type DataDirLock, type DataDirUser } from "./dataDirLock";

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

/** The longest the service waits for a command-line tool (e.g. `machine:add`) to let go of the data directory. */
const WAIT_FOR_TOOL_MS = 180_000;

/** The data directory's lock; the service waits while a tool holds it, and gives up on another service at once. */
async function takeDataDir(dataDir: string, user: DataDirUser): Promise<DataDirLock> {
  const deadline = Date.now() + WAIT_FOR_TOOL_MS;
  for (;;) {
    try {
      return lockDataDir(dataDir, user);
    } catch (error) {
      if (!(error instanceof DataDirInUseError) || error.holder !== "tool" || user !== "service" || Date.now() > deadline) throw error;
      await Bun.sleep(250);
    }
  }
}

/**
 * Opens (creating on first use) the PGlite database of zero-config mode and migrates it. The
 * data directory stays locked to this process until `close()` (see `dataDirLock.ts`); another
 * process opening it meanwhile gets `DataDirInUseError` instead of running initdb and the
 * migrations over the same files (the service first waits, bounded, for a tool to finish).
 */
export async function openEmbeddedDatabase(dataDir: string, user: DataDirUser): Promise<EmbeddedDatabase> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lock = await takeDataDir(dataDir, user);
  let client: PGlite | undefined;
  try {
    client = new PGlite(join(dataDir, "pglite"));
    const opened = client;
    const metadata = drizzle(opened);
    await migrate(metadata, { migrationsFolder: MIGRATIONS_FOLDER });
    await opened.exec(LOCAL_REGISTRY_DDL);
    return {
      metadata,
      registry: {
        query: async (text, params) => {
          const result = await opened.query<Record<string, unknown>>(text, params);
          return { rows: result.rows };
        },
      },
      close: async () => {
        try {
          await opened.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (error) {
    await client?.close().catch(() => undefined);
    lock.release();
    throw error;
  }
}
