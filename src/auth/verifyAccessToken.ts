import jwt from "jsonwebtoken";

/**
 * Returns the numeric user id of a valid HS256 access token, or null.
 * Only HS256 is accepted, so `alg: none` and key-confusion tricks fail.
 */
export function verifyAccessToken(token: string, secret: string): number | null {
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, secret, { algorithms: ["HS256"] });
  } catch {
    return null;
  }
  if (typeof payload !== "object" || payload === null) return null;
  return parseUserId(payload.userId);
}

/** The auth service issues `userId` as a string such as "7"; a number must work too. */
export function parseUserId(value: unknown): number | null {
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0 && value <= 2_147_483_647) return value;
  if (typeof value === "string" && /^[1-9]\d{0,9}$/.test(value)) {
    const n = Number(value);
    return n <= 2_147_483_647 ? n : null;
  }
  return null;
}
