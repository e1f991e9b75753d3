import {
  AppError,
  DatabaseAlreadyExistsError,
  DeployRefusedError,
  InvalidRequestError,
  MachineAccessDeniedError,
  NotFoundError,
  WrongRootPasswordError,
} from "../errors/appErrors";
import type { Logger } from "../shared/logger";
import type { MetadataDatabase } from "./deployedDbStore";
import { audit_log, type NewAuditEntry } from "./schema";

export type AuditOutcome = "success" | "failure" | "refused";

/** Who is acting, as far as the HTTP layer knows; services pass it through untouched. */
export interface Actor {
  userId: number;
  clientAddress?: string;
  requestId?: string;
}

export interface AuditEvent {
  action: "deploy" | "delete" | "list-tables" | "read-table" | "run-query" | "backup" | "backup-restore" | "backup-delete" | "backup-download" | "deploy-redis" | "stop-redis" | "start-redis" | "delete-redis";
  outcome: AuditOutcome;
  machineId?: number;
  host?: string;
  dbName?: string;
  /** An error kind or short reason; never a secret or remote output. */
  detail?: string;
}

export interface AuditTrail {
  record(actor: Actor, event: AuditEvent): Promise<void>;
}

/** Writes audit rows; a failed write is logged, never allowed to fail the request it describes. */
export function createAuditTrail(db: MetadataDatabase, logger: Logger): AuditTrail {
  return {
    async record(actor, event) {
      const entry: NewAuditEntry = {
        userId: actor.userId,
        action: event.action,
        machineId: event.machineId ?? null,
        host: event.host ?? null,
        dbName: event.dbName ?? null,
        outcome: event.outcome,
        detail: event.detail?.slice(0, 200) ?? null,
        clientAddress: actor.clientAddress?.slice(0, 64) ?? null,
        requestId: actor.requestId ?? null,
      };
      try {
        await db.insert(audit_log).values(entry);
      } catch (error) {
        logger.error("audit.write_failed", { action: event.action, outcome: event.outcome, requestId: actor.requestId, reason: error instanceof Error ? error.name : "unknown" });
      }
    },
  };
}

/**
 * Runs a unit of work and records its outcome: success; refused (not the caller's machine, no
 * such thing, a deploy the machine's state refuses, a wrong root password); or failure with the
 * error's kind. A request turned away before anything was tried (bad input, a name already
 * recorded) is not an event on a machine and is not recorded.
 */
export function auditedWork(trail: AuditTrail, engine?: "mysql" | "redis") {
  return <T>(actor: Actor, event: Omit<AuditEvent, "outcome">, work: () => Promise<T>): Promise<T> => audited(trail, engine, actor, event, work);
}

async function audited<T>(trail: AuditTrail, engine: "mysql" | "redis" | undefined, actor: Actor, event: Omit<AuditEvent, "outcome">, work: () => Promise<T>): Promise<T> {
  try {
    const result = await work();
    await trail.record(actor, { ...event, outcome: "success" });
    return result;
  } catch (error) {
    const refused =
      error instanceof MachineAccessDeniedError || error instanceof NotFoundError || error instanceof DeployRefusedError || error instanceof WrongRootPasswordError;
    const turnedAway = error instanceof InvalidRequestError || error instanceof DatabaseAlreadyExistsError;
    if (refused || !turnedAway) {
      const kind = error instanceof AppError ? error.kind : "internal";
      await trail.record(actor, { ...event, outcome: refused ? "refused" : "failure", detail: engine ? `${engine} ${kind}` : kind });
    }
    throw error;
  }
}

export const noAudit: AuditTrail = { record: async () => undefined };
