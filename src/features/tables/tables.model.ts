import { t } from "elysia";
import { identifier, machineId, machineIp } from "../../http/commonModels";
import { IDENTIFIER_MAX_BYTES } from "../../engines/postgres/identifiers";

/**
 * A schema, table or column name as the catalog has it. The byte limit is checked by
 * requireCatalogNames (tableRequest.ts), since a schema can only count characters.
 */
const catalogName = (field: string) =>
  t.String({
    minLength: 1,
    maxLength: IDENTIFIER_MAX_BYTES,
    pattern: "^[^\\u0000]+$",
    error: `${field} must be the name of an existing object: 1 to ${IDENTIFIER_MAX_BYTES} bytes, no NUL`,
  });

/** PostgreSQL's own limit on index columns; a key value longer than this fits in no btree index anyway. */
const MAX_KEY_COLUMNS = 32;
const KEY_VALUE_MAX_CHARS = 8192;

/** The most rows one JSON page or CSV download may ask for. */
export const MAX_PAGE_ROWS = 100_000;

export const TablesListBody = t.Object({
  databaseName: identifier("databaseName"),
  vpsId: machineId,
  vpsIp: machineIp,
  // Kept for the portal's contract; browsing runs with the rights of the database's owner.
  username: t.Optional(identifier("username")),
  schema: t.Optional(catalogName("schema")),
});

export const TableDataBody = t.Object({
  databaseName: identifier("databaseName"),
  vpsId: machineId,
  vpsIp: machineIp,
  tableName: catalogName("tableName"),
  username: identifier("username"),
  schema: t.Optional(catalogName("schema")),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE_ROWS, error: `limit must be a whole number from 1 to ${MAX_PAGE_ROWS}` })),
  offset: t.Optional(t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, error: "offset must be a whole number of at least 0" })),
  orderBy: t.Optional(catalogName("orderBy")),
  order: t.Optional(t.Union([t.Literal("asc"), t.Literal("desc")], { error: 'order must be "asc" or "desc"' })),
  format: t.Optional(t.Union([t.Literal("json"), t.Literal("csv")], { error: 'format must be "json" or "csv"' })),
  csvSafe: t.Optional(t.Boolean({ error: "csvSafe must be true or false" })),
  after: t.Optional(
    t.Array(t.Union([t.String({ maxLength: KEY_VALUE_MAX_CHARS, pattern: "^[^\\u0000]*$" }), t.Number(), t.Boolean()]), {
      minItems: 1,
      maxItems: MAX_KEY_COLUMNS,
      description:
        "Keyset paging: the primary key of the last row already read (the previous page's nextAfter), one value per key column; " +
        "the page then starts right after that row, as fast on page 1,000 as on page 1. Not with orderBy, not with offset.",
      error: `after must be the previous page's nextAfter: 1 to ${MAX_KEY_COLUMNS} key values (strings, numbers or booleans, no NUL)`,
    }),
  ),
});

export const TablesList = t.Object(
  { status: t.Literal(200), data: t.Array(t.String()), message: t.String() },
  { description: "Tables and views of the schema, by name", examples: [{ status: 200, data: ["customers", "orders"], message: "Tables list fetched successfully" }] },
);

const Cell = t.Union([t.Null(), t.Boolean(), t.Number(), t.String()], {
  description: "null only for SQL NULL; booleans; numbers for int2/int4/float4/float8; otherwise PostgreSQL's text output",
});

/** Documentation only: this body is streamed, so Elysia cannot check it (tests do). */
export const TablePage = t.Object(
  {
    status: t.Literal("success"),
    columns: t.Array(t.Object({ name: t.String(), type: t.String() })),
    limit: t.Integer({ description: "The page size applied (TABLE_DATA_MAX_ROWS when none was asked for)" }),
    offset: t.Integer(),
    estimatedTotal: t.Union([t.Integer(), t.Null()]),
    data: t.Array(t.Record(t.String(), Cell)),
    truncated: t.Boolean(),
    nextAfter: t.Union([t.Array(Cell), t.Null()], {
      description: "When more rows exist and the page is in primary key order (no orderBy): the last row's key, to send as `after` for the next page; else null",
    }),
  },
  {
    description: "One page of rows (format json), streamed; with format csv a text/csv download instead",
    examples: [
      {
        status: "success",
        columns: [
          { name: "id", type: "integer" },
          { name: "name", type: "text" },
        ],
        limit: 10000,
        offset: 0,
        estimatedTotal: 1,
        data: [{ id: 1, name: "Ann" }],
        truncated: false,
        nextAfter: null,
      },
    ],
  },
);
