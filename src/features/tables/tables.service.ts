import type { Actor, AuditTrail } from "../../metadata/auditTrail";
import type { SshSettings } from "../../config/env";
import type { DeployedDbStore } from "../../metadata/deployedDbStore";
import { engineOf } from "../../metadata/engines";
import { namesOnMachine } from "../../metadata/recordedNames";
import { InvalidRequestError, MachineAccessDeniedError } from "../../errors/appErrors";
import type { MachineRecord } from "../../machines/machineRegistry";
import type { MachineRegistry } from "../../machines/machineRegistry";
import { sshTargetFor } from "../../machines/sshTarget";
import { verifyMachine } from "../../machines/verifyMachine";
import { PostgresSSHHelper } from "../../engines/postgres/PostgresSSHHelper";
import type { SshLeases } from "../../ssh/sshLeases";
import { withHeldLease } from "./heldLease";
import { tableBody } from "./tableBody";
import { csvRowsFormat, jsonRowsFormat } from "./tableFormats";
import { toTableRead } from "./tableRequest";
import type { TableDataBody, TablesListBody } from "./tables.model";

export interface TableServiceDeps {
  registry: MachineRegistry;
  /** The caller's recorded databases, to find what an adopted row's name is on the machine. */
  store: Pick<DeployedDbStore, "findByNameAnyEngine">;
  audit: AuditTrail;
  leases: SshLeases;
  encryptionKey: string;
  ssh: SshSettings;
  /** Rows in a JSON answer that did not ask for a `limit`. */
  maxRows: number;
}

/** Which database on which of the caller's machines: the fields every browsing request has. */
export type MachineDatabase = Pick<typeof TablesListBody.static, "vpsId" | "vpsIp" | "databaseName">;

export interface TableReadResult {
  format: "json" | "csv";
  /** Already checked: everything wrong with the request or the table was thrown before. */
  body: ReadableStream<Uint8Array>;
}

/** Read-only browsing of a database on the caller's machine, with the rights of the database's owner (see psqlAsDatabaseOwnerCommand). */
export function createTableService(deps: TableServiceDeps) {
  async function targetFor(actor: Actor, action: "list-tables" | "read-table", where: MachineDatabase) {
    let machine: MachineRecord;
    try {
      machine = await verifyMachine(deps.registry, where.vpsId, actor.userId, where.vpsIp);
    } catch (error) {
      // A refused look at someone else's machine is worth an audit row; ordinary reads are not.
      if (error instanceof MachineAccessDeniedError) {
        await deps.audit.record(actor, { action, outcome: "refused", machineId: where.vpsId, host: where.vpsIp, dbName: where.databaseName });
      }
      throw error;
    }
    return { machine, target: sshTargetFor(machine, deps.ssh, deps.encryptionKey), dbName: await databaseOnMachine(actor, machine, where.databaseName) };
  }

  /**
   * The requested database as named on the machine: a row adopted from the previous
   * implementation names it as typed, PostgreSQL folded it. A name recorded only as a MySQL
   * database is refused: these routes would read a PostgreSQL database of that name.
   */
  async function databaseOnMachine(actor: Actor, machine: MachineRecord, databaseName: string): Promise<string> {
    // One query for both questions (which engine, and the legacy name): it runs on every browse.
    const rows = await deps.store.findByNameAnyEngine({ userId: actor.userId, vpsId: machine.id, host: machine.ip }, databaseName);
    const row = rows.find((candidate) => engineOf(candidate.dbType) === "postgres");
    if (row) return namesOnMachine(row).dbName;
    if (rows.length > 0) throw new InvalidRequestError("This is a MySQL database: browse it with the MySQL routes");
    return databaseName;
  }

  return {
    async listTables(actor: Actor, request: typeof TablesListBody.static): Promise<string[]> {
      const { schema } = request;
      const { machine, target, dbName } = await targetFor(actor, "list-tables", request);
      return deps.leases.withLease(target, (ssh) => new PostgresSSHHelper(ssh, deps.ssh, machine.ip).getTablesList(dbName, schema));
    },

    /**
     * Resolves once the table's head has been checked, with a body that streams the rows; the
     * SSH session stays leased until that body has been read, failed or been cancelled.
     */
    async readTable(actor: Actor, request: typeof TableDataBody.static, signal?: AbortSignal): Promise<TableReadResult> {
      const { machine, target, dbName } = await targetFor(actor, "read-table", request);
      const read = toTableRead(dbName, request.tableName, request, deps.maxRows);
      return withHeldLease(deps.leases, target, async (ssh) => {
        const table = await new PostgresSSHHelper(ssh, deps.ssh, machine.ip).openTableData(read.query, signal);
        const format =
          read.format === "csv"
            ? csvRowsFormat({ csvSafe: read.csvSafe })
            : jsonRowsFormat({ columns: table.columns, limit: read.limit ?? deps.maxRows, offset: read.offset, estimatedTotal: table.estimatedTotal, keyColumns: table.keyColumns });
        let release: () => void = () => undefined;
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        const body = tableBody(table, format, { idleMs: deps.ssh.commandTimeoutMs, onEnd: () => release() });
        return { value: { format: read.format, body }, released };
      });
    },
  };
}

export type TableService = ReturnType<typeof createTableService>;
