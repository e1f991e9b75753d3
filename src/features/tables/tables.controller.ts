import { Elysia } from "elysia";
import { checkAuth } from "../../auth/checkAuth";
import { MachineAccessDeniedError, MachineNotVisibleError } from "../../errors/appErrors";
import { actorOf } from "../../http/actor";
import { toMachineId } from "../../http/commonModels";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import type { TableService } from "./tableService";
import { csvDisposition } from "./csvDisposition";
import { requireCatalogNames } from "./tableRequest";
import { TableDataBody, TablesListBody } from "./tables.model";

export function tablesController(service: TableService, accessTokenSecret: string, limits: RateLimitSettings) {
  return new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userReads, "reads"))
    .post(
      "/get-tables-list",
      async ({ body, userId, request, server }) => {
        requireCatalogNames({ schema: body.schema });
        const data = await service.listTables(actorOf(userId, request, server), { vpsId: toMachineId(body.vpsId), vpsIp: body.vpsIp, databaseName: body.databaseName }, body.schema);
        return { status: 200, data, message: "Tables list fetched successfully" };
      },
      { body: TablesListBody },
    )
    .post(
      "/get-table-data",
      async ({ body, userId, request, server }) => {
        try {
          const where = { vpsId: toMachineId(body.vpsId), vpsIp: body.vpsIp, databaseName: body.databaseName };
          const { tableName, schema, limit, offset, orderBy, order, format } = body;
          requireCatalogNames({ tableName, schema, orderBy });
          const result = await service.readTable(actorOf(userId, request, server), where, tableName, { schema, limit, offset, orderBy, order, format }, request.signal);
          // Streamed: the status and headers are final here, errors found later cut the body short.
          const headers: Record<string, string> =
            result.format === "csv"
              ? { "content-type": "text/csv; charset=utf-8", "content-disposition": csvDisposition(tableName) }
              : { "content-type": "application/json; charset=utf-8" };
          return new Response(result.body, { headers });
        } catch (error) {
          // This route's contract reports a refused machine check as 404.
          if (error instanceof MachineAccessDeniedError) throw new MachineNotVisibleError();
          throw error;
        }
      },
      { body: TableDataBody },
    );
}
