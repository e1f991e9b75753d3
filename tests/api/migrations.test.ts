import { afterEach, describe, expect, test } from "bun:test";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { MIGRATIONS_FOLDER } from "../../src/devMode/embeddedDatabase";
import { ThrowawayDatabase } from "../support/testDatabase";

/** What `drizzle-kit push` left in production for the previous implementation: the table, no history. */
const LEGACY_TABLE = `
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

let db: ThrowawayDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

async function indexNames(target: ThrowawayDatabase): Promise<string[]> {
  const { rows } = await target.pool.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'deployed_db' ORDER BY 1`);
  return rows.map((row) => row.indexname);
}

describe("migrations", () => {
  test("adopt a database created by drizzle-kit push and keep every row", async () => {
    db = await ThrowawayDatabase.create("zsl_adopt");
    await db.pool.query(LEGACY_TABLE);
    await db.pool.query(
      `INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES
       ('a', 'u', 'plain1', '1.2.3.4', 'postgres', 1, 7, 'running'), ('b', 'u', 'plain2', '1.2.3.4', 'postgres', 1, 7, 'running')`,
    );
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    const { rows } = await db.pool.query(`SELECT db_name, password FROM deployed_db ORDER BY id`);
    expect(rows).toEqual([
      { db_name: "a", password: "plain1" },
      { db_name: "b", password: "plain2" },
    ]);
    expect(await indexNames(db)).toEqual(["deployed_db_host_db_name_key", "deployed_db_host_username_idx", "deployed_db_pkey", "deployed_db_user_id_id_idx"]);
    await expect(
      db.pool.query(`INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES ('a', 'u', 'p', '1.2.3.4', 'postgres', 1, 7, 'running')`),
    ).rejects.toThrow(/unique/);
  });

  test("a fresh database gets the whole schema", async () => {
    db = await ThrowawayDatabase.create("zsl_fresh");
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    expect(await indexNames(db)).toContain("deployed_db_host_db_name_key");
  });

  test("duplicate (host, db_name) rows stop the migration with guidance and lose nothing", async () => {
    db = await ThrowawayDatabase.create("zsl_dupes");
    await db.pool.query(LEGACY_TABLE);
    await db.pool.query(
      `INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES
       ('a', 'u', 'p', '1.2.3.4', 'postgres', 1, 7, 'running'), ('a', 'u', 'p', '1.2.3.4', 'postgres', 1, 7, 'running')`,
    );
    await expect(migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER })).rejects.toThrow();
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM deployed_db`)).rows[0]).toEqual({ n: 2 });
  });
});
