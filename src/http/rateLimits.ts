import { Elysia } from "elysia";
import { RateLimitedError } from "../errors/appErrors";
import type { RateLimitSettings } from "../config/env";
import { clientAddressOf } from "./clientAddress";
import { isProbePath, requestPath } from "./probePaths";
import { WindowCounter } from "./windowCounter";

export type { RateLimitSettings } from "../config/env";

// One error instance is enough: it carries no per-request data.
const limited = new RateLimitedError();

const secondsUntil = (resetsAt: number) => Math.max(1, Math.ceil((resetsAt - Date.now()) / 1000));

/**
 * Every route but the health checks and CORS preflights, keyed by client address (resolved by
 * the clientAddress plugin, registered before this one). This one must run before
 * authentication (token guessing is what it limits), so it counts in onRequest.
 */
export function addressRateLimit(settings: RateLimitSettings) {
  const counter = new WindowCounter(settings.windowMs, 50_000);
  return new Elysia({ name: "addressRateLimit", seed: settings }).onRequest(({ request, set }) => {
    // A preflight is the browser's half of the portal's call, not a second request to budget.
    if (request.method === "OPTIONS") return;
    if (isProbePath(requestPath(request))) return;
    const { count, resetsAt } = counter.increment(`ip:${clientAddressOf(request) ?? "unknown"}`);
    if (count > settings.perAddress) {
      set.headers["retry-after"] = String(secondsUntil(resetsAt));
      throw limited;
    }
  });
}

type HeaderBag = Record<string, string | number>;

/**
 * Per authenticated user, for the routes of the controller that uses it (after checkAuth).
 * Counted before the handler runs, so refused attempts count too (they are what a brute force or
 * a scan consists of). Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset`; a 429 also `Retry-After`. (Requests refused before that, e.g. invalid
 * bodies, are answered by errorResponses and counted by the address limit only, as with the
 * elysia-rate-limit plugin this replaces, whose error hook errorResponses always preceded.)
 */
export function userRateLimit(windowMs: number, max: number, bucket: string) {
  const counter = new WindowCounter(windowMs, 5_000);
  const count = (userId: unknown, headers: HeaderBag) => {
    const { count: used, resetsAt } = counter.increment(`${bucket}:user:${typeof userId === "number" ? userId : "anonymous"}`);
    const reset = Math.max(0, Math.ceil((resetsAt - Date.now()) / 1000));
    headers["RateLimit-Limit"] = String(max);
    headers["RateLimit-Remaining"] = String(Math.max(max - used, 0));
    headers["RateLimit-Reset"] = String(reset);
    if (used > max) {
      headers["Retry-After"] = String(reset);
      throw limited;
    }
  };
  return new Elysia({ name: "userRateLimit", seed: `${bucket}:${windowMs}:${max}` }).onBeforeHandle(
    { as: "scoped" },
    ({ set, userId }: { set: { headers: HeaderBag }; userId?: unknown }) => {
      count(userId, set.headers);
    },
  );
}
