import { Elysia, ValidationError } from "elysia";
import { AppError } from "../errors/appErrors";
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
  conflict: 409,
  "payload-too-large": 413,
  "rate-limited": 429,
  "machine-credentials": 500,
  "machine-unreachable": 502,
  "remote-step": 502,
  "host-key-mismatch": 502,
  "remote-timeout": 504,
  "dependency-unavailable": 503,
  "deploy-refused": 409,
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
    if (error instanceof AppError) {
      const { status, message } = toHttpError(error);
      if (status >= 500) logger.warn("request.failed", { requestId: requestIdOf(request), kind: error.kind, status, path: new URL(request.url).pathname, reason: error.message });
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
        const name = error instanceof Error ? error.name : "unknown";
        logger.error("request.crashed", { requestId: requestIdOf(request), path: new URL(request.url).pathname, error: name, reason: error instanceof Error ? error.message : String(code) });
        return reply(500, "Internal server error");
      }
    }
  });
}
