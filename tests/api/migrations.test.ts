import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { MIGRATIONS_FOLDER } from "../../src/devMode/embeddedDatabase";
import { LEGACY_TABLE, ThrowawayDatabase } from "../support/testDatabase";

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
    const { rows } = await db.pool.query(`SELECT db_name, password, legacy_names FROM deployed_db ORDER BY id`);
    // Adopted rows are marked: the previous implementation created their names unquoted.
    expect(rows).toEqual([
      { db_name: "a", password: "plain1", legacy_names: true },
      { db_name: "b", password: "plain2", legacy_names: true },
    ]);
    expect(await indexNames(db)).toEqual(["deployed_db_pkey", "deployed_db_user_id_id_idx", "deployed_db_vps_id_host_engine_db_name_key"]);
    await expect(
      db.pool.query(`INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES ('a', 'u', 'p', '1.2.3.4', 'postgres', 1, 7, 'running')`),
    ).rejects.toThrow(/unique/);
    // The same address as another machine (it moved to another tenant): not a duplicate.
    await db.pool.query(`INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES ('a', 'u', 'p', '1.2.3.4', 'postgres', 2, 8, 'running')`);
    const fresh = await db.pool.query(`SELECT legacy_names FROM deployed_db WHERE vps_id = 2`);
    expect(fresh.rows).toEqual([{ legacy_names: false }]);
  });

  test("rows this service deployed before the legacy mark existed stay unmarked", async () => {
    db = await ThrowawayDatabase.create("zsl_mark");
    await db.pool.query(LEGACY_TABLE);
    await db.pool.query(
      `INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES ('Old', 'OldUser', 'plain', '1.2.3.4', 'postgres', 1, 7, 'running')`,
    );
    // Migrate to just before 0002, as an instance of this service running already would have.
    const journal = (await Bun.file(`${MIGRATIONS_FOLDER}/meta/_journal.json`).json()) as { entries: Array<{ tag: string }> };
    const upTo0001 = mkdtempSync(join(tmpdir(), "zsl-migrations-"));
    await Bun.$`mkdir -p ${upTo0001}/meta && cp ${MIGRATIONS_FOLDER}/0000_adopt_deployed_db.sql ${MIGRATIONS_FOLDER}/0001_audit_log_and_host_keys.sql ${upTo0001}/`.quiet();
    await Bun.write(`${upTo0001}/meta/_journal.json`, JSON.stringify({ ...journal, entries: journal.entries.slice(0, 2) }));
    try {
      await migrate(drizzle(db.pool), { migrationsFolder: upTo0001 });
    } finally {
      await Bun.$`rm -rf ${upTo0001}`.quiet();
    }
    await db.pool.query(
      `INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES ('New', 'NewUser', 'sealed', '1.2.3.4', 'postgres', 1, 7, 'running')`,
    );
    await db.pool.query(`INSERT INTO audit_log (user_id, action, machine_id, host, db_name, outcome) VALUES (7, 'deploy', 1, '1.2.3.4', 'New', 'success'), (7, 'deploy', 1, '1.2.3.4', 'Old', 'failure')`);
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    const { rows } = await db.pool.query(`SELECT db_name, legacy_names FROM deployed_db ORDER BY id`);
    expect(rows).toEqual([
      { db_name: "Old", legacy_names: true },
      { db_name: "New", legacy_names: false },
    ]);
  });

  test("a fresh database gets the whole schema", async () => {
    db = await ThrowawayDatabase.create("zsl_fresh");
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    expect(await indexNames(db)).toContain("deployed_db_vps_id_host_engine_db_name_key");
  });

  test("0004: names are unique per engine: a MySQL and a PostgreSQL database of one name on one machine are both recorded", async () => {
    db = await ThrowawayDatabase.create("zsl_engines");
    await migrate(drizzle(db.pool), { migrationsFolder: MIGRATIONS_FOLDER });
    const insert = (dbType: string) =>
      db?.pool.query(`INSERT INTO deployed_db (db_name, username, password, host, db_type, vps_id, user_id, status) VALUES ('a', 'u', 'p', '1.2.3.4', $1, 1, 7, 'running')`, [dbType]);
    await insert("postgres");
    await insert("mysql");
    await expect(insert("MySQL")).rejects.toThrow(/unique/);
    await expect(insert("postgresql")).rejects.toThrow(/unique/);
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
