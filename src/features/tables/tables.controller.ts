import { Elysia } from "elysia";
import { checkAuth } from "../../auth/checkAuth";
import { MachineAccessDeniedError, MachineNotVisibleError } from "../../errors/appErrors";
import { actorOf } from "../../http/actor";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import type { TableService } from "./tables.service";
import { AUTHENTICATED_ERRORS, errorBodies } from "../../http/responseModels";
import { csvDisposition } from "./csvDisposition";
import { requireCatalogNames } from "./tableRequest";
import { TableDataBody, TablePage, TablesList, TablesListBody } from "./tables.model";

export function tablesController(service: TableService, accessTokenSecret: string, limits: RateLimitSettings) {
  return new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userReads, "reads"))
    .post(
      "/get-tables-list",
      async ({ body, userId, request, server }) => {
        requireCatalogNames({ schema: body.schema });
        const data = await service.listTables(actorOf(userId, request, server), body);
        return { status: 200 as const, data, message: "Tables list fetched successfully" };
      },
      {
        body: TablesListBody,
        response: { 200: TablesList, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 415, 500, 502, 504]) },
        detail: { tags: ["tables"], summary: "Tables and views of one schema of a database on the caller's machine" },
      },
    )
    .post(
      "/get-table-data",
      async ({ body, userId, request, server }) => {
        try {
          const { tableName, schema, orderBy } = body;
          requireCatalogNames({ tableName, schema, orderBy });
          const result = await service.readTable(actorOf(userId, request, server), body, request.signal);
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
      {
        body: TableDataBody,
        // The body is a stream Elysia does not check; tableBrowsing.e2e pins its shape.
        response: { 200: TablePage, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 415, 500, 502, 504]) },
        detail: {
          tags: ["tables"],
          summary: "One page of a table's rows as JSON, or the rows as a CSV download (format: csv)",
          responses: { 200: { description: "JSON page, or with format csv a text/csv attachment" } },
        },
      },
    );
}
