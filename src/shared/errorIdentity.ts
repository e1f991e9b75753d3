import type { LogFields } from "./logger";

/**
 * What a log line may say about an error: the names and codes (SQLSTATE, errno names) along
 * its cause chain, never a message. Drivers put a failed query and its parameters (passwords
 * among them) into their messages, and a message from a machine is whatever its owner made it.
 */
export function errorIdentity(error: unknown): LogFields {
  if (!(error instanceof Error)) return { error: typeof error };
  const names: string[] = [];
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    names.push(current.name.slice(0, 60));
    for (const field of ["code", "errno"] as const) {
      const value = (current as unknown as Record<string, unknown>)[field];
      if (typeof value === "string" || typeof value === "number") codes.push(String(value).slice(0, 40));
    }
    current = current.cause;
  }
  return { error: names.join(" < "), code: codes.length > 0 ? codes.join(",") : undefined };
}
