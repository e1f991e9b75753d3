import { Elysia } from "elysia";
import { checkAuth } from "../../auth/checkAuth";
import { MachineAccessDeniedError, MachineNotVisibleError } from "../../errors/appErrors";
import { toMachineId } from "../../http/commonModels";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import type { TableService } from "./tableService";
import { TableDataBody, TablesListBody } from "./tables.model";

export function tablesController(service: TableService, accessTokenSecret: string, limits: RateLimitSettings) {
  return new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userReads, "reads"))
    .post(
      "/get-tables-list",
      async ({ body, userId }) => {
        const data = await service.listTables(userId, { vpsId: toMachineId(body.vpsId), vpsIp: body.vpsIp, databaseName: body.databaseName });
        return { status: 200, data, message: "Tables list fetched successfully" };
      },
      { body: TablesListBody },
    )
    .post(
      "/get-table-data",
      async ({ body, userId }) => {
        try {
          const table = await service.readTable(userId, { vpsId: toMachineId(body.vpsId), vpsIp: body.vpsIp, databaseName: body.databaseName }, body.tableName);
          return { status: "success", data: table.rows, columns: table.columns };
        } catch (error) {
          // This route's contract reports a refused machine check as 404.
          if (error instanceof MachineAccessDeniedError) throw new MachineNotVisibleError();
          throw error;
        }
      },
      { body: TableDataBody },
    );
}
