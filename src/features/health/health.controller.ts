import { Elysia } from "elysia";

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
export function healthController(clock: () => Date, checks: ReadinessCheck[]) {
  const body = () => ({ status: "success", message: "Storage Layer of Zyotra is running", Timestamp: clock().toISOString() });
  return new Elysia()
    .get("/", body)
    .get("/health", body)
    .get("/health/ready", async ({ set }) => {
      const results = await Promise.all(checks.map(async (check) => [check.name, await probe(check)] as const));
      const ready = results.every(([, state]) => state === "up");
      if (!ready) set.status = 503;
      return { status: ready ? "ready" : "unavailable", checks: Object.fromEntries(results) };
    });
}
