import { t } from "elysia";
import { machineId, machineIp } from "../../http/commonModels";
import { IDENTIFIER_PATTERN } from "../../postgres/identifiers";
import { MYSQL_DATABASE_MAX_CHARS, MYSQL_USER_MAX_CHARS } from "../../engines/mysql/mysqlIdentifiers";

const mysqlName = (field: string, maxLength: number) =>
  t.String({
    pattern: IDENTIFIER_PATTERN,
    maxLength,
    error: `${field} must start with a letter or underscore and contain only letters, digits and underscores (at most ${maxLength} characters)`,
  });

// Any characters are allowed: passwords only ever travel through stdin, SQL literals and option files read from a pipe.
const secret = (field: string) =>
  t.String({ minLength: 1, maxLength: 1024, pattern: "^[^\\u0000]*$", error: `${field} must be 1 to 1024 characters without NUL bytes` });

export const DeployMySqlBody = t.Object({
  vpsId: machineId,
  vpsIp: machineIp,
  dbName: mysqlName("dbName", MYSQL_DATABASE_MAX_CHARS),
  userName: mysqlName("userName", MYSQL_USER_MAX_CHARS),
  password: secret("password"),
  dbType: t.Optional(t.Literal("mysql", { error: "dbType must be mysql" })),
  rootPassword: secret("rootPassword"),
});

export const DeployMySqlResponse = t.Object(
  {
    status: t.Literal(200),
    message: t.String(),
    id: t.Integer({ description: "The deployed_db row" }),
    connectionString: t.String({ description: "mysql://user:password@host:port/db, percent-encoded" }),
    data: t.Object({ success: t.Literal(true), existingInstallation: t.Boolean({ description: "MySQL was installed before this deploy" }) }),
  },
  {
    description: "The database exists and its user logs in over the network",
    examples: [
      {
        status: 200,
        message: "MySQL database deployed successfully",
        id: 5,
        connectionString: "mysql://shop_user:s3cret!@203.0.113.10:3306/shop",
        data: { success: true, existingInstallation: false },
      },
    ],
  },
);

export const DeleteMySqlBody = t.Object({
  vpsId: machineId,
  vpsIp: machineIp,
  dbName: mysqlName("dbName", MYSQL_DATABASE_MAX_CHARS),
  userName: t.Optional(t.String({ maxLength: 200 })),
  password: t.Optional(t.String({ maxLength: 1024 })),
});

export const DeleteMySqlResponse = t.Object(
  { status: t.Literal("success"), message: t.String() },
  { description: "The database is dropped (and its user, unless another recorded database uses it)", examples: [{ status: "success", message: "Database deleted successfully" }] },
);
