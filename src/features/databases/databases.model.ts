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
