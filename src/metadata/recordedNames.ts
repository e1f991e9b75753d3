import type { DeployedDbRow } from "./schema";

/**
 * What PostgreSQL made of a name the previous implementation wrote unquoted: ASCII capitals
 * folded to lower case (its folding of other characters applies only to single-byte server
 * encodings, which nobody deploys). Names this service creates are quoted and kept as given.
 */
export function foldUnquotedName(name: string): string {
  return name.replace(/[A-Z]+/g, (capitals) => capitals.toLowerCase());
}

/** The same folding in SQL, for the store's queries; both are checked to agree in the tests. */
export const FOLD_UNQUOTED_SQL = {
  from: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  to: "abcdefghijklmnopqrstuvwxyz",
} as const;

/** The database and role a recorded row stands for, as they are named on the machine. */
export function namesOnMachine(row: Pick<DeployedDbRow, "dbName" | "username" | "legacyNames">): { dbName: string; roleName: string } {
  if (!row.legacyNames) return { dbName: row.dbName, roleName: row.username };
  return { dbName: foldUnquotedName(row.dbName), roleName: foldUnquotedName(row.username) };
}
