import type { Server } from "bun";
import { Elysia } from "elysia";
import { DefaultContext, defaultOptions, rateLimit } from "elysia-rate-limit";
import { RateLimitedError } from "../errors/appErrors";

export interface RateLimitSettings {
  windowMs: number;
  /** Every request from one client address, authenticated or not. */
  perAddress: number;
  /** Reads (listing databases, tables, rows) per user. */
  userReads: number;
  /** Deploys and deletes per user: they run commands as root on a machine. */
  userWrites: number;
  /** Header carrying the client address when behind a trusted proxy (e.g. x-forwarded-for). */
  trustedProxyHeader?: string;
}

// One error instance is enough: it carries no per-request data.
const limited = new RateLimitedError();

function clientAddress(request: Request, server: Server<unknown> | null, proxyHeader?: string): string {
  const forwarded = proxyHeader ? request.headers.get(proxyHeader)?.split(",")[0]?.trim() : undefined;
  return forwarded || server?.requestIP(request)?.address || "unknown";
}

/**
 * Every route but the health checks, keyed by client address. This one must run before
 * authentication (token guessing is what it limits), but the plugin hooks in after Elysia's
 * derive stage; so the plugin's own counter (DefaultContext) is driven from onRequest here.
 */
export function addressRateLimit(settings: RateLimitSettings) {
  const counter = new DefaultContext(50_000);
  counter.init({ ...defaultOptions, duration: settings.windowMs });
  return new Elysia({ name: "addressRateLimit", seed: settings }).onRequest(async ({ request, server, set }) => {
    const path = new URL(request.url).pathname;
    if (path === "/" || path.startsWith("/health")) return;
    const { count, nextReset } = await counter.increment(`ip:${clientAddress(request, server, settings.trustedProxyHeader)}`, settings.windowMs);
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
