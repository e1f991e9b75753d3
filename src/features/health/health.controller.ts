import { Elysia } from "elysia";

/** Public liveness answer for monitoring; touches nothing else. */
export function healthController(clock: () => Date) {
  const body = () => ({ status: "success", message: "Storage Layer of Zyotra is running", Timestamp: clock().toISOString() });
  return new Elysia().get("/", body).get("/health", body);
}
