import type { Connection, FieldPacket, ResultSetHeader } from "mysql2";
import { distinctNames } from "../columnNames";
import { converterFor, type CellConverter, type MySqlCell } from "./mysqlValues";

/** Names of the protocol's column types, for the answer's `columns` (MySQL's own words). */
const TYPE_NAMES: Record<number, string> = {
  0: "decimal", 1: "tinyint", 2: "smallint", 3: "int", 4: "float", 5: "double", 6: "null", 7: "timestamp", 8: "bigint", 9: "mediumint",
  10: "date", 11: "time", 12: "datetime", 13: "year", 15: "varchar", 16: "bit", 245: "json", 246: "decimal", 247: "enum", 248: "set",
  249: "tinyblob", 250: "mediumblob", 251: "longblob", 252: "blob", 253: "varchar", 254: "char", 255: "geometry",
};

export interface MySqlStatementResult {
  columns: Array<{ name: string; type: string }>;
  rows: Array<Record<string, MySqlCell>>;
  /** SELECT for a statement that returned rows; OK for one that changed or defined something. */
  command: string;
  /** Rows returned, or rows affected. */
  rowCount: number;
  elapsedMs: number;
}

export interface MySqlRunOutcome {
  results: MySqlStatementResult[];
  truncated: boolean;
  /** MySQL stopped the text at a statement (1-based). */
  error?: { message: string; errno: number; code: string; statement: number };
}

interface Pending {
  names: string[];
  converters: CellConverter[];
  result: MySqlStatementResult;
}

/**
 * Runs a SQL text (several statements allowed) on a session and shapes every statement's result
 * like the PostgreSQL editor's answer. Rows past `maxRows` (over all statements) are counted,
 * not kept; the statements still run to their end.
 */
export function runMySqlText(connection: Connection, sql: string, maxRows: number): Promise<MySqlRunOutcome> {
  return new Promise((resolve) => {
    const outcome: MySqlRunOutcome = { results: [], truncated: false };
    let kept = 0;
    let last = performance.now();
    let current: Pending | undefined;
    const elapsed = () => {
      const now = performance.now();
      const ms = now - last;
      last = now;
      return ms;
    };
    const close = () => {
      if (!current) return;
      current.result.elapsedMs = elapsed();
      outcome.results.push(current.result);
      current = undefined;
    };
    connection
      .query({ sql, rowsAsArray: true })
      .on("fields", (fields: FieldPacket[] | undefined) => {
        close();
        // A statement without a result set (SET, INSERT...) announces no fields.
        if (!fields) return;
        const names = distinctNames(fields.map((field) => field.name));
        current = {
          names,
          converters: fields.map(converterFor),
          result: { columns: fields.map((field, i) => ({ name: names[i] ?? field.name, type: TYPE_NAMES[field.columnType ?? field.type ?? -1] ?? "unknown" })), rows: [], command: "SELECT", rowCount: 0, elapsedMs: 0 },
        };
      })
      .on("result", (row: unknown) => {
        if (current && Array.isArray(row)) {
          current.result.rowCount++;
          if (kept >= maxRows) {
            outcome.truncated = true;
            return;
          }
          kept++;
          const cells = row as Array<Buffer | null>;
          current.result.rows.push(Object.fromEntries(current.names.map((name, i) => [name, (current?.converters[i] ?? (() => null))(cells[i] ?? null)])));
          return;
        }
        close();
        const header = row as ResultSetHeader;
        outcome.results.push({ columns: [], rows: [], command: "OK", rowCount: Number(header.affectedRows ?? 0), elapsedMs: elapsed() });
      })
      .on("error", (error: Error & { errno?: number; code?: string; sqlMessage?: string }) => {
        close();
        outcome.error = { message: error.sqlMessage ?? error.message, errno: error.errno ?? 0, code: error.code ?? "", statement: outcome.results.length + 1 };
        resolve(outcome);
      })
      .on("end", () => {
        close();
        resolve(outcome);
      });
  });
}
