import { Elysia } from "elysia";
import { checkAuth } from "../../auth/checkAuth";
import { actorOf } from "../../http/actor";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import { AUTHENTICATED_ERRORS, errorBodies } from "../../http/responseModels";
import { SqlErrorBody } from "../query/query.model";
import {
  DeleteMySqlBody,
  DeleteMySqlResponse,
  DeployMySqlBody,
  DeployMySqlResponse,
  MySqlQueryAnswer,
  MySqlTableDataBody,
  MySqlTablePage,
  MySqlTablesList,
  MySqlTablesListBody,
  RunMySqlQueryBody,
} from "./mysql.model";
import type { MySqlService } from "./mysql.service";
import type { MySqlBrowsingService } from "./mysqlBrowsing.service";
import type { MySqlQueryService } from "./mysqlQuery.service";

export interface MySqlServices {
  deploys: MySqlService;
  browsing: MySqlBrowsingService;
  queries: MySqlQueryService;
}

export function mysqlController({ deploys: service, browsing, queries }: MySqlServices, accessTokenSecret: string, limits: RateLimitSettings) {
  const reads = new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userReads, "reads"))
    .post(
      "/run-mysql-query",
      async ({ body, userId, request, server }) => {
        // A long statement is bounded by the statement time limit, not by the server's idle limit.
        server?.timeout(request, 0);
        return queries.runQuery(actorOf(userId, request, server), body);
      },
      {
        body: RunMySqlQueryBody,
        response: { 200: MySqlQueryAnswer, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 415, 500, 502, 504]), 400: SqlErrorBody },
        detail: { tags: ["mysql"], summary: "Run SQL text on one of the caller's MySQL databases, as the database's own user" },
      },
    )
    .post(
      "/get-mysql-table-list",
      async ({ body, userId, request, server }) => ({ status: "success" as const, data: await browsing.listTables(actorOf(userId, request, server), body) }),
      {
        body: MySqlTablesListBody,
        response: { 200: MySqlTablesList, ...errorBodies([...AUTHENTICATED_ERRORS, 404, 415, 500, 502, 504]) },
        detail: { tags: ["mysql"], summary: "Tables and views of a recorded MySQL database, read as its own user" },
      },
    )
    .post(
      "/get-mysql-table-data",
      async ({ body, userId, request, server }) => {
        const result = await browsing.readTable(actorOf(userId, request, server), body);
        // Streamed: the status and headers are final here, errors found later cut the body short.
        const headers: Record<string, string> =
          result.format === "csv"
            ? { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${body.tableName}.csv"` }
            : { "content-type": "application/json; charset=utf-8" };
        return new Response(result.body, { headers });
      },
      {
        body: MySqlTableDataBody,
        response: { 200: MySqlTablePage, ...errorBodies([...AUTHENTICATED_ERRORS, 404, 415, 500, 502, 504]) },
        detail: {
          tags: ["mysql"],
          summary: "One page of a MySQL table's rows as JSON, or the rows as a CSV download (format: csv)",
          responses: { 200: { description: "JSON page, or with format csv a text/csv attachment" } },
        },
      },
    );
  const writes = new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userWrites, "writes"))
    .post(
      "/deploy-mysql",
      async ({ body, userId, request, server }) => {
        // An installation takes minutes: the remote steps' own timeouts bound this request.
        server?.timeout(request, 0);
        const result = await service.deploy(actorOf(userId, request, server), body);
        return {
          status: 200 as const,
          message: "MySQL database deployed successfully",
          id: result.id,
          connectionString: result.connectionString,
          data: { success: true as const, existingInstallation: result.existingInstallation },
        };
      },
      {
        body: DeployMySqlBody,
        response: { 200: DeployMySqlResponse, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 409, 415, 500, 502, 504]) },
        detail: { tags: ["mysql"], summary: "Deploy a MySQL database and user on the caller's machine (installs MySQL/MariaDB when missing)" },
      },
    )
    .post(
      "/delete-mysql",
      async ({ body, userId, request, server }) => {
        server?.timeout(request, 0);
        await service.remove(actorOf(userId, request, server), body);
        return { status: "success" as const, message: "Database deleted successfully" };
      },
      {
        body: DeleteMySqlBody,
        response: { 200: DeleteMySqlResponse, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 415, 500, 502, 504]) },
        detail: { tags: ["mysql"], summary: "Drop the caller's recorded MySQL database of that name (and its user unless another recorded database uses it)" },
      },
    );
  return new Elysia().use(writes).use(reads);
}
