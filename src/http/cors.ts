import { Elysia } from "elysia";

export interface CorsSettings {
  origins: readonly string[];
  methods: readonly string[];
  allowedHeaders: readonly string[];
  exposeHeaders: readonly string[];
  /** Seconds a browser may reuse a preflight's answer. */
  maxAgeSeconds: number;
}

/**
 * CORS for the configured origins, credentials allowed: every answer to an allowed origin
 * carries the CORS headers (refusals included), and preflights are answered here, before
 * anything counts them. Requests from elsewhere or without an `Origin` (monitoring, curl) get
 * only `Vary: Origin`: the permissions would be ignored by their clients, and each header is
 * work on every answer.
 *
 * Replaces @elysiajs/cors (same headers for the portal): Elysia guesses from a hook's source
 * whether it is asynchronous, took that plugin's request hook for one, and so made every
 * request of the app, health probes included, wait a turn of the event loop.
 */
export function corsHeaders(settings: CorsSettings) {
  const allowed = new Set(settings.origins);
  const permissions = {
    "access-control-allow-credentials": "true",
    "access-control-allow-methods": settings.methods.join(", "),
    "access-control-allow-headers": settings.allowedHeaders.join(", "),
    "access-control-expose-headers": settings.exposeHeaders.join(", "),
  };
  return new Elysia({ name: "corsHeaders", seed: settings }).headers({ vary: "Origin" }).onRequest(({ request, set }) => {
    const origin = request.headers.get("origin");
    if (origin !== null && allowed.has(origin)) Object.assign(set.headers, permissions, { "access-control-allow-origin": origin });
    if (request.method !== "OPTIONS") return;
    set.headers["access-control-max-age"] = String(settings.maxAgeSeconds);
    return new Response(null, { status: 204 });
  });
}
