import { Elysia } from "elysia";
import { checkAuth } from "../../auth/checkAuth";
import { actorOf } from "../../http/actor";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import { AUTHENTICATED_ERRORS, errorBodies } from "../../http/responseModels";
import { DeleteMySqlBody, DeleteMySqlResponse, DeployMySqlBody, DeployMySqlResponse } from "./mysql.model";
import type { MySqlService } from "./mysql.service";

export function mysqlController(service: MySqlService, accessTokenSecret: string, limits: RateLimitSettings) {
  return new Elysia()
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
}
