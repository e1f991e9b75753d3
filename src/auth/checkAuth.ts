import { Elysia } from "elysia";
import { AuthenticationError } from "../errors/appErrors";
import { createTokenVerifier } from "./tokenVerifier";

function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1];
}

/**
 * Derives `userId` for protected routes from the `accessToken` cookie, falling back to
 * `Authorization: Bearer`. Runs before body validation so an anonymous caller learns nothing
 * about the request shape. Pure CPU: no I/O on the hot path.
 */
export function checkAuth(accessTokenSecret: string) {
  const verifyAccessToken = createTokenVerifier(accessTokenSecret);
  return new Elysia({ name: "checkAuth", seed: accessTokenSecret }).derive({ as: "scoped" }, ({ cookie, headers }) => {
    const cookieValue = cookie.accessToken?.value;
    // The portal sends the same token twice; a stale cookie must not hide a fresh header.
    const candidates = [typeof cookieValue === "string" ? cookieValue : undefined, bearerToken(headers.authorization)].filter(
      (token): token is string => typeof token === "string" && token !== "",
    );
    if (candidates.length === 0) throw new AuthenticationError("Access token is missing");
    for (const token of candidates) {
      const userId = verifyAccessToken(token);
      if (userId !== null) return { userId };
    }
    throw new AuthenticationError("Access token is invalid or expired");
  });
}
