import { verifyAccessTokenClaims } from "./verifyAccessToken";

interface Verified {
  userId: number;
  notBeforeMs: number;
  expiresAtMs: number;
}

export type TokenVerifier = (token: string) => number | null;

/**
 * Verifies access tokens, remembering the ones that passed (bounded, in memory). The portal sends
 * the same token for up to 15 minutes; the same string always verifies the same way under one
 * secret, so only the time claims are re-checked on a hit. Failures are never cached, so garbage
 * cannot push real tokens out.
 */
export function createTokenVerifier(secret: string, maxEntries = 10_000, now: () => number = Date.now): TokenVerifier {
  const cache = new Map<string, Verified>();

  return (token) => {
    const hit = cache.get(token);
    if (hit) {
      const at = now();
      if (at >= hit.notBeforeMs && at < hit.expiresAtMs) return hit.userId;
      cache.delete(token);
      return null;
    }
    const claims = verifyAccessTokenClaims(token, secret);
    if (!claims) return null;
    const expiresAtMs = claims.exp * 1000;
    const notBeforeMs = typeof claims.nbf === "number" ? claims.nbf * 1000 : 0;
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(token, { userId: claims.userId, notBeforeMs, expiresAtMs });
    return claims.userId;
  };
}
