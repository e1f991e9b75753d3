import pg from "pg";

/** Proves a freshly deployed database accepts its owner's login over the network. */
export type DatabaseProbe = (connection: { host: string; port: number; user: string; password: string; database: string }) => Promise<void>;

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
