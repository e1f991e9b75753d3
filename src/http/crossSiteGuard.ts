import { Elysia } from "elysia";
import { ForeignOriginError, UnsupportedMediaTypeError } from "../errors/appErrors";

const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

function hasBody(headers: Headers): boolean {
  const length = headers.get("content-length");
  return headers.has("transfer-encoding") || (length !== null && length.trim() !== "0");
}

function isJson(contentType: string): boolean {
  return contentType.split(";", 1)[0]?.trim().toLowerCase() === "application/json";
}

/**
 * Cross-site request forgery: a page elsewhere can make the browser send our cookie with a form
 * (urlencoded, multipart, text/plain) without any CORS preflight. So every state-changing
 * request must be JSON, which a browser only sends cross-site after a preflight we refuse, and a
 * browser's `Origin`, when present, must be one we serve. Requests without `Origin` (curl,
 * server-to-server) are not sent by a browser on someone else's behalf, so they pass; a
 * body-less DELETE needs no Content-Type.
 */
export function crossSiteGuard(allowedOrigins: readonly string[]) {
  const allowed = new Set(allowedOrigins);
  return new Elysia({ name: "crossSiteGuard", seed: allowedOrigins }).onRequest(({ request }) => {
    if (!STATE_CHANGING.has(request.method)) return;
    const origin = request.headers.get("origin");
    if (origin !== null && !allowed.has(origin)) throw new ForeignOriginError();
    const contentType = request.headers.get("content-type");
    if (contentType === null ? hasBody(request.headers) : !isJson(contentType)) throw new UnsupportedMediaTypeError();
  });
}
