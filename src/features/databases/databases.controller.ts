import { Elysia } from "elysia";
import { checkAuth } from "../../auth/checkAuth";
import { InvalidRequestError } from "../../errors/appErrors";
import { actorOf } from "../../http/actor";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import type { DatabaseService } from "./databases.service";
import { AUTHENTICATED_ERRORS, errorBodies } from "../../http/responseModels";
import { DatabaseIdParams, DatabaseList, DeleteResponse, DeployBody, DeployResponse } from "./databases.model";

export function databasesController(service: DatabaseService, accessTokenSecret: string, limits: RateLimitSettings) {
  // Deploy and delete run commands as root on a machine: a stricter per-user budget than reads.
  const writes = new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userWrites, "writes"))
    .post(
      "/deploy-postgres",
      async ({ body, userId, request, server }) => {
        // An installation takes minutes: lift the server's idle limit for this request only;
        // the remote steps' own timeouts bound it instead.
        server?.timeout(request, 0);
        const result = await service.deploy(actorOf(userId, request, server), body);
        return { status: 200 as const, message: "Postgres deployment started successfully", id: result.id, connectionString: result.connectionString };
      },
      {
        body: DeployBody,
        response: { 200: DeployResponse, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 409, 415, 500, 502, 504]) },
        detail: { tags: ["databases"], summary: "Deploy a PostgreSQL database and login role on the caller's machine (installs PostgreSQL when missing)" },
      },
    )
    .delete(
      "/delete-db/:id",
      async ({ params, userId, request, server }) => {
        server?.timeout(request, 0);
        const id = Number(params.id);
        if (id > 2_147_483_647) throw new InvalidRequestError("Database id must be a positive integer");
        await service.remove(actorOf(userId, request, server), id);
        return { status: 200 as const, message: "Database deleted successfully" };
      },
      {
        params: DatabaseIdParams,
        response: { 200: DeleteResponse, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 415, 500, 502, 504]) },
        detail: { tags: ["databases"], summary: "Drop a recorded database (and its role unless another recorded database uses it)" },
      },
    );
  const reads = new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userReads, "reads"))
    .get("/get-db", async ({ userId }) => ({ status: 200 as const, data: await service.list(userId) }), {
      response: { 200: DatabaseList, ...errorBodies([419, 429, 503]) },
      detail: { tags: ["databases"], summary: "The caller's recorded databases, with their passwords" },
    });
  return new Elysia().use(writes).use(reads);
}
