import { t } from "elysia";
import { identifier, machineId, machineIp } from "../../http/commonModels";

export const TablesListBody = t.Object({
  databaseName: identifier("databaseName"),
  vpsId: machineId,
  vpsIp: machineIp,
  // Kept for the portal's contract; browsing runs as the machine's postgres superuser.
  username: t.Optional(identifier("username")),
});

export const TableDataBody = t.Object({
  databaseName: identifier("databaseName"),
  vpsId: machineId,
  vpsIp: machineIp,
  tableName: identifier("tableName"),
  username: identifier("username"),
});
