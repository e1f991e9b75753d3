import { auditedWork, type Actor } from "../../metadata/auditTrail";
import type { MachineServiceDeps } from "../serviceDeps";
import { isReservedMySqlDatabase, isReservedMySqlUser } from "../../engines/mysql/mysqlIdentifiers";
import { MySqlSSHHelper } from "../../engines/mysql/MySqlSSHHelper";
import type { MySqlProbe } from "../../engines/mysql/mysqlProbe";
import { ConflictError, InvalidRequestError, NotFoundError, RemoteStepError } from "../../errors/appErrors";
import { sshTargetFor } from "../../machines/sshTarget";
import { connectionString, deployRecorded } from "../recordedDeploy";
import { verifyMachine } from "../../machines/verifyMachine";
import type { KeyedMutex } from "../../shared/keyedMutex";
import type { Logger } from "../../shared/logger";
import type { SSHClient } from "../../ssh/SSHClient";
import type { DeleteMySqlBody, DeployMySqlBody } from "./mysql.model";

export interface MySqlServiceDeps extends MachineServiceDeps {
  hostLocks: KeyedMutex;
  probe: MySqlProbe;
  logger: Logger;
}

export interface MySqlDeployResult {
  id: number;
  connectionString: string;
  existingInstallation: boolean;
}


export function createMySqlService(deps: MySqlServiceDeps) {
  const { store, registry, leases, secretBox, logger } = deps;
  const helperFor = (ssh: SSHClient, host: string) =>
    new MySqlSSHHelper(ssh, deps.ssh, host, ({ step }) => logger.info("remote.step", { host, step, engine: "mysql" }));

  /** Refusals on someone else's resource and every outcome of a change end up in the audit log. */
  const audited = auditedWork(deps.audit, "mysql");

  function deploy(actor: Actor, request: typeof DeployMySqlBody.static): Promise<MySqlDeployResult> {
    return audited(actor, { action: "deploy", machineId: request.vpsId, host: request.vpsIp, dbName: request.dbName }, () => deployAs(actor.userId, request));
  }

  async function deployAs(userId: number, request: typeof DeployMySqlBody.static): Promise<MySqlDeployResult> {
    if (isReservedMySqlDatabase(request.dbName)) throw new InvalidRequestError(`${request.dbName} is a reserved database name`);
    if (isReservedMySqlUser(request.userName)) throw new InvalidRequestError(`${request.userName} is a reserved user name`);
    const machine = await verifyMachine(registry, request.vpsId, userId, request.vpsIp);
    const target = sshTargetFor(machine, deps.ssh, deps.encryptionKey);
    const sealedPassword = secretBox.seal(request.password);
    const spec = { engine: "mysql" as const, userId, machine, target, dbName: request.dbName, userName: request.userName, sealedPassword };
    return deployRecorded(deps, spec, async ({ ssh, reuseExistingRole, row }) => {
      const userAndDatabase = { dbName: request.dbName, userName: request.userName, password: request.password, rootPassword: request.rootPassword, reuseExistingUser: reuseExistingRole };
      const helper = helperFor(ssh, machine.ip);
      const outcome = await helper.deploy(userAndDatabase);
      try {
        await deps.probe({ host: machine.ip, port: outcome.port, user: request.userName, password: request.password, database: request.dbName });
      } catch {
        await helper.rollback({ ...userAndDatabase, ...outcome });
        throw new RemoteStepError("verify", `The MySQL database was created but does not accept logins on ${machine.ip}:${outcome.port}`);
      }
      const answer = {
        id: row.id,
        existingInstallation: outcome.existingInstallation,
        connectionString: connectionString("mysql", request.userName, request.password, machine.ip, outcome.port, request.dbName),
      };
      return { answer, createdRole: outcome.createdUser };
    });
  }

  /** No id is sent: the row is the caller's MySQL row on that machine with that name. */
  async function remove(actor: Actor, request: typeof DeleteMySqlBody.static): Promise<void> {
    await audited(actor, { action: "delete", machineId: request.vpsId, host: request.vpsIp, dbName: request.dbName }, async () => {
      const machine = await verifyMachine(registry, request.vpsId, actor.userId, request.vpsIp);
      const scope = { userId: actor.userId, vpsId: machine.id, host: machine.ip, engine: "mysql" as const };
      const row = await store.findByName(scope, request.dbName);
      if (!row) {
        if (await store.findByName({ ...scope, engine: "postgres" }, request.dbName)) {
          throw new InvalidRequestError("This is a PostgreSQL database: delete it with DELETE /delete-db/:id");
        }
        throw new NotFoundError("Database not found");
      }
      if (row.status === "deploying") throw new ConflictError("This database is still being deployed, try again when it is running");
      const userSharedWith = await store.countOtherUsersOfRole(scope, row.username, row.id);
      const dropUser = userSharedWith === 0 && !isReservedMySqlUser(row.username) ? row.username : undefined;
      const dropDb = isReservedMySqlDatabase(row.dbName) ? undefined : row.dbName;
      const target = sshTargetFor(machine, deps.ssh, deps.encryptionKey);
      await deps.hostLocks.run(machine.ip, () => leases.withLease(target, (ssh) => helperFor(ssh, machine.ip).drop({ dbName: dropDb, userName: dropUser })));
      await store.remove(row.id);
      logger.info("database.deleted", { id: row.id, host: row.host, userId: actor.userId, droppedUser: Boolean(dropUser), engine: "mysql" });
    });
  }

  return { deploy, remove };
}

export type MySqlService = ReturnType<typeof createMySqlService>;
