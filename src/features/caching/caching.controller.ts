import { Elysia } from "elysia";
import { checkAuth } from "../../auth/checkAuth";
import { actorOf } from "../../http/actor";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import { AUTHENTICATED_ERRORS, errorBodies } from "../../http/responseModels";
import type { CachingService } from "./caching.service";
import { DeployRedisBody, DeployRedisResponse, MachineIdParams, RedisActionResponse, RedisServerBody, RedisServerList, UsedPortsResponse } from "./caching.model";

const tags = ["redis"];
const ACTION_ERRORS = errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 415, 500, 502, 504]);

export function cachingController(service: CachingService, accessTokenSecret: string, limits: RateLimitSettings) {
  // These run commands as root on a machine: the stricter per-user budget of writes.
  const writes = new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userWrites, "writes"))
    .post(
      "/deploy-redis",
      async ({ body, userId, request, server }) => {
        // An installation takes minutes: the remote steps' own timeouts bound this request.
        server?.timeout(request, 0);
        const result = await service.deploy(actorOf(userId, request, server), body);
        return { status: 200 as const, message: `Redis server ${body.name} deployed on ${result.host}:${result.port}`, id: result.id, connectionString: result.connectionString };
      },
      {
        body: DeployRedisBody,
        response: { 200: DeployRedisResponse, ...ACTION_ERRORS },
        detail: { tags, summary: "Deploy a Redis server as a systemd unit on the caller's machine (installs redis-server when missing)" },
      },
    )
    .post(
      "/stop-redis-server",
      async ({ body, userId, request, server }) => {
        server?.timeout(request, 0);
        return { status: 200 as const, message: await service.stop(actorOf(userId, request, server), body) };
      },
      { body: RedisServerBody, response: { 200: RedisActionResponse, ...ACTION_ERRORS }, detail: { tags, summary: "Stop a recorded Redis server (verified: nothing listens on its port)" } },
    )
    .post(
      "/start-stopped-redis-server",
      async ({ body, userId, request, server }) => {
        server?.timeout(request, 0);
        return { status: 200 as const, message: await service.start(actorOf(userId, request, server), body) };
      },
      { body: RedisServerBody, response: { 200: RedisActionResponse, ...ACTION_ERRORS }, detail: { tags, summary: "Start a recorded Redis server (verified: it answers AUTH and PING)" } },
    )
    .post(
      "/delete-redis-server",
      async ({ body, userId, request, server }) => {
        server?.timeout(request, 0);
        return { status: 200 as const, message: await service.remove(actorOf(userId, request, server), body) };
      },
      {
        body: RedisServerBody,
        response: { 200: RedisActionResponse, ...ACTION_ERRORS },
        detail: { tags, summary: "Stop, disable and remove a recorded Redis server (unit, config, data, log), then its record" },
      },
    );
  const reads = new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userReads, "reads"))
    .get("/get-redis-server", async ({ userId }) => ({ message: "Redis Server Fetched Successfully." as const, data: await service.list(userId) }), {
      response: { 200: RedisServerList, ...errorBodies([419, 429, 503]) },
      detail: { tags, summary: "The caller's Redis servers, with their passwords" },
    })
    .get("/get-port/:machineId", async ({ params, userId }) => ({ data: { usedPorts: await service.usedPorts(userId, Number(params.machineId)) } }), {
      params: MachineIdParams,
      response: { 200: UsedPortsResponse, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 500, 502, 504]) },
      detail: { tags, summary: "Ports in use on the caller's machine: its recorded Redis servers' and every listening TCP port" },
    });
  return new Elysia().use(writes).use(reads);
}
