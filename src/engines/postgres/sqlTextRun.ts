import type { Submittable } from "pg";
import { cellFromText, kindOfBaseType, type Cell, type ValueKind } from "./tableValues";
import { distinctNames } from "../columnNames";

/** What the wire gives for one column of a result (RowDescription). */
export interface WireColumn {
  name: string;
  dataTypeID: number;
  dataTypeModifier: number;
}

export interface StatementResult {
  /** Distinct names: a repeated name gets `_2`, `_3`... (`?column?`, `?column?_2`). */
  columns: Array<{ name: string; typeOid: number; typeModifier: number }>;
  rows: Array<Record<string, Cell>>;
  /** First word(s) of PostgreSQL's command tag: `SELECT`, `INSERT`, `CREATE TABLE`... */
  command: string;
  /** Rows returned (SELECT, FETCH, COPY) or affected (INSERT/UPDATE/DELETE/MERGE), from the tag; else the rows seen. */
  rowCount: number;
  /** From the end of the previous statement (or the send) to this one's completion. */
  elapsedMs: number;
}

/** PostgreSQL's ErrorResponse as pg hands it over. */
export interface WireError {
  message: string;
  code?: string;
  position?: string;
}

export interface SqlTextOutcome {
  results: StatementResult[];
  truncated: boolean;
  /** Set when PostgreSQL stopped the text at a statement; `statement` is its 1-based index. */
  error?: { wire: WireError; statement: number };
}

export interface SqlTextLimits {
  /** Rows kept over all statements of one answer; later rows are counted, not kept. */
  maxRows: number;
  /** Approximate bytes of kept cells and names; past it rows are counted, not kept. */
  maxBytes: number;
}

interface WireConnection {
  query(text: string): void;
  sendCopyFail(message: string): void;
}

/** Tags whose last number is a row count (`INSERT 0 5`, `UPDATE 3`, `SELECT 10`, `COPY 2`...). */
const COUNTED_TAG = /^(SELECT|INSERT|UPDATE|DELETE|MERGE|FETCH|MOVE|COPY)\b.*?(\d+)$/;

/**
 * A whole SQL text sent as ONE simple-query message: PostgreSQL runs its statements in
 * order in this session and stops at the first error, which is what a console does; its
 * error position is then relative to the whole text. Rows arrive as PostgreSQL's text and
 * become JSON cells one by one (tableValues.ts), so memory is bounded by the caps, not by
 * the result: past them rows are only counted and the statement still runs to its end.
 * A pg "Submittable": pg hands it the protocol messages of this query.
 */
export class SqlTextRun implements Submittable {
  private readonly results: StatementResult[] = [];
  private current: { columns: StatementResult["columns"]; kinds: ValueKind[]; rows: Array<Record<string, Cell>>; seen: number } | undefined;
  private keptRows = 0;
  private keptBytes = 0;
  private truncated = false;
  private settled = false;
  private lastMark = 0;
  private resolveOutcome: (outcome: SqlTextOutcome) => void = () => undefined;
  private rejectOutcome: (error: Error) => void = () => undefined;
  /** Settles with the statements' results, or with the first SQL error; rejects only for a broken connection. */
  readonly outcome: Promise<SqlTextOutcome>;

  constructor(
    private readonly text: string,
    private readonly limits: SqlTextLimits,
  ) {
    this.outcome = new Promise((resolve, reject) => {
      this.resolveOutcome = resolve;
      this.rejectOutcome = reject;
    });
  }

  submit(connection: WireConnection | object): void {
    this.lastMark = performance.now();
    (connection as WireConnection).query(this.text);
  }

  handleRowDescription(message: { fields: WireColumn[] }): void {
    const names = distinctNames(message.fields.map((field) => field.name));
    this.current = {
      columns: message.fields.map((field, i) => ({ name: names[i] ?? field.name, typeOid: field.dataTypeID, typeModifier: field.dataTypeModifier })),
      kinds: message.fields.map((field) => kindOfBaseType(field.dataTypeID)),
      rows: [],
      seen: 0,
    };
  }

  handleDataRow(message: { fields: Array<string | null> }): void {
    const current = this.current;
    if (!current) return;
    current.seen++;
    if (this.truncated) return;
    if (this.keptRows >= this.limits.maxRows) {
      this.truncated = true;
      return;
    }
    let bytes = 16;
    const entries: Array<[string, Cell]> = [];
    for (let i = 0; i < current.columns.length; i++) {
      const text = message.fields[i] ?? null;
      const column = current.columns[i];
      if (!column) continue;
      bytes += column.name.length + 8 + (text === null ? 4 : text.length);
      entries.push([column.name, cellFromText(current.kinds[i] ?? "text", text)]);
    }
    if (this.keptBytes + bytes > this.limits.maxBytes) {
      this.truncated = true;
      return;
    }
    this.keptBytes += bytes;
    this.keptRows++;
    // fromEntries defines own properties: a column named __proto__ stays a column.
    current.rows.push(Object.fromEntries(entries));
  }

  handleCommandComplete(message: { text: string }): void {
    const tag = message.text;
    const counted = COUNTED_TAG.exec(tag);
    const current = this.current;
    const now = performance.now();
    const elapsedMs = now - this.lastMark;
    this.lastMark = now;
    this.results.push({
      elapsedMs,
      columns: current?.columns ?? [],
      rows: current?.rows ?? [],
      command: counted ? (counted[1] ?? tag) : tag,
      rowCount: counted ? Number(counted[2]) : (current?.seen ?? 0),
    });
    this.current = undefined;
  }

  handleEmptyQuery(): void {
    // Only comments or nothing between two semicolons: PostgreSQL skips it without a tag.
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: WireConnection | object): void {
    // The editor has no file to send; PostgreSQL then fails the COPY cleanly.
    (connection as WireConnection).sendCopyFail("COPY FROM STDIN is not supported by the SQL editor");
  }

  handleCopyData(): void {
    // COPY TO STDOUT: the rows are not kept; the tag still says how many there were.
  }

  handleError(error: Error & WireError): void {
    if (this.settled) return;
    this.settled = true;
    // An ErrorResponse from the server has a SQLSTATE; anything else is a broken connection.
    if (typeof error.code === "string" && /^[0-9A-Z]{5}$/.test(error.code)) {
      this.resolveOutcome({ results: this.results, truncated: this.truncated, error: { wire: error, statement: this.results.length + 1 } });
    } else {
      this.rejectOutcome(error);
    }
  }

  handleReadyForQuery(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveOutcome({ results: this.results, truncated: this.truncated });
  }
}
