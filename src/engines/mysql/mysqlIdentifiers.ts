/**
 * MySQL names are held to the service's identifier pattern (validated in the request models
 * before any connection) and MySQL's own length limits, and quoted anyway where they are used.
 */
export const MYSQL_DATABASE_MAX_CHARS = 64;
export const MYSQL_USER_MAX_CHARS = 32;

/** Databases and users the server needs for itself; a deploy must never take them over. */
const RESERVED_DATABASES = new Set(["mysql", "information_schema", "performance_schema", "sys", "test"]);
const RESERVED_USERS = new Set(["root", "mysql", "mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema", "debian-sys-maint"]);

export function isReservedMySqlDatabase(name: string): boolean {
  return RESERVED_DATABASES.has(name.toLowerCase());
}

export function isReservedMySqlUser(name: string): boolean {
  return RESERVED_USERS.has(name.toLowerCase());
}

/** Identifier quoting: backticks, inner backticks doubled. */
export function mysqlIdent(name: string): string {
  return `\`${name.replaceAll("`", "``")}\``;
}

/**
 * String literal for a session whose sql_mode has backslash escapes on (our scripts set it):
 * backslash and quote escaped, everything else (newlines, unicode) literal.
 */
export function mysqlLiteral(value: string): string {
  if (value.includes("\0")) throw new Error("SQL literals cannot contain NUL bytes");
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}
