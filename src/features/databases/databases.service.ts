import type { MachineServiceDeps } from "../serviceDeps";
import { engineOf } from "../../metadata/engines";
import { namesOnMachine } from "../../metadata/recordedNames";
import type { DeployedDbRow } from "../../metadata/schema";
import { auditedWork, type Actor } from "../../metadata/auditTrail";
import { ConflictError, InvalidRequestError, NotFoundError, RemoteStepError } from "../../errors/appErrors";
import { sshTargetFor } from "../../machines/sshTarget";
import { connectionString, deployRecorded } from "../recordedDeploy";
import { verifyMachine } from "../../machines/verifyMachine";
import { isReservedDatabase, isReservedRole } from "../../engines/postgres/identifiers";
import { PostgresSSHHelper } from "../../engines/postgres/PostgresSSHHelper";
import type { KeyedMutex } from "../../shared/keyedMutex";
import type { Logger } from "../../shared/logger";
import type { SSHClient } from "../../ssh/SSHClient";
import type { DeployBody } from "./databases.model";

import type { DatabaseProbe } from "../../engines/postgres/loginProbe";

export type { DatabaseProbe };

export interface DatabaseServiceDeps extends MachineServiceDeps {
  hostLocks: KeyedMutex;
  probe: DatabaseProbe;
  logger: Logger;
}

/** The deploy route's validated body (vpsId already a number). */
export type DeployRequest = typeof DeployBody.static;

export interface DeployResult {
  id: number;
  host: string;
  port: number;
  connectionString: string;
}

/** A row as the owner sees it, with the password opened. */
export interface DatabaseView {
  id: number;
  dbName: string;
  username: string;
  password: string;
  host: string;
  dbType: string;
  vpsId: number;
  userId: number;
  status: string;
  createdAt: string;
}


export function createDatabaseService(deps: DatabaseServiceDeps) {
  const { store, registry, leases, secretBox, logger } = deps;

  const helperFor = (ssh: SSHClient, host: string) =>
    new PostgresSSHHelper(ssh, deps.ssh, host, ({ step }) => logger.info("remote.step", { host, step }));

  /** Refusals on someone else's resource and every outcome of a change end up in the audit log. */
  const audited = auditedWork(deps.audit);

  function deploy(actor: Actor, request: DeployRequest): Promise<DeployResult> {
    return audited(actor, { action: "deploy", machineId: request.vpsId, host: request.vpsIp, dbName: request.dbName }, () => deployAs(actor.userId, request));
  }

  async function deployAs(userId: number, request: DeployRequest): Promise<DeployResult> {
    if (isReservedDatabase(request.dbName)) throw new InvalidRequestError(`${request.dbName} is a reserved database name`);
    if (isReservedRole(request.userName)) throw new InvalidRequestError(`${request.userName} is a reserved role name`);

    const machine = await verifyMachine(registry, request.vpsId, userId, request.vpsIp);
    const target = sshTargetFor(machine, deps.ssh, deps.encryptionKey);
    const sealedPassword = secretBox.seal(request.password);
    const spec = { engine: "postgres" as const, userId, machine, target, dbName: request.dbName, userName: request.userName, sealedPassword };
    return deployRecorded(deps, spec, async ({ ssh, row, reuseExistingRole }) => {
      const roleAndDatabase = { dbName: request.dbName, userName: request.userName, password: request.password, deployId: row.id, reuseExistingRole };
      const helper = helperFor(ssh, machine.ip);
      const outcome = await helper.deploy(roleAndDatabase);
      try {
        await deps.probe({ host: machine.ip, port: outcome.port, user: request.userName, password: request.password, database: request.dbName });
      } catch {
        await helper.rollback({ ...roleAndDatabase, ...outcome });
        throw new RemoteStepError("verify", `The database was created but does not accept logins on ${machine.ip}:${outcome.port}`);
      }
      const answer = {
        id: row.id,
        host: machine.ip,
        port: outcome.port,
        connectionString: connectionString("postgresql", request.userName, request.password, machine.ip, outcome.port, request.dbName),
      };
      return { answer, createdRole: outcome.createdRole };
    });
  }

  async function remove(actor: Actor, id: number): Promise<void> {
    const row = await store.findByIdForUser(id, actor.userId);
    if (!row) {
      // Only someone else's row is a refusal worth auditing; a wrong id is just a 404.
      if (await store.exists(id)) await deps.audit.record(actor, { action: "delete", outcome: "refused", detail: `deployed_db ${id}` });
      throw new NotFoundError("Database not found");
    }
    await audited(actor, { action: "delete", machineId: row.vpsId, host: row.host, dbName: row.dbName }, () => removeRow(actor.userId, row));
  }

  async function removeRow(userId: number, row: DeployedDbRow): Promise<void> {
    if (engineOf(row.dbType) !== "postgres") throw new InvalidRequestError("This is a MySQL database: delete it with POST /delete-mysql");
    if (row.status === "deploying") throw new ConflictError("This database is still being deployed, try again when it is running");
    const machine = await verifyMachine(registry, row.vpsId, userId, row.host);
    const target = sshTargetFor(machine, deps.ssh, deps.encryptionKey);
    const onMachine = namesOnMachine(row);
    const roleSharedWith = await store.countOtherUsersOfRole({ userId, vpsId: row.vpsId, host: row.host, engine: "postgres" }, onMachine.roleName, row.id);
    const dropRole = roleSharedWith === 0 && !isReservedRole(onMachine.roleName) ? onMachine.roleName : undefined;
    // An adopted row may name (once folded) a database PostgreSQL needs; that one is never dropped.
    const dropDb = isReservedDatabase(onMachine.dbName) ? undefined : onMachine.dbName;

    await deps.hostLocks.run(machine.ip, () =>
      leases.withLease(target, (ssh) => helperFor(ssh, machine.ip).dropDatabase(dropDb, dropRole)),
    );
    await store.remove(row.id);
    logger.info("database.deleted", { id: row.id, host: row.host, userId, droppedRole: Boolean(dropRole) });
  }

  /** Written in plaintext by the previous implementation: seal it now, keep answering. */
  async function sealLegacyPassword(row: DeployedDbRow): Promise<string> {
    await store.replacePassword(row.id, row.password, secretBox.seal(row.password));
    return row.password;
  }

  async function list(userId: number): Promise<DatabaseView[]> {
    const rows = await store.listByUser(userId);
    const views: DatabaseView[] = [];
    for (const row of rows) {
      views.push({
        id: row.id,
        dbName: row.dbName,
        username: row.username,
        password: secretBox.isSealed(row.password) ? secretBox.open(row.password) : await sealLegacyPassword(row),
        host: row.host,
        dbType: row.dbType,
        vpsId: row.vpsId,
        userId: row.userId,
        status: row.status,
        createdAt: row.createdAt.toISOString(),
      });
    }
    return views;
  }

  return { deploy, remove, list };
}

export type DatabaseService = ReturnType<typeof createDatabaseService>;
