import { Elysia } from "elysia";
import { checkAuth } from "../../auth/checkAuth";
import { actorOf } from "../../http/actor";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import { AUTHENTICATED_ERRORS, errorBodies } from "../../http/responseModels";
import { QueryAnswer, RunQueryBody, SqlErrorBody } from "./query.model";
import type { QueryService } from "./query.service";

export function queryController(service: QueryService, accessTokenSecret: string, limits: RateLimitSettings) {
  return new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userReads, "reads"))
    .post(
      "/run-query",
      async ({ body, userId, request, server }) => {
        // A long statement is bounded by statement_timeout, not by the server's idle limit.
        server?.timeout(request, 0);
        return service.runQuery(actorOf(userId, request, server), body, request.signal);
      },
      {
        body: RunQueryBody,
        response: { 200: QueryAnswer, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 415, 500, 502, 504]), 400: SqlErrorBody },
        detail: { tags: ["query"], summary: "Run SQL text on one of the caller's PostgreSQL databases, as the database's own role" },
      },
    );
}
