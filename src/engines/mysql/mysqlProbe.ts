import mysql from "mysql2/promise";

export interface MySqlLogin {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** Proves a deployed MySQL database accepts its user's login over TCP. */
export type MySqlProbe = (login: MySqlLogin) => Promise<void>;

/** Logs in over the network exactly as a user would, then hangs up. */
export function createMySqlProbe(timeoutMs: number): MySqlProbe {
  return async (login) => {
    const connection = await mysql.createConnection({ ...login, connectTimeout: timeoutMs });
    try {
      await connection.query({ sql: "SELECT 1", timeout: timeoutMs });
    } finally {
      await connection.end().catch(() => undefined);
    }
  };
}
