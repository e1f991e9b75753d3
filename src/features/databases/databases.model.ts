import { t } from "elysia";
import { identifier, machineId, machineIp } from "../../http/commonModels";

export const DeployBody = t.Object({
  vpsId: machineId,
  vpsIp: machineIp,
  dbName: identifier("dbName"),
  userName: identifier("userName"),
  // Any characters are allowed: the password only ever travels through stdin and SQL literals.
  password: t.String({ minLength: 1, maxLength: 1024, pattern: "^[^\\u0000]*$", error: "password must be 1 to 1024 characters without NUL bytes" }),
});

export const DatabaseIdParams = t.Object({
  id: t.String({ pattern: "^[1-9][0-9]{0,9}$", error: "Database id must be a positive integer" }),
});

// The portal reads `message` and `connectionString`; `status: 200` in the body is the legacy shape it was built against.
export const DeployResponse = t.Object(
  {
    status: t.Literal(200),
    message: t.String(),
    id: t.Integer({ description: "The deployed_db row, for DELETE /delete-db/:id" }),
    connectionString: t.String({ description: "postgresql://user:password@host:port/db, percent-encoded" }),
  },
  {
    description: "The database exists and accepts its owner's login over the network",
    examples: [{ status: 200, message: "Postgres deployment started successfully", id: 4, connectionString: "postgresql://shop_user:s3cret!@203.0.113.10:5432/shop" }],
  },
);

export const DeleteResponse = t.Object(
  { status: t.Literal(200), message: t.String() },
  { description: "The database is dropped (and its role, unless another recorded database uses it)", examples: [{ status: 200, message: "Database deleted successfully" }] },
);

// Whole numbers as plain numbers: Elysia's t.Integer also accepts numeric strings, a transform
// that makes every answer go through TypeBox's slow Encode path instead of a compiled Check.
const wholeNumber = () => t.Number({ multipleOf: 1 });

export const DatabaseView = t.Object({
  id: wholeNumber(),
  dbName: t.String(),
  username: t.String(),
  password: t.String({ description: "The database password in clear: the portal builds connection strings from it" }),
  host: t.String(),
  dbType: t.String(),
  vpsId: wholeNumber(),
  userId: wholeNumber(),
  status: t.String({ description: "deploying, running or failed" }),
  // A date-time as toISOString writes it. Not `format: "date-time"`: Elysia checks that format
  // with a slow unanchored regex and a Date parse, on every row of every poll.
  createdAt: t.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$", description: "date-time, UTC (ISO 8601)" }),
});

export const DatabaseList = t.Object(
  { status: t.Literal(200), data: t.Array(DatabaseView) },
  {
    description: "The caller's databases, ordered by id",
    examples: [
      {
        status: 200,
        data: [{ id: 4, dbName: "shop", username: "shop_user", password: "s3cret!", host: "203.0.113.10", dbType: "postgres", vpsId: 1, userId: 7, status: "running", createdAt: "2026-11-23T10:00:00.000Z" }],
      },
    ],
  },
);
