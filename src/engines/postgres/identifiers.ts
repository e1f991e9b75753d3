/**
 * Identifiers reach remote shells and SQL, so they are held to a strict shape before any
 * connection is made, and quoted anyway where they are used.
 */
export const IDENTIFIER_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$";
export const IDENTIFIER_MAX_BYTES = 63;
const IDENTIFIER_RE = new RegExp(IDENTIFIER_PATTERN);

/** Names PostgreSQL or the platform needs for itself; a deploy must never take them over. */
const RESERVED_DATABASES = new Set(["postgres", "template0", "template1"]);
const RESERVED_ROLES = new Set(["postgres", "public", "current_user", "session_user", "current_role", "none"]);

export function isValidIdentifier(value: string): boolean {
  return IDENTIFIER_RE.test(value) && Buffer.byteLength(value, "utf8") <= IDENTIFIER_MAX_BYTES;
}

/**
 * Names of existing objects we only read (schemas, tables, columns): anything PostgreSQL
 * accepts, i.e. non-empty, no NUL, at most 63 bytes. They are never put into a script as
 * text (see nameSql in tableQueries.ts).
 */
export function isCatalogName(value: string): boolean {
  return value.length > 0 && !value.includes("\0") && Buffer.byteLength(value, "utf8") <= IDENTIFIER_MAX_BYTES;
}

export function isReservedDatabase(name: string): boolean {
  return RESERVED_DATABASES.has(name.toLowerCase());
}

export function isReservedRole(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_ROLES.has(lower) || lower.startsWith("pg_");
}

/** SQL identifier quoting (PostgreSQL rules: double quotes, inner quotes doubled). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * SQL string literal. Our scripts force `standard_conforming_strings = on` first, so only
 * single quotes need doubling and backslashes stay literal.
 */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new Error("SQL literals cannot contain NUL bytes");
  return `'${value.replaceAll("'", "''")}'`;
}
