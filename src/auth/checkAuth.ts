import { Elysia } from "elysia";
import { AuthenticationError } from "../errors/appErrors";
import { readJsonBody } from "../http/jsonBody";
import { MAX_BODY_BYTES } from "../http/requestGuards";
import { noteRequestUser } from "../http/requestLog";
import { accessTokenCookie } from "./cookieToken";
import { createTokenVerifier, type TokenVerifier } from "./tokenVerifier";

function bearerToken(header: string | null): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1];
}

/**
 * The caller's user id from the `accessToken` cookie and/or `Authorization: Bearer`.
 * The portal sends the same token twice; a stale cookie must not hide a fresh header, so one
 * valid token is enough. Two valid tokens of different users are refused: which one the caller
 * meant cannot be known, and silently picking one would act for the wrong user.
 */
export function authenticate(verify: TokenVerifier, cookieToken: unknown, authorization: string | null): number {
  const candidates = [typeof cookieToken === "string" ? cookieToken : undefined, bearerToken(authorization)].filter(
    (token): token is string => typeof token === "string" && token !== "",
  );
  if (candidates.length === 0) throw new AuthenticationError("Access token is missing");
  const userIds = new Set(candidates.map(verify).filter((id): id is number => id !== null));
  if (userIds.size === 0) throw new AuthenticationError("Access token is invalid or expired");
  if (userIds.size > 1) throw new AuthenticationError("The cookie and the Authorization header carry tokens of different users");
  const [userId] = userIds;
  return userId as number;
}

/**
 * Authenticates the protected routes of the controller that uses it. Elysia parses bodies
 * before its derive stage, so the body parser authenticates first: an anonymous caller gets 419
 * without a byte of its body read, and an authenticated one at most MAX_BODY_BYTES. The derive
 * then gives handlers `userId` (a cache hit for the same token). Pure CPU: no I/O.
 */
export function checkAuth(accessTokenSecret: string) {
  const verify = createTokenVerifier(accessTokenSecret);
  return new Elysia({ name: "checkAuth", seed: accessTokenSecret })
    .onParse({ as: "scoped" }, ({ request }) => {
      authenticate(verify, accessTokenCookie(request.headers.get("cookie")), request.headers.get("authorization"));
      return readJsonBody(request, MAX_BODY_BYTES);
    })
    .derive({ as: "scoped" }, ({ request }) => {
      const userId = authenticate(verify, accessTokenCookie(request.headers.get("cookie")), request.headers.get("authorization"));
      noteRequestUser(request, userId);
      return { userId };
    });
}
