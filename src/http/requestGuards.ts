import { Elysia } from "elysia";

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Security headers on every answer, and the 1 MiB body limit for a declared Content-Length,
 * refused before anything is read. Bodies without one (chunked) are counted while they are
 * read, after authentication (see checkAuth).
 */
export function requestGuards() {
  return new Elysia({ name: "requestGuards" })
    .headers({
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
    })
    .onRequest(({ request, set }) => {
      // Per request, not a default header: the docs page (apiDocs) replaces it with a wider one.
      set.headers["content-security-policy"] = "default-src 'none'; frame-ancestors 'none'";
      const length = Number(request.headers.get("content-length") ?? "0");
      if (length > MAX_BODY_BYTES) {
        set.status = 413;
        return { message: "Request body is too large (limit 1 MiB)" };
      }
    });
}
