import { t } from "elysia";
import { machineId, machineIp } from "../../http/commonModels";
import { IDENTIFIER_PATTERN } from "../../engines/postgres/identifiers";
import { MYSQL_DATABASE_MAX_CHARS, MYSQL_USER_MAX_CHARS } from "../../engines/mysql/mysqlIdentifiers";

const mysqlName = (field: string, maxLength: number) =>
  t.String({
    pattern: IDENTIFIER_PATTERN,
    maxLength,
    error: `${field} must start with a letter or underscore and contain only letters, digits and underscores (at most ${maxLength} characters)`,
  });

// Any characters are allowed: passwords only ever travel through stdin, SQL literals and option files read from a pipe.
const secret = (field: string) =>
  t.String({ minLength: 1, maxLength: 1024, pattern: "^[^\\u0000]*$", error: `${field} must be 1 to 1024 characters without NUL bytes` });

export const DeployMySqlBody = t.Object({
  vpsId: machineId,
  vpsIp: machineIp,
  dbName: mysqlName("dbName", MYSQL_DATABASE_MAX_CHARS),
  userName: mysqlName("userName", MYSQL_USER_MAX_CHARS),
  password: secret("password"),
  dbType: t.Optional(t.Literal("mysql", { error: "dbType must be mysql" })),
  rootPassword: secret("rootPassword"),
});

export const DeployMySqlResponse = t.Object(
  {
    status: t.Literal(200),
    message: t.String(),
    id: t.Integer({ description: "The deployed_db row" }),
    connectionString: t.String({ description: "mysql://user:password@host:port/db, percent-encoded" }),
    data: t.Object({ success: t.Literal(true), existingInstallation: t.Boolean({ description: "MySQL was installed before this deploy" }) }),
  },
  {
    description: "The database exists and its user logs in over the network",
    examples: [
      {
        status: 200,
        message: "MySQL database deployed successfully",
        id: 5,
        connectionString: "mysql://shop_user:s3cret!@203.0.113.10:3306/shop",
        data: { success: true, existingInstallation: false },
      },
    ],
  },
);

export const DeleteMySqlBody = t.Object({
  vpsId: machineId,
  vpsIp: machineIp,
  dbName: mysqlName("dbName", MYSQL_DATABASE_MAX_CHARS),
  userName: t.Optional(t.String({ maxLength: 200 })),
  password: t.Optional(t.String({ maxLength: 1024 })),
});

export const DeleteMySqlResponse = t.Object(
  { status: t.Literal("success"), message: t.String() },
  { description: "The database is dropped (and its user, unless another recorded database uses it)", examples: [{ status: "success", message: "Database deleted successfully" }] },
);

/** The most rows one JSON page or CSV download may ask for (as for PostgreSQL). */
export const MYSQL_MAX_PAGE_ROWS = 100_000;

const databaseName = mysqlName("databaseName", MYSQL_DATABASE_MAX_CHARS);

// username and password are kept for the portal's contract: reads log in as the recorded user.
export const MySqlTablesListBody = t.Object({
  databaseName,
  vpsId: machineId,
  vpsIp: machineIp,
  username: t.Optional(t.String({ maxLength: 200 })),
  password: t.Optional(t.String({ maxLength: 1024 })),
});

export const MySqlTableDataBody = t.Object({
  databaseName,
  vpsId: machineId,
  vpsIp: machineIp,
  tableName: mysqlName("tableName", MYSQL_DATABASE_MAX_CHARS),
  username: t.Optional(t.String({ maxLength: 200 })),
  password: t.Optional(t.String({ maxLength: 1024 })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: MYSQL_MAX_PAGE_ROWS, error: `limit must be a whole number from 1 to ${MYSQL_MAX_PAGE_ROWS}` })),
  offset: t.Optional(t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, error: "offset must be a whole number of at least 0" })),
  orderBy: t.Optional(mysqlName("orderBy", MYSQL_DATABASE_MAX_CHARS)),
  order: t.Optional(t.Union([t.Literal("asc"), t.Literal("desc")], { error: 'order must be "asc" or "desc"' })),
  format: t.Optional(t.Union([t.Literal("json"), t.Literal("csv")], { error: 'format must be "json" or "csv"' })),
});

export const MySqlTablesList = t.Object(
  { status: t.Literal("success"), data: t.Array(t.Object({ name: t.String(), size: t.Optional(t.Integer({ description: "Data and index bytes (base tables only)" })) })) },
  { description: "Tables and views of the database, by name", examples: [{ status: "success", data: [{ name: "customers", size: 16384 }, { name: "recent_orders" }] }] },
);

const MySqlCellModel = t.Union([t.Null(), t.Number(), t.String()], {
  description: "null only for SQL NULL; numbers for TINYINT…INT, YEAR, FLOAT, DOUBLE; BIGINT and DECIMAL as digits; dates, times and JSON as MySQL prints them; binary as 0x-hex",
});

export const MySqlTablePage = t.Object(
  {
    status: t.Literal("success"),
    columns: t.Array(t.Object({ name: t.String(), type: t.String() })),
    limit: t.Integer(),
    offset: t.Integer(),
    estimatedTotal: t.Union([t.Integer(), t.Null()]),
    data: t.Array(t.Record(t.String(), MySqlCellModel)),
    truncated: t.Boolean(),
  },
  {
    description: "One page of rows (format json); with format csv a text/csv download instead",
    examples: [
      {
        status: "success",
        columns: [
          { name: "id", type: "bigint(20)" },
          { name: "name", type: "varchar(50)" },
        ],
        limit: 10000,
        offset: 0,
        estimatedTotal: 1,
        data: [{ id: "1", name: "Ann" }],
        truncated: false,
      },
    ],
  },
);

export const RunMySqlQueryBody = t.Object({
  // The portal sends the recorded name lower-cased; the service finds the caller's row for it.
  databaseName,
  vpsId: machineId,
  vpsIp: machineIp,
  // Kept for the portal's contract; the SQL always runs as the database's recorded user.
  username: t.Optional(t.String({ maxLength: 200 })),
  password: t.Optional(t.String({ maxLength: 1024 })),
  query: t.String({ minLength: 1, maxLength: 1_048_576, error: "query must be SQL text of 1 to 1048576 characters" }),
});

const MySqlStatementFields = {
  rows: t.Array(t.Record(t.String(), MySqlCellModel)),
  columns: t.Array(t.Object({ name: t.String(), type: t.String() })),
  command: t.String({ description: "SELECT for a statement that returned rows, OK for any other" }),
  rowCount: t.Integer({ description: "Rows returned or affected" }),
  executionTime: t.String({ description: 'e.g. "12 ms"' }),
};

export const MySqlQueryAnswer = t.Object(
  {
    message: t.Literal("success"),
    ...MySqlStatementFields,
    results: t.Array(t.Object(MySqlStatementFields), { description: "One entry per statement, in order; the top-level fields repeat the last one" }),
    truncated: t.Boolean(),
  },
  {
    description: "Every statement's result, as for run-query",
    examples: [{ message: "success", rows: [{ n: 1 }], columns: [{ name: "n", type: "int" }], command: "SELECT", rowCount: 1, executionTime: "2 ms", results: [], truncated: false }],
  },
);
