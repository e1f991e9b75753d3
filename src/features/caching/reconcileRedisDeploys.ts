import type { CachingStore } from "../../metadata/cachingStore";
import { CACHING_STATUS } from "../../metadata/schema";
import { RedisSSHHelper } from "../../engines/redis/RedisSSHHelper";
import type { ReconcileDeps, ReconcileResult } from "../databases/reconcileDeploys";
import { sshTargetFor } from "../../machines/sshTarget";

/**
 * Redis deploys interrupted by a crash or restart leave rows in `deploying`. Each is undone on its
 * machine (only the unit, config, data and log carrying that row's id) and removed; when the
 * machine cannot be reached or is no longer its owner's, the row is marked `failed` for a human.
 */
export async function reconcileUnfinishedRedisDeploys(deps: Omit<ReconcileDeps, "store"> & { caching: CachingStore }, staleBefore: Date): Promise<ReconcileResult> {
  const result: ReconcileResult = { rolledBack: 0, failed: 0 };
  for (const row of await deps.caching.listStaleDeploying(staleBefore)) {
    const actor = { userId: row.userId, requestId: `reconcile-redis-${row.id}` };
    const event = { action: "deploy-redis" as const, machineId: row.vpsId, host: row.host, dbName: row.cacheName };
    try {
      const machine = await deps.registry.findOwned(row.vpsId, row.userId);
      if (!machine || machine.ip !== row.host) throw new Error("machine no longer registered to the owner");
      const instance = row.unitInstance;
      if (instance) {
        await deps.leases.withLease(sshTargetFor(machine, deps.ssh, deps.encryptionKey), (ssh) =>
          new RedisSSHHelper(ssh, deps.ssh, machine.ip).remove({ instance, port: row.port, deployId: row.id }),
        );
      }
      await deps.caching.remove(row.id);
      await deps.audit.record(actor, { ...event, outcome: "failure", detail: "interrupted; rolled back at reconciliation" });
      deps.logger.warn("redis.deploy_reconciled", { id: row.id, host: row.host, outcome: "rolled-back" });
      result.rolledBack++;
    } catch (error) {
      await deps.caching.setStatus(row.id, CACHING_STATUS.failed).catch(() => undefined);
      await deps.audit.record(actor, { ...event, outcome: "failure", detail: "interrupted; machine unreachable at reconciliation" });
      deps.logger.error("redis.deploy_reconciled", { id: row.id, host: row.host, outcome: "marked-failed", reason: error instanceof Error ? error.name : "unknown" });
      result.failed++;
    }
  }
  return result;
}
