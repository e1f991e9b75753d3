export interface TableColumn {
  name: string;
  /** PostgreSQL's name for the type, e.g. `character varying(20)` or `integer[]`. */
  type: string;
}

/** How a column's values reach JSON; decided by the catalog's base type, never by the data. */
export type ValueKind = "boolean" | "integer" | "float" | "text";

export interface ColumnSpec extends TableColumn {
  kind: ValueKind;
}

const BOOL = 16;
const INT2 = 21;
const INT4 = 23;
const FLOAT4 = 700;
const FLOAT8 = 701;

/**
 * bigint and numeric stay strings: JSON numbers are doubles and would round them. Domains
 * arrive here already resolved to their base type.
 */
export function kindOfBaseType(oid: number): ValueKind {
  switch (oid) {
    case BOOL:
      return "boolean";
    case INT2:
    case INT4:
      return "integer";
    case FLOAT4:
    case FLOAT8:
      return "float";
    default:
      return "text";
  }
}

export type Cell = null | boolean | number | string;

/**
 * One value of PostgreSQL's text output as JSON, by the column's kind: the contract of
 * copyToJson.ts (table data) for values that arrive one by one (the SQL editor). Numbers that
 * JSON cannot hold (NaN, ±Infinity) stay PostgreSQL's text.
 */
export function cellFromText(kind: ValueKind, text: string | null): Cell {
  if (text === null) return null;
  switch (kind) {
    case "boolean":
      return text === "t";
    case "integer":
      return Number(text);
    case "float": {
      const value = Number(text);
      return Number.isFinite(value) ? value : text;
    }
    default:
      return text;
  }
}
