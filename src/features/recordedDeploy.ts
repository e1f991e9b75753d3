import { DB_TYPE_OF, type Engine } from "../metadata/engines";
import type { DeployedDbStore, MachineScope } from "../metadata/deployedDbStore";
import type { DeployedDbRow } from "../metadata/schema";
import type { MachineRecord } from "../machines/machineRegistry";
import type { KeyedMutex } from "../shared/keyedMutex";
import { errorIdentity } from "../shared/errorIdentity";
import type { Logger } from "../shared/logger";
import type { SSHClient } from "../ssh/SSHClient";
import type { SshLeases, SshTarget } from "../ssh/sshLeases";

export interface DeployRecording {
  store: DeployedDbStore;
  leases: SshLeases;
  /** One per service instance: deploys to one machine take turns. */
  hostLocks: KeyedMutex;
  logger: Logger;
}

export interface RecordedDeploySpec {
  engine: Engine;
  userId: number;
  machine: MachineRecord;
  target: SshTarget;
  dbName: string;
  userName: string;
  sealedPassword: string;
}

export interface DeployOnMachine {
  ssh: SSHClient;
  row: DeployedDbRow;
  /** An existing role/user of that name is reused only when it serves another of the caller's databases there. */
  reuseExistingRole: boolean;
}

/**
 * How every engine's deploy is recorded: the row is claimed as `deploying` first (so two deploys
 * of one name cannot both run), the engine's work runs on the machine under the machine's lock,
 * and the row becomes `running` — or is removed again if anything failed. When the work reused
 * an existing role, every recorded row of that role gets the new password.
 */
export async function deployRecorded<T>(deps: DeployRecording, spec: RecordedDeploySpec, work: (on: DeployOnMachine) => Promise<{ answer: T; createdRole: boolean }>): Promise<T> {
  const { store, logger } = deps;
  const { machine, userId, engine } = spec;
  const row = await store.insertDeploying({
    dbName: spec.dbName,
    username: spec.userName,
    password: spec.sealedPassword,
    host: machine.ip,
    dbType: DB_TYPE_OF[engine],
    vpsId: machine.id,
    userId,
  });
  const scope: MachineScope = { userId, vpsId: machine.id, host: machine.ip, engine };
  try {
    return await deps.hostLocks.run(machine.ip, () =>
      deps.leases.withLease(spec.target, async (ssh) => {
        const reuseExistingRole = (await store.countOtherUsersOfRole(scope, spec.userName, row.id)) > 0;
        const { answer, createdRole } = await work({ ssh, row, reuseExistingRole });
        if (!createdRole) await store.setRolePassword(scope, spec.userName, spec.sealedPassword);
        await store.markRunning(row.id);
        logger.info("database.deployed", { id: row.id, host: machine.ip, userId, engine });
        return answer;
      }),
    );
  } catch (error) {
    await store.remove(row.id).catch((cleanupError: unknown) => {
      logger.error("deploy.cleanup_failed", { id: row.id, ...errorIdentity(cleanupError) });
    });
    throw error;
  }
}

/** The connection string a deploy answers with (the portal shows it); IPv6 hosts bracketed. */
export function connectionString(scheme: "postgresql" | "mysql", user: string, password: string, host: string, port: number, dbName: string): string {
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return `${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${hostPart}:${port}/${dbName}`;
}
