import type { MachineRegistry } from "../../machines/machineRegistry";
import { sshTargetFor, type SshLoginSettings } from "../../machines/sshTarget";
import { verifyMachine } from "../../machines/verifyMachine";
import { PostgresSSHHelper, type RemoteSettings, type TableData } from "../../postgres/PostgresSSHHelper";
import type { SshSessions } from "../../ssh/sshSessions";

export interface TableServiceDeps {
  registry: MachineRegistry;
  sessions: SshSessions;
  encryptionKey: string;
  login: SshLoginSettings;
  remote: RemoteSettings;
}

export interface MachineDatabase {
  vpsId: number;
  vpsIp: string;
  databaseName: string;
}

/** Read-only browsing of a database on the caller's machine, as the machine's postgres superuser. */
export function createTableService(deps: TableServiceDeps) {
  async function onMachine<T>(userId: number, where: MachineDatabase, work: (helper: PostgresSSHHelper) => Promise<T>): Promise<T> {
    const machine = await verifyMachine(deps.registry, where.vpsId, userId, where.vpsIp);
    const target = sshTargetFor(machine, deps.login, deps.encryptionKey);
    return deps.sessions.withSession(target, (ssh) => work(new PostgresSSHHelper(ssh, deps.remote, machine.ip)));
  }

  return {
    listTables: (userId: number, where: MachineDatabase): Promise<string[]> => onMachine(userId, where, (helper) => helper.getTablesList(where.databaseName)),
    readTable: (userId: number, where: MachineDatabase, tableName: string): Promise<TableData> =>
      onMachine(userId, where, (helper) => helper.getTableData(where.databaseName, tableName)),
  };
}

export type TableService = ReturnType<typeof createTableService>;
