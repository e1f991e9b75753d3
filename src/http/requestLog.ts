import { Elysia } from "elysia";
import type { Logger } from "../shared/logger";

interface RequestMeta {
  id: string;
  startedAt: number;
}

const metaByRequest = new WeakMap<Request, RequestMeta>();

/** The id a user can quote: returned in `X-Request-Id` and in 5xx bodies, logged with every line. */
export function requestIdOf(request: Request): string | undefined {
  return metaByRequest.get(request)?.id;
}

/** One JSON log line per request: method, route, status, duration, request id, user id. */
export function requestLog(logger: Logger) {
  return new Elysia({ name: "requestLog" })
    .onRequest(({ request, set }) => {
      const id = crypto.randomUUID();
      metaByRequest.set(request, { id, startedAt: performance.now() });
      set.headers["x-request-id"] = id;
    })
    .onAfterResponse({ as: "global" }, (context) => {
      const meta = metaByRequest.get(context.request);
      const userId = "userId" in context && typeof context.userId === "number" ? context.userId : undefined;
      const status = typeof context.set.status === "number" ? context.set.status : 200;
      logger.info("http.request", {
        requestId: meta?.id,
        method: context.request.method,
        route: context.route || new URL(context.request.url).pathname,
        status,
        durationMs: meta ? Math.round((performance.now() - meta.startedAt) * 10) / 10 : undefined,
        userId,
      });
    });
}
