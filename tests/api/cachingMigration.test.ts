import { afterEach, describe, expect, test } from "bun:test";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { MIGRATIONS_FOLDER } from "../../src/devMode/embeddedDatabase";
import { ThrowawayDatabase } from "../support/testDatabase";

/** What `drizzle-kit push` left for the previous implementation's Redis servers (portal-routes.md 5.1). */
const LEGACY_CACHING = `
CREATE TABLE caching (
  id serial PRIMARY KEY,
  cache_name varchar NOT NULL,
  password varchar NOT NULL,
  host varchar NOT NULL,
  vps_id integer NOT NULL,
  user_id integer NOT NULL,
  port integer NOT NULL,
  caching_type varchar DEFAULT 'redis',
  status varchar DEFAULT 'running' NOT NULL,
  created_at timestamp DEFAULT now() NOT NULL,
  CONSTRAINT caching_port_unique UNIQUE(port)
)`;

const insert = `INSERT INTO caching (cache_name, password, host, vps_id, user_id, port, caching_type) VALUES ($1, 'pw', $2, $3, 7, $4, $5)`;

let db: ThrowawayDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

describe("migration 0005 (caching)", () => {
  test("adopts a push-created caching table: rows kept, caching_type never null, ports unique per machine instead of globally", async () => {
    db = await ThrowawayDatabase.create("zsl_caching");
    await db.pool.query(LEGACY_CACHING);
    await db.pool.query(insert, ["a", "1.2.3.4", 1, 6380, null]);
    await db.pool.query(insert, ["b", "1.2.3.4", 1, 6381, "redis"]);
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    const { rows } = await db.pool.query(`SELECT cache_name, password, caching_type, status, unit_instance FROM caching ORDER BY id`);
    expect(rows).toEqual([
      { cache_name: "a", password: "pw", caching_type: "redis", status: "running", unit_instance: null },
      { cache_name: "b", password: "pw", caching_type: "redis", status: "running", unit_instance: null },
    ]);
    // Another machine may use the same port; the same machine may not.
    await db.pool.query(insert, ["c", "5.6.7.8", 2, 6380, "redis"]);
    await expect(db.pool.query(insert, ["d", "1.2.3.4", 1, 6380, "redis"])).rejects.toThrow(/unique/);
    await expect(db.pool.query(`INSERT INTO caching (cache_name, password, host, vps_id, user_id, port, caching_type) VALUES ('e', 'pw', 'h', 3, 7, 1, NULL)`)).rejects.toThrow(/null/);
  });

  test("a fresh database gets the caching table with its per-machine port index", async () => {
    db = await ThrowawayDatabase.create("zsl_caching_fresh");
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    const { rows } = await db.pool.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'caching' ORDER BY 1`);
    expect(rows.map((row) => row.indexname)).toEqual(["caching_pkey", "caching_user_id_id_idx", "caching_vps_id_host_port_key"]);
  });
});
