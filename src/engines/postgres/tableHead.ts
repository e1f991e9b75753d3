import { splitCopyLine, unescapeCopyField } from "./copyText";
import { readMarkers } from "../scriptOutput";
import { isBackendId } from "./tableQueries";
import { kindOfBaseType, type ColumnSpec } from "./tableValues";

export interface TableHead {
  /** What the script reported missing (`database`, `table`, `column`, `ordering`, `schema`). */
  missing: string | undefined;
  columns: ColumnSpec[];
  /** Null when PostgreSQL cannot tell cheaply (views, foreign tables). */
  estimatedTotal: number | null;
  /** The remote session, for cancelling its query (see cancelBackendSql). */
  backendId: string | undefined;
  /** Positions in `columns` of the primary key's columns, in key order (pages in key order only). */
  keyColumns: number[] | undefined;
}

/**
 * Reads the head printed by tableDataSql. Column lines are COPY text rows and always contain
 * tabs; marker lines never do, so a column named like a marker cannot be mistaken for one.
 */
export function parseTableHead(lines: string[]): TableHead {
  const columns: ColumnSpec[] = [];
  const markerLines: string[] = [];
  for (const line of lines) {
    if (!line.includes("\t")) {
      markerLines.push(line);
      continue;
    }
    const [name = "", type = "", baseOid = ""] = splitCopyLine(line, 3);
    columns.push({ name: unescapeCopyField(name), type: unescapeCopyField(type), kind: kindOfBaseType(Number(baseOid)) });
  }
  const markers = readMarkers(markerLines.join("\n"));
  const total = markers.result.get("total");
  const backendId = markers.result.get("backend");
  const key = markers.result.get("key");
  const keyColumns = key ? key.split(",").map(Number) : undefined;
  const keyFits = keyColumns?.every((at) => Number.isInteger(at) && at >= 0 && at < columns.length) === true;
  return {
    keyColumns: keyFits ? keyColumns : undefined,
    backendId: backendId !== undefined && isBackendId(backendId) ? backendId : undefined,
    missing: markers.missing,
    columns,
    estimatedTotal: total === undefined || total === "" ? null : Math.round(Number(total)),
  };
}
