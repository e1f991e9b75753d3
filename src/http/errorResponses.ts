import { Elysia, ValidationError } from "elysia";
import { AppError, SqlStatementError } from "../errors/appErrors";
import { errorIdentity } from "../shared/errorIdentity";
import type { Logger } from "../shared/logger";
import { requestIdOf } from "./requestLog";

/** The one place where errors become HTTP statuses. Bodies are always `{ message }`. */
const STATUS_BY_KIND: Record<string, number> = {
  "invalid-request": 400,
  "already-exists": 400,
  authentication: 419,
  "machine-access-denied": 403,
  "machine-not-visible": 404,
  "not-found": 404,
  "read-refused": 403,
  conflict: 409,
  "payload-too-large": 413,
  "unsupported-media-type": 415,
  "foreign-origin": 403,
  "rate-limited": 429,
  "machine-credentials": 500,
  "machine-unreachable": 502,
  "remote-step": 502,
  "host-key-mismatch": 502,
  "remote-output-too-large": 502,
  "remote-timeout": 504,
  "dependency-unavailable": 503,
  "deploy-refused": 409,
  "sql-error": 400,
  "port-in-use": 409,
};

export interface HttpError {
  status: number;
  message: string;
}

export function toHttpError(error: AppError): HttpError {
  return { status: STATUS_BY_KIND[error.kind] ?? 500, message: error.message };
}

/** A short sentence naming the offending field, never an echo of the value. */
export function validationMessage(error: Readonly<ValidationError>): string {
  const first = error.all[0];
  const custom = first && "schema" in first ? (first.schema as { error?: unknown }).error : undefined;
  if (typeof custom === "string") return custom;
  const field = first && "path" in first && typeof first.path === "string" ? first.path.replace(/^\//, "").replaceAll("/", ".") : "";
  if (!field) return "Invalid request body";
  return `Invalid or missing field: ${field}`;
}

export function errorResponses(logger: Logger) {
  return new Elysia({ name: "errorResponses" }).onError({ as: "global" }, ({ code, error, set, request }) => {
    const reply = (status: number, message: string) => {
      set.status = status;
      set.headers["content-type"] = "application/json; charset=utf-8";
      // A 5xx carries the request id so a user can quote it to support.
      return status >= 500 ? { message, requestId: requestIdOf(request) } : { message };
    };
    // Elysia wraps whatever a body parser throws (our authentication and byte cap run there).
    const appError = error instanceof AppError ? error : code === "PARSE" && error.cause instanceof AppError ? error.cause : undefined;
    if (appError) {
      const { status, message } = toHttpError(appError);
      if (status >= 500) logger.warn("request.failed", { requestId: requestIdOf(request), kind: appError.kind, status, path: new URL(request.url).pathname, reason: appError.message });
      // The user's own SQL failed: where, and PostgreSQL's SQLSTATE, so an editor can point at it.
      if (appError instanceof SqlStatementError) return { ...reply(status, message), code: appError.code, statement: appError.statement, ...(appError.position === undefined ? {} : { position: appError.position }) };
      return reply(status, message);
    }
    switch (code) {
      case "VALIDATION":
        // A response that no longer matches its declared shape would break the portal's reading of it.
        if (error.type === "response") {
          logger.error("response.contract_violation", { requestId: requestIdOf(request), path: new URL(request.url).pathname });
          return reply(500, "Internal server error");
        }
        return reply(400, validationMessage(error));
      case "PARSE":
        return reply(400, "Request body is not valid JSON");
      case "NOT_FOUND":
        return reply(404, "Route not found");
      case "INVALID_COOKIE_SIGNATURE":
        return reply(419, "Access token is invalid or expired");
      default: {
        // Name and code only: an unexpected error is often a driver's, whose message holds query parameters.
        logger.error("request.crashed", { requestId: requestIdOf(request), path: new URL(request.url).pathname, ...errorIdentity(error) });
        return reply(500, "Internal server error");
      }
    }
  });
}
