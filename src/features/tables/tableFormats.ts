import { CopyTextToJson } from "../../engines/postgres/copyToJson";
import { CsvFormulaGuard } from "../../engines/postgres/csvFormulaGuard";
import type { ColumnSpec } from "../../engines/postgres/tableValues";
import type { RowsFormat } from "./tableBody";

export interface JsonPage {
  columns: ColumnSpec[];
  limit: number;
  offset: number;
  estimatedTotal: number | null;
}

/**
 * `{"status":"success","columns":[…],"limit":…,"offset":…,"estimatedTotal":…,"data":[…],"truncated":…}`
 * from COPY text rows. The script prints one row more than `limit`: seeing it means more
 * rows exist, and it is left out. `truncated` comes last because only the end tells.
 */
export function jsonRowsFormat(page: JsonPage): RowsFormat {
  const rows = new CopyTextToJson(page.columns, page.limit);
  const columns = page.columns.map(({ name, type }) => ({ name, type }));
  return {
    head: Buffer.from(`{"status":"success","columns":${JSON.stringify(columns)},"limit":${page.limit},"offset":${page.offset},"estimatedTotal":${JSON.stringify(page.estimatedTotal)},"data":[`),
    chunk: (bytes) => rows.push(bytes),
    tail() {
      rows.end();
      return Buffer.from(`],"truncated":${rows.truncated}}`);
    },
  };
}

/**
 * COPY's CSV (header line, NULL as an empty unquoted field) is already the download; with
 * `csvSafe` every cell that a spreadsheet would run as a formula is prefixed with `'`.
 */
export function csvRowsFormat(options: { csvSafe: boolean } = { csvSafe: false }): RowsFormat {
  const guard = options.csvSafe ? new CsvFormulaGuard() : undefined;
  return { head: Buffer.alloc(0), chunk: (bytes) => (guard ? guard.push(bytes) : bytes), tail: () => Buffer.alloc(0) };
}
