import { t } from "elysia";
import { machineId, machineIp } from "../../http/commonModels";
import { REDIS_NAME_MAX, REDIS_NAME_PATTERN, REDIS_PASSWORD_PATTERN } from "../../engines/redis/redisRules";

// The portal sends the port as a string (a text input, or String(row.port)); a number works too.
// Its range is checked by the service, so every out-of-range value gets the same message.
const port = t.Union([t.String({ pattern: "^[0-9]{1,5}$" }), t.Number()], {
  error: "port must be a number between 1024 and 65535",
});

export const DeployRedisBody = t.Object({
  name: t.String({
    pattern: REDIS_NAME_PATTERN,
    maxLength: REDIS_NAME_MAX,
    error: `name must start with a lower-case letter and contain only lower-case letters, digits and hyphens (at most ${REDIS_NAME_MAX} characters)`,
  }),
  password: t.String({ pattern: REDIS_PASSWORD_PATTERN, error: "password must be 8 to 512 printable characters without spaces" }),
  vpsId: machineId,
  vpsIp: machineIp,
  port,
  maxMemoryMb: t.Optional(t.Integer({ minimum: 16, maximum: 1_048_576, error: "maxMemoryMb must be an integer from 16 to 1048576" })),
});

/** Stop, start and delete: the portal's body. Only name, machine and port pick the row; the rest comes from it. */
export const RedisServerBody = t.Object({
  name: t.String({ minLength: 1, maxLength: 255, error: "name must be the server's name" }),
  password: t.Optional(t.String({ maxLength: 1024 })),
  vpsId: machineId,
  vpsIp: machineIp,
  port,
});

export const MachineIdParams = t.Object({
  machineId: t.String({ pattern: "^[1-9][0-9]{0,9}$", error: "machineId must be a positive integer" }),
});

export const DeployRedisResponse = t.Object(
  {
    status: t.Literal(200),
    message: t.String(),
    id: t.Integer({ description: "The caching row" }),
    connectionString: t.String({ description: "redis://:password@host:port (password percent-encoded)" }),
  },
  {
    description: "The server runs under systemd and answered AUTH and PING over TCP",
    examples: [{ status: 200, message: "Redis server my-cache deployed on 203.0.113.10:6380", id: 3, connectionString: "redis://:s3cretpass@203.0.113.10:6380" }],
  },
);

export const RedisActionResponse = t.Object(
  { status: t.Literal(200), message: t.String() },
  { description: "Done and verified on the machine", examples: [{ status: 200, message: "Redis server my-cache stopped" }] },
);

export const RedisServerView = t.Object({
  id: t.Integer(),
  cacheName: t.String(),
  password: t.String({ description: "In clear: the portal sends it back on stop, start and delete" }),
  host: t.String(),
  port: t.Integer(),
  vpsId: t.Integer(),
  userId: t.Integer(),
  cachingType: t.String(),
  status: t.String({ description: "deploying, running, stopped or failed" }),
  createdAt: t.String({ format: "date-time" }),
});

export const RedisServerList = t.Object(
  { message: t.Literal("Redis Server Fetched Successfully."), data: t.Array(RedisServerView) },
  {
    description: "The caller's Redis servers, ordered by id",
    examples: [
      {
        message: "Redis Server Fetched Successfully.",
        data: [{ id: 3, cacheName: "my-cache", password: "s3cretpass", host: "203.0.113.10", port: 6380, vpsId: 1, userId: 7, cachingType: "redis", status: "running", createdAt: "2026-11-23T10:00:00.000Z" }],
      },
    ],
  },
);

export const UsedPortsResponse = t.Object(
  { data: t.Object({ usedPorts: t.Array(t.Integer()) }) },
  {
    description: "Ports of the caller's Redis servers on the machine and every TCP port listening there, ascending",
    examples: [{ data: { usedPorts: [22, 5432, 6379, 6380] } }],
  },
);

export type DeployRedisRequest = typeof DeployRedisBody.static;
export type RedisServerRequest = typeof RedisServerBody.static;
