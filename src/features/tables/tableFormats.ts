import { CopyTextToJson } from "../../engines/postgres/copyToJson";
import { CsvFormulaGuard } from "../../engines/postgres/csvFormulaGuard";
import { splitCopyLine, unescapeCopyField } from "../../engines/postgres/copyText";
import { cellFromText, type Cell, type ColumnSpec } from "../../engines/postgres/tableValues";
import type { RowsFormat } from "./tableBody";

export interface JsonPage {
  columns: ColumnSpec[];
  limit: number;
  offset: number;
  estimatedTotal: number | null;
  /** Where the primary key is among `columns` when the page is in key order, for `nextAfter`. */
  keyColumns?: number[];
}

/**
 * `{"status":"success","columns":[…],"limit":…,"offset":…,"estimatedTotal":…,"data":[…],"truncated":…,"nextAfter":…}`
 * from COPY text rows. The script prints one row more than `limit`: seeing it means more
 * rows exist, and it is left out. `truncated` and `nextAfter` (the last row's primary key
 * when more rows exist and the page is in key order, for keyset paging; else null) come last
 * because only the end tells.
 */
export function jsonRowsFormat(page: JsonPage): RowsFormat {
  const rows = new CopyTextToJson(page.columns, page.limit, page.keyColumns !== undefined);
  const columns = page.columns.map(({ name, type }) => ({ name, type }));
  return {
    head: Buffer.from(`{"status":"success","columns":${JSON.stringify(columns)},"limit":${page.limit},"offset":${page.offset},"estimatedTotal":${JSON.stringify(page.estimatedTotal)},"data":[`),
    chunk: (bytes) => rows.push(bytes),
    tail() {
      rows.end();
      const nextAfter = rows.truncated ? keyOf(rows.lastRowLine, page) : null;
      return Buffer.from(`],"truncated":${rows.truncated},"nextAfter":${JSON.stringify(nextAfter)}}`);
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

/** The primary key of a COPY text row, as its cells appear in `data`. */
function keyOf(line: string | undefined, page: JsonPage): Cell[] | null {
  if (line === undefined || page.keyColumns === undefined) return null;
  const fields = splitCopyLine(line, page.columns.length);
  return page.keyColumns.map((at) => {
    const field = fields[at] ?? "\\N";
    return cellFromText(page.columns[at]?.kind ?? "text", field === "\\N" ? null : unescapeCopyField(field));
  });
}
