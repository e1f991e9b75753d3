import { t } from "elysia";
import { identifier, machineId, machineIp } from "../../http/commonModels";
import { ErrorBody } from "../../http/responseModels";

/** The longest SQL text accepted (the request body is capped at 1 MiB anyway). */
export const MAX_QUERY_CHARS = 1_048_576;

export const RunQueryBody = t.Object({
  // The portal sends the recorded name lower-cased; the service finds the caller's row for it.
  databaseName: identifier("databaseName"),
  vpsId: machineId,
  vpsIp: machineIp,
  // Kept for the portal's contract; the SQL always runs as the database's recorded role.
  username: t.Optional(identifier("username")),
  query: t.String({ minLength: 1, maxLength: MAX_QUERY_CHARS, error: `query must be SQL text of 1 to ${MAX_QUERY_CHARS} characters` }),
});

const Cell = t.Union([t.Null(), t.Boolean(), t.Number(), t.String()], {
  description: "null only for SQL NULL; booleans; numbers for int2/int4/float4/float8; otherwise PostgreSQL's text output",
});

const StatementFields = {
  rows: t.Array(t.Record(t.String(), Cell), { description: "Rows kept of this statement (objects keyed by column name; repeated names get _2, _3...)" }),
  columns: t.Array(t.Object({ name: t.String(), type: t.String() })),
  command: t.String({ description: "PostgreSQL's command tag without its counts: SELECT, INSERT, CREATE TABLE..." }),
  rowCount: t.Integer({ description: "Rows returned or affected (from the command tag)" }),
  executionTime: t.String({ description: 'e.g. "12 ms"' }),
};

export const QueryAnswer = t.Object(
  {
    message: t.Literal("success"),
    ...StatementFields,
    results: t.Array(t.Object(StatementFields), { description: "One entry per statement, in order; the top-level fields repeat the last one" }),
    truncated: t.Boolean({ description: "true when rows were left out (row or size cap); the statements still ran to their end" }),
  },
  {
    description: "Every statement's result; rows/columns/command/rowCount are the last statement's",
    examples: [
      {
        message: "success",
        rows: [{ n: 1, "?column?": "a", "?column?_2": "b" }],
        columns: [
          { name: "n", type: "integer" },
          { name: "?column?", type: "text" },
          { name: "?column?_2", type: "text" },
        ],
        command: "SELECT",
        rowCount: 1,
        executionTime: "3 ms",
        results: [],
        truncated: false,
      },
    ],
  },
);

export const SqlErrorBody = t.Object(
  {
    ...ErrorBody.properties,
    code: t.Optional(t.String({ description: "PostgreSQL's SQLSTATE, e.g. 42601" })),
    position: t.Optional(t.Integer({ description: "1-based character position of the error in the whole query text, when PostgreSQL gives one" })),
    statement: t.Optional(t.Integer({ description: "1-based index of the statement that failed (the text ran as one implicit transaction unless it has its own BEGIN/COMMIT, so earlier statements were rolled back with it)" })),
  },
  {
    description: "Invalid request, an ambiguous database name (the message names the candidates), or PostgreSQL's error for the SQL (with code, position and statement)",
    examples: [{ message: 'syntax error at or near "SELEC"', code: "42601", position: 1, statement: 1 }],
  },
);
