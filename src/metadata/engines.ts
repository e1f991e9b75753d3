import { sql, type SQL } from "drizzle-orm";
import { deployed_db } from "./schema";

/** The database engines sharing `deployed_db`; rows are told apart by `db_type`. */
export type Engine = "postgres" | "mysql";

/** The `db_type` this service writes for each engine. */
export const DB_TYPE_OF: Record<Engine, string> = { postgres: "postgres", mysql: "mysql" };

/** Like the portal: `mysql` (any case) is MySQL, every other type (postgres, postgresql, ...) PostgreSQL. */
export function engineOf(dbType: string): Engine {
  return dbType.toLowerCase() === "mysql" ? "mysql" : "postgres";
}

/** SQL twin of engineOf, also the expression the unique index is built on. */
export const IS_MYSQL_SQL = sql`(lower(${deployed_db.dbType}) = 'mysql')`;

export function ofEngine(engine: Engine): SQL {
  return engine === "mysql" ? sql`lower(${deployed_db.dbType}) = 'mysql'` : sql`lower(${deployed_db.dbType}) <> 'mysql'`;
}
