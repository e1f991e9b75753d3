import { InvalidRequestError } from "../../errors/appErrors";
import { IDENTIFIER_MAX_BYTES, isCatalogName } from "../../engines/postgres/identifiers";
import type { TableDataQuery } from "../../engines/postgres/tableQueries";
import type { TableDataBody } from "./tables.model";

/** Checked before anything else happens: names of existing objects, as PostgreSQL allows them. */
export function requireCatalogNames(names: Record<string, string | undefined>): void {
  for (const [field, value] of Object.entries(names)) {
    if (value !== undefined && !isCatalogName(value)) {
      throw new InvalidRequestError(`${field} must be the name of an existing object: 1 to ${IDENTIFIER_MAX_BYTES} bytes, no NUL`);
    }
  }
}

/** The paging and format fields of a table-data request, as validated by its model. */
export type TableReadOptions = Pick<typeof TableDataBody.static, "schema" | "limit" | "offset" | "orderBy" | "order" | "format" | "csvSafe" | "after">;

export interface TableRead {
  format: "json" | "csv";
  csvSafe: boolean;
  query: TableDataQuery;
  /** The page size the JSON answer reports (the cap when none was asked for). */
  limit: number | undefined;
  offset: number;
}

/**
 * Defaults: schema `public`, ascending, from the first row. A JSON answer without `limit`
 * is capped at `maxRows` (and says so through `limit` and `truncated`); a CSV download
 * without `limit` is the whole table, since it streams in constant memory.
 */
export function toTableRead(dbName: string, table: string, options: TableReadOptions, maxRows: number): TableRead {
  const format = options.format ?? "json";
  const offset = options.offset ?? 0;
  const limit = options.limit ?? (format === "json" ? maxRows : undefined);
  if (options.after !== undefined && options.orderBy !== undefined) {
    throw new InvalidRequestError("after: pages by key are in primary key order; leave out orderBy");
  }
  if (options.after !== undefined && offset > 0) throw new InvalidRequestError("after: takes the place of offset; leave out offset");
  return {
    format,
    csvSafe: options.csvSafe === true,
    limit,
    offset,
    query: {
      dbName,
      schema: options.schema ?? "public",
      table,
      orderBy: options.orderBy,
      descending: options.order === "desc",
      limit,
      offset,
      // PostgreSQL's text for booleans and numbers is what JavaScript prints (t/f accept true/false).
      after: options.after?.map((value) => String(value)),
      format: format === "json" ? "text" : "csv",
    },
  };
}
