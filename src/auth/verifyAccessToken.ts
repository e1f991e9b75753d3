import jwt from "jsonwebtoken";

export interface AccessClaims {
  userId: number;
  /** Seconds since the epoch; a token without one would never expire and is refused. */
  exp: number;
  nbf?: number;
}

/**
 * The claims of a valid HS256 access token with a usable `userId`, or null.
 * Only HS256 is accepted, so `alg: none` and key-confusion tricks fail; tokens without `exp`
 * (which jsonwebtoken would accept forever) are refused.
 */
export function verifyAccessTokenClaims(token: string, secret: string): AccessClaims | null {
  let payload: string | jwt.JwtPayload;
  try {
    payload = jwt.verify(token, secret, { algorithms: ["HS256"] });
  } catch {
    return null;
  }
  if (typeof payload !== "object" || payload === null) return null;
  const userId = parseUserId(payload.userId);
  if (userId === null || typeof payload.exp !== "number") return null;
  return { userId, exp: payload.exp, nbf: payload.nbf };
}

export function verifyAccessToken(token: string, secret: string): number | null {
  return verifyAccessTokenClaims(token, secret)?.userId ?? null;
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
