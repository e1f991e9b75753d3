import { Elysia } from "elysia";
import { DefaultContext, defaultOptions, rateLimit } from "elysia-rate-limit";
import { RateLimitedError } from "../errors/appErrors";
import type { RateLimitSettings } from "../config/env";
import { clientAddressOf } from "./clientAddress";

export type { RateLimitSettings } from "../config/env";

// One error instance is enough: it carries no per-request data.
const limited = new RateLimitedError();

/**
 * Every route but the health checks and CORS preflights, keyed by client address (resolved by
 * the clientAddress plugin, registered before this one). This one must run before
 * authentication (token guessing is what it limits), but the plugin hooks in after Elysia's
 * derive stage; so the plugin's own counter (DefaultContext) is driven from onRequest here.
 */
export function addressRateLimit(settings: RateLimitSettings) {
  const counter = new DefaultContext(50_000);
  counter.init({ ...defaultOptions, duration: settings.windowMs });
  return new Elysia({ name: "addressRateLimit", seed: settings }).onRequest(async ({ request, set }) => {
    // A preflight is the browser's half of the portal's call, not a second request to budget.
    if (request.method === "OPTIONS") return;
    const path = new URL(request.url).pathname;
    if (path === "/" || path.startsWith("/health")) return;
    const { count, nextReset } = await counter.increment(`ip:${clientAddressOf(request) ?? "unknown"}`, settings.windowMs);
    if (count > settings.perAddress) {
      set.headers["retry-after"] = String(Math.max(1, Math.ceil((nextReset.getTime() - Date.now()) / 1000)));
      throw limited;
    }
  });
}

/** Per authenticated user, for the routes of the controller that uses it (after checkAuth). */
export function userRateLimit(windowMs: number, max: number, bucket: string) {
  return rateLimit({
    scoping: "scoped",
    duration: windowMs,
    max: () => max,
    errorResponse: limited,
    // Refused attempts count too: they are what a brute force or a scan consists of.
    countFailedRequest: true,
    generator: (_request, _server, derived) => {
      const userId = (derived as { userId?: unknown }).userId;
      return `${bucket}:user:${typeof userId === "number" ? userId : "anonymous"}`;
    },
  });
}
