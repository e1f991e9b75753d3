import type { LogFields } from "./logger";

/**
 * What a log line may say about an error: its class name and its code (a SQLSTATE, an errno
 * name), never its message. Drivers put a failed query and its parameters (passwords among
 * them) into their messages, and a message from a machine is whatever its owner made it.
 */
export function errorIdentity(error: unknown): LogFields {
  if (!(error instanceof Error)) return { error: typeof error };
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return { error: error.name, code: typeof code === "string" || typeof code === "number" ? String(code).slice(0, 40) : undefined };
}
