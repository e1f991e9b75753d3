import type { AuditTrail } from "../../metadata/auditTrail";
import type { SshSettings } from "../../config/env";
import type { DeployedDbStore } from "../../metadata/deployedDbStore";
import type { MachineRegistry } from "../../machines/machineRegistry";
import { sshTargetFor } from "../../machines/sshTarget";
import { PostgresSSHHelper } from "../../engines/postgres/PostgresSSHHelper";
import type { Logger } from "../../shared/logger";
import type { SshLeases } from "../../ssh/sshLeases";

export interface ReconcileDeps {
  store: DeployedDbStore;
  registry: MachineRegistry;
  leases: SshLeases;
  audit: AuditTrail;
  encryptionKey: string;
  ssh: SshSettings;
  logger: Logger;
}

export interface ReconcileResult {
  rolledBack: number;
  failed: number;
}

/**
 * Deploys interrupted by a crash or restart leave rows in `deploying`. Each is undone on its
 * machine (only what that deploy created, recognised by its tag) and removed; when the machine
 * cannot be reached or is no longer its owner's, the row is marked `failed` for a human.
 */
export async function reconcileUnfinishedDeploys(deps: ReconcileDeps, staleBefore: Date): Promise<ReconcileResult> {
  const result: ReconcileResult = { rolledBack: 0, failed: 0 };
  for (const row of await deps.store.listStaleDeploying(staleBefore, "postgres")) {
    const actor = { userId: row.userId, requestId: `reconcile-${row.id}` };
    const event = { action: "deploy" as const, machineId: row.vpsId, host: row.host, dbName: row.dbName };
    try {
      const machine = await deps.registry.findOwned(row.vpsId, row.userId);
      if (!machine || machine.ip !== row.host) throw new Error("machine no longer registered to the owner");
      const target = sshTargetFor(machine, deps.ssh, deps.encryptionKey);
      await deps.leases.withLease(target, (ssh) =>
        new PostgresSSHHelper(ssh, deps.ssh, machine.ip).rollbackUnfinished({ dbName: row.dbName, userName: row.username, deployId: row.id }),
      );
      await deps.store.remove(row.id);
      await deps.audit.record(actor, { ...event, outcome: "failure", detail: "interrupted; rolled back at reconciliation" });
      deps.logger.warn("deploy.reconciled", { id: row.id, host: row.host, outcome: "rolled-back" });
      result.rolledBack++;
    } catch (error) {
      await deps.store.markFailed(row.id).catch(() => undefined);
      await deps.audit.record(actor, { ...event, outcome: "failure", detail: "interrupted; machine unreachable at reconciliation" });
      deps.logger.error("deploy.reconciled", { id: row.id, host: row.host, outcome: "marked-failed", reason: error instanceof Error ? error.name : "unknown" });
      result.failed++;
    }
  }
  // A MySQL deploy leaves no tag to recognise what it created: never guess, hand it to a human.
  for (const row of await deps.store.listStaleDeploying(staleBefore, "mysql")) {
    await deps.store.markFailed(row.id).catch(() => undefined);
    await deps.audit.record({ userId: row.userId, requestId: `reconcile-${row.id}` }, { action: "deploy", machineId: row.vpsId, host: row.host, dbName: row.dbName, outcome: "failure", detail: "mysql deploy interrupted; marked failed" });
    deps.logger.error("deploy.reconciled", { id: row.id, host: row.host, outcome: "marked-failed", engine: "mysql" });
    result.failed++;
  }
  return result;
}
