import type { FieldPacket } from "mysql2";

/** A cell as the portal receives it: null only for SQL NULL. */
export type MySqlCell = null | number | string;
export type CellConverter = (raw: Buffer | null) => MySqlCell;

/** Protocol type ids: TINY, SHORT, LONG, FLOAT, DOUBLE, INT24, YEAR. */
const NUMBER_TYPES = new Set([1, 2, 3, 4, 5, 9, 13]);
/** Character set number MySQL reports for binary strings and blobs. */
const BINARY_CHARSET = 63;
/** VARCHAR, BIT, TINY/MEDIUM/LONG_BLOB, BLOB, VAR_STRING, STRING, GEOMETRY. */
const BINARY_CAPABLE = new Set([15, 16, 249, 250, 251, 252, 253, 254, 255]);

/** How a column's text-protocol values become cells: as text, as a number, or as 0x-hex. */
export type CellKind = "text" | "number" | "hex";

/**
 * Exact values from the text protocol: numbers for TINYINT…INT, YEAR, FLOAT and DOUBLE (all
 * exact in a double); BIGINT and DECIMAL as their digits; dates, times and JSON as MySQL
 * prints them; binary strings and BIT as 0x-hex; everything else as UTF-8 text.
 */
export function cellKind(type: number, characterSet: number): CellKind {
  if (BINARY_CAPABLE.has(type) && characterSet === BINARY_CHARSET) return "hex";
  if (NUMBER_TYPES.has(type)) return "number";
  return "text";
}

export function converterFor(field: FieldPacket): CellConverter {
  switch (cellKind(field.columnType ?? field.type ?? -1, field.characterSet ?? -1)) {
    case "hex":
      return (raw) => (raw === null ? null : `0x${raw.toString("hex")}`);
    case "number":
      return (raw) => (raw === null ? null : Number(raw.toString("latin1")));
    default:
      return (raw) => (raw === null ? null : raw.toString("utf8"));
  }
}

/** A CSV field as COPY ... CSV writes it: NULL is empty, an empty string is "". */
export function csvField(value: MySqlCell): string {
  if (value === null) return "";
  const text = String(value);
  return text === "" || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
