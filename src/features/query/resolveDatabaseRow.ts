import type { DeployedDbRow } from "../../metadata/schema";
import { InvalidRequestError, NotFoundError } from "../../errors/appErrors";

const isPostgresRow = (row: DeployedDbRow) => /^postgres(ql)?$/i.test(row.dbType);

/**
 * The portal lower-cases the name it sends: the caller's own PostgreSQL rows on that machine,
 * exact name first, then case-insensitively; two rows differing only in case are ambiguous.
 */
export function resolveDatabaseRow(rows: DeployedDbRow[], databaseName: string): DeployedDbRow {
  const candidates = rows.filter(isPostgresRow);
  const exact = candidates.find((row) => row.dbName === databaseName);
  if (exact) return exact;
  const folded = candidates.filter((row) => row.dbName.toLowerCase() === databaseName.toLowerCase());
  if (folded.length > 1) {
    throw new InvalidRequestError(`databaseName ${databaseName} matches several of your databases on this machine (${folded.map((row) => row.dbName).join(", ")}); send the exact name`);
  }
  const [row] = folded;
  if (!row) throw new NotFoundError("Database not found");
  return row;
}

