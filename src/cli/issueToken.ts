/**
 * Zero-config helper: prints an access token for a user id, signed like the auth service does.
 *   bun run token 7 [--expires 1h]
 */
import jwt from "jsonwebtoken";
import { parseArgs } from "node:util";
import { loadOrCreateDevSecrets } from "../devMode/devSecrets";

const { values, positionals } = parseArgs({
  options: { expires: { type: "string", default: "15m" }, "data-dir": { type: "string" } },
  allowPositionals: true,
});
const userId = positionals[0];
if (!userId || !/^[1-9]\d{0,9}$/.test(userId)) {
  console.error("usage: bun run token <userId> [--expires 1h]");
  process.exit(2);
}
const secret = process.env.ACCESS_TOKEN_SECRET || loadOrCreateDevSecrets(values["data-dir"] ?? process.env.DATA_DIR ?? ".data").secrets.ACCESS_TOKEN_SECRET;
const expiresIn = (values.expires ?? "15m") as jwt.SignOptions["expiresIn"];
console.log(jwt.sign({ userId }, secret, { algorithm: "HS256", expiresIn }));
