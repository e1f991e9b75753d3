import { t } from "elysia";
import { identifier, machineId, machineIp } from "../../http/commonModels";

/** The most rows one JSON page or CSV download may ask for. */
export const MAX_PAGE_ROWS = 100_000;

export const TablesListBody = t.Object({
  databaseName: identifier("databaseName"),
  vpsId: machineId,
  vpsIp: machineIp,
  // Kept for the portal's contract; browsing runs as the machine's postgres superuser.
  username: t.Optional(identifier("username")),
  schema: t.Optional(identifier("schema")),
});

export const TableDataBody = t.Object({
  databaseName: identifier("databaseName"),
  vpsId: machineId,
  vpsIp: machineIp,
  tableName: identifier("tableName"),
  username: identifier("username"),
  schema: t.Optional(identifier("schema")),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE_ROWS, error: `limit must be a whole number from 1 to ${MAX_PAGE_ROWS}` })),
  offset: t.Optional(t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, error: "offset must be a whole number of at least 0" })),
  orderBy: t.Optional(identifier("orderBy")),
  order: t.Optional(t.Union([t.Literal("asc"), t.Literal("desc")], { error: 'order must be "asc" or "desc"' })),
  format: t.Optional(t.Union([t.Literal("json"), t.Literal("csv")], { error: 'format must be "json" or "csv"' })),
  csvSafe: t.Optional(t.Boolean({ error: "csvSafe must be true or false" })),
});
