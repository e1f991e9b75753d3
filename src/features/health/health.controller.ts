import { Elysia } from "elysia";
import type { Logger } from "../../shared/logger";
import { LivenessBody, ReadinessBody } from "./health.model";

export interface ReadinessCheck {
  name: string;
  ping(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 2_000;

async function probe(check: ReadinessCheck): Promise<"up" | "down"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"down">((resolve) => {
    timer = setTimeout(() => resolve("down"), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check.ping().then(() => "up" as const, () => "down" as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/` and `/health` are pure liveness answers for monitoring and touch nothing else;
 * `/health/ready` checks the databases we depend on.
 */
export function healthController(clock: () => Date, checks: ReadinessCheck[], logger: Logger) {
  const body = () => ({ status: "success" as const, message: "Storage Layer of Zyotra is running", Timestamp: clock().toISOString() });
  // Documented but not validated on each answer: the body is built right here, and checking it
  // (its date-time format above all) cost a probe more than all the request hooks together.
  const liveness = {
    detail: {
      tags: ["health"],
      summary: "Liveness (public)",
      security: [],
      responses: { 200: { description: "The process is up", content: { "application/json": { schema: LivenessBody } } } },
    },
  };
  return new Elysia()
    .get("/", body, liveness)
    .get("/health", body, liveness)
    .get(
      "/health/ready",
      async ({ status }) => {
        const results = await Promise.all(checks.map(async (check) => [check.name, await probe(check)] as const));
        const ready = results.every(([, state]) => state === "up");
        const checked = Object.fromEntries(results);
        // Probes are not logged per request (see app.ts); a dependency that is down is.
        if (!ready) logger.warn("health.not_ready", checked);
        return ready ? { status: "ready" as const, checks: checked } : status(503, { status: "unavailable" as const, checks: checked });
      },
      { response: { 200: ReadinessBody, 503: ReadinessBody }, detail: { tags: ["health"], summary: "Readiness of the metadata database and machine registry (public)", security: [] } },
    );
}
