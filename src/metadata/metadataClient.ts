import { SQL } from "bun";
import { drizzle } from "drizzle-orm/bun-sql";
import type { MetadataDatabase } from "./deployedDbStore";

export interface MetadataConnection {
  db: MetadataDatabase;
  close(): Promise<void>;
}

/**
 * Our metadata database through Bun's built-in PostgreSQL client: on the `GET /get-db` hot path
 * it needs far less CPU per query than node-postgres does under Bun. (The deployment manager's
 * registry keeps a `pg` Pool, and ops' drizzle-kit uses `pg` too.) Nothing may hang: bounded
 * connect time, and statement timeouts set on every session.
 */
export function openMetadataDatabase(url: string, options: { max?: number; statementTimeoutMs?: number } = {}): MetadataConnection {
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const client = new SQL({
    url,
    max: options.max ?? 10,
    // Bun 1.4 waits this long even for a reconnect the server refuses at once, so an outage
    // answers 503 after about this long; shorter made busy moments fail as outages.
    connectionTimeout: 5,
    idleTimeout: 60,
    connection: { statement_timeout: statementTimeoutMs, idle_in_transaction_session_timeout: statementTimeoutMs },
  });
  return { db: drizzle({ client }), close: () => client.close() };
}
