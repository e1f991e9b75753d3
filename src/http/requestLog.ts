import { Elysia } from "elysia";
import type { Logger } from "../shared/logger";
import { isProbePath, requestPath } from "./probePaths";

interface RequestMeta {
  id: string;
  startedAt: number;
  /** The authenticated caller, once checkAuth knows it. */
  userId?: number;
}

const metaByRequest = new WeakMap<Request, RequestMeta>();

/** The id a user can quote: returned in `X-Request-Id` and in 5xx bodies, logged with every line. */
export function requestIdOf(request: Request): string | undefined {
  return metaByRequest.get(request)?.id;
}

/** Called by authentication so the request's log line names the caller. */
export function noteRequestUser(request: Request, userId: number): void {
  const meta = metaByRequest.get(request);
  if (meta) meta.userId = userId;
}

/**
 * One JSON log line per request: method, route, status, duration, request id, user id.
 * Monitoring's probes are answered many times a minute and are only logged when they fail.
 * The hooks destructure what they read: Elysia parses (cookies, headers) for every route only
 * what some hook or handler asks for, and a global hook taking the whole context asks for all.
 */
export function requestLog(logger: Logger) {
  return new Elysia({ name: "requestLog" })
    .onRequest(({ request, set }) => {
      const id = crypto.randomUUID();
      set.headers["x-request-id"] = id;
      // Probes are neither logged nor failed with a 5xx (their routes come before the error
      // mapping): nothing will ask for their id or start time.
      if (!isProbePath(requestPath(request))) metaByRequest.set(request, { id, startedAt: performance.now() });
    })
    .onAfterResponse({ as: "global" }, ({ request, set, route }) => {
      const status = typeof set.status === "number" ? set.status : 200;
      const path = route || requestPath(request);
      if (status < 400 && isProbePath(path)) return;
      const meta = metaByRequest.get(request);
      const fields = {
        requestId: meta?.id ?? String(set.headers["x-request-id"] ?? ""),
        method: request.method,
        route: path,
        status,
        durationMs: meta ? Math.round((performance.now() - meta.startedAt) * 10) / 10 : undefined,
        userId: meta?.userId,
      };
      if (isProbePath(path)) logger.warn("http.request", fields);
      else logger.info("http.request", fields);
    });
}
