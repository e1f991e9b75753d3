import { DependencyUnavailableError } from "../errors/appErrors";

/**
 * Recognises driver errors by PostgreSQL SQLSTATE or connection error code, through wrappers
 * (Drizzle's DrizzleQueryError) and for both drivers we use: Bun's SQL client (SQLSTATE in
 * `errno`, its own codes in `code`) and node-postgres (SQLSTATE or socket error in `code`).
 */
function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    for (const field of ["code", "errno"] as const) {
      const value = (current as Record<string, unknown>)[field];
      if (typeof value === "string") codes.push(value);
    }
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

export function isUniqueViolation(error: unknown): boolean {
  return codesOf(error).includes("23505");
}

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "EPIPE", "57P01", "57P02", "57P03", "53300"]);

/** True when the database could not be reached or went away (not a bug in our SQL). */
export function isConnectionFailure(error: unknown): boolean {
  const codes = codesOf(error);
  if (codes.some((code) => CONNECTION_CODES.has(code) || code.startsWith("08") || code.startsWith("ERR_POSTGRES_CONNECTION") || code === "ERR_POSTGRES_IDLE_TIMEOUT")) {
    return true;
  }
  const message = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : "";
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error|Connection closed|Failed to connect/i.test(message);
}

/** Runs a metadata query; a database that cannot be reached becomes a 503, anything else stays as it is. */
export async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isConnectionFailure(error)) throw new DependencyUnavailableError("The metadata database is unavailable, please try again shortly");
    throw error;
  }
}

/** A pooled connection closed under a query fails it at once; a connect attempt takes far longer. */
const STALE_CONNECTION_FAILS_WITHIN_MS = 1_000;

/**
 * For reads only: a pooled connection the server or the client closed under us fails the query
 * that drew it, so one more try on another connection comes first. A failure that took longer
 * was a connect attempt waiting out its timeout (a real outage): trying again would only double
 * the caller's wait for the same answer.
 */
export async function readTryingTwice<T>(work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } catch (error) {
    if (!isConnectionFailure(error) || performance.now() - started > STALE_CONNECTION_FAILS_WITHIN_MS) throw error;
    return work();
  }
}

/** `guarded` for reads, which may safely run twice. */
export function guardedRead<T>(work: () => Promise<T>): Promise<T> {
  return guarded(() => readTryingTwice(work));
}
