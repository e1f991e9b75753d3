import Papa from "papaparse";

export interface TableColumn {
  name: string;
  type: string;
}

export type CellValue = string | number | boolean | null;
export type TableRow = Record<string, CellValue>;

const BOOL = 16;
const INT2 = 21;
const INT4 = 23;
const FLOAT4 = 700;
const FLOAT8 = 701;

interface ColumnSpec extends TableColumn {
  baseTypeOid: number;
}

/** Parses CSV strictly as text: types come from PostgreSQL's catalog, never from guessing. */
export function parseCsv(csv: string): string[][] {
  // COPY ends every record with a newline; drop only that one so a lone NULL (an empty
  // line) in a one-column table still counts as a row.
  const text = csv.endsWith("\n") ? csv.slice(0, -1) : csv;
  if (text === "") return [];
  const parsed = Papa.parse<string[]>(text, { header: false, dynamicTyping: false, skipEmptyLines: false, newline: "\n", delimiter: ",", quoteChar: "\"" });
  if (parsed.errors.length > 0) throw new Error(`CSV from the machine could not be parsed: ${parsed.errors[0]?.message ?? "unknown error"}`);
  return parsed.data;
}

export function parseColumns(csv: string): ColumnSpec[] {
  return parseCsv(csv).map((fields) => ({
    name: fields[0] ?? "",
    type: fields[1] ?? "",
    baseTypeOid: Number(fields[2]),
  }));
}

/** `v`-prefixed text (see tableDataSql) → the JSON value the portal renders. */
export function decodeCell(raw: string | undefined, baseTypeOid: number): CellValue {
  if (raw === undefined || raw === "") return null;
  const text = raw.slice(1);
  switch (baseTypeOid) {
    case BOOL:
      return text === "true";
    case INT2:
    case INT4:
      return Number(text);
    case FLOAT4:
    case FLOAT8: {
      const n = Number(text);
      // NaN and the infinities have no JSON number: keep PostgreSQL's spelling.
      return Number.isFinite(n) ? n : text;
    }
    default:
      return text;
  }
}

export function decodeRows(csv: string, columns: ColumnSpec[]): TableRow[] {
  return parseCsv(csv).map((fields) => Object.fromEntries(columns.map((column, i) => [column.name, decodeCell(fields[i], column.baseTypeOid)])));
}
