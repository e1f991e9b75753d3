import type { Server } from "bun";
import type { Actor } from "../metadata/auditTrail";
import { clientAddressOf } from "./clientAddress";
import { requestIdOf } from "./requestLog";

/** What the audit trail needs to know about the caller of a request. */
export function actorOf(userId: number, request: Request, server: Server<unknown> | null): Actor {
  return { userId, clientAddress: clientAddressOf(request) ?? server?.requestIP(request)?.address, requestId: requestIdOf(request) };
}
