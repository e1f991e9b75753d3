/** Recognises driver errors by PostgreSQL SQLSTATE or socket error code, through wrappers. */
function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
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
  if (codesOf(error).some((code) => CONNECTION_CODES.has(code) || code.startsWith("08"))) return true;
  const message = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : "";
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error/i.test(message);
}
