import pg from "pg";
import type { DatabaseProbe } from "../features/databases/databaseService";

/** Logs in to a deployed database over TCP exactly as a user would, then hangs up. */
export function createPgProbe(timeoutMs: number): DatabaseProbe {
  return async ({ host, port, user, password, database }) => {
    const client = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
    // A failed connect also emits 'error'; without a listener that would be an unhandled error.
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
    } finally {
      await client.end().catch(() => undefined);
    }
  };
}
