import { t } from "elysia";
import { IDENTIFIER_MAX_BYTES, IDENTIFIER_PATTERN } from "../engines/postgres/identifiers";

/** Request fields shared by several routes, declared once with Elysia's `t`. */
export const identifier = (field: string) =>
  t.String({
    pattern: IDENTIFIER_PATTERN,
    maxLength: IDENTIFIER_MAX_BYTES,
    error: `${field} must start with a letter or underscore and contain only letters, digits and underscores (at most ${IDENTIFIER_MAX_BYTES} characters)`,
  });

/**
 * The portal sends the machine's id as a number or a numeric string; services get a number.
 * The registry's ids are 32-bit serials, so anything larger is refused with the rest.
 */
export const machineId = t
  .Transform(
    t.Union([t.Integer({ minimum: 1, maximum: 2_147_483_647 }), t.String({ pattern: "^[1-9][0-9]{0,9}$" })], {
      error: "vpsId must be a positive integer",
    }),
  )
  .Decode((value) => (typeof value === "number" ? value : Number(value)))
  .Encode((id) => id);

export const machineIp = t.String({ minLength: 1, maxLength: 100, error: "vpsIp must be the machine's address" });
