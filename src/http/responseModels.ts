import { t, type TSchema } from "elysia";

/**
 * Response bodies shared by every route. Declaring them per route does two jobs: the OpenAPI
 * document is generated from them, and Elysia checks every JSON answer against them, so a
 * change that would break the portal's reading of a body fails loudly (a 500 and a failed
 * test) instead of reaching the portal.
 */
export const ErrorBody = t.Object(
  {
    message: t.String({ description: "What went wrong, for a person to read" }),
    requestId: t.Optional(t.String({ description: "Only on 5xx: quote it to support" })),
  },
  { description: "Every error", examples: [{ message: "Unauthorized access for the machine" }] },
);

/** Why each status is answered; a route lists the ones it can give. */
const ERROR_MEANINGS = {
  400: "Invalid request: a field is missing or malformed (the message names it), or the request conflicts with what exists",
  403: "The machine is not the caller's, is unknown, or its address differs; or a request from a foreign Origin",
  404: "Not found (or not the caller's)",
  409: "Conflict with the resource's current state",
  413: "Request body over 1 MiB",
  415: "A state-changing request whose body is not application/json",
  419: "Missing, invalid or expired access token: the auth service refreshes it",
  429: "Too many requests (Retry-After says when to try again)",
  500: "The machine's stored credentials cannot be decrypted, or an internal error",
  502: "The machine cannot be reached over SSH, refused the login, or a remote step failed",
  503: "The metadata database or machine registry is unavailable",
  504: "A remote step did not finish in time",
} as const;

export type ErrorStatus = keyof typeof ERROR_MEANINGS;

/** Statuses every authenticated route can answer before its own logic runs. */
export const AUTHENTICATED_ERRORS: ErrorStatus[] = [400, 413, 419, 429, 503];

/** `{ 400: ErrorBody, 419: ErrorBody, ... }` with each status's meaning as its description. */
export function errorBodies(statuses: ErrorStatus[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((status) => [status, t.Object(ErrorBody.properties, { description: ERROR_MEANINGS[status] })]));
}
