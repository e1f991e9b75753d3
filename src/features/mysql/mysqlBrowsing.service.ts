import type { Actor } from "../../metadata/auditTrail";
import type { MachineServiceDeps } from "../serviceDeps";
import { connectMySql, csvWriter, jsonPageWriter, listMySqlTables, mysqlTableHead, openMySqlSession, streamMySqlRows, type MySqlTableEntry } from "../../engines/mysql/mysqlReader";
import { InvalidRequestError, MachineAccessDeniedError, MachineNotVisibleError, NotFoundError } from "../../errors/appErrors";
import { sshTargetFor } from "../../machines/sshTarget";
import { verifyMachine } from "../../machines/verifyMachine";
import { withHeldLease } from "../tables/heldLease";
import type { MySqlTableDataBody, MySqlTablesListBody } from "./mysql.model";

export interface MySqlBrowsingDeps extends MachineServiceDeps {
  /** Rows in a JSON page without `limit`. */
  maxRows: number;
}

export interface MySqlTableRead {
  format: "json" | "csv";
  body: ReadableStream<Uint8Array>;
}

/** Read-only browsing of a recorded MySQL database, logged in as the database's own user. */
export function createMySqlBrowsingService(deps: MySqlBrowsingDeps) {
  /** The caller's MySQL row of that name on a machine of theirs, and how to log in. */
  async function locate(actor: Actor, action: "list-tables" | "read-table", request: Pick<typeof MySqlTablesListBody.static, "vpsId" | "vpsIp" | "databaseName">) {
    const vpsId = request.vpsId;
    let machine;
    try {
      machine = await verifyMachine(deps.registry, vpsId, actor.userId, request.vpsIp);
    } catch (error) {
      if (error instanceof MachineAccessDeniedError) {
        await deps.audit.record(actor, { action, outcome: "refused", machineId: vpsId, host: request.vpsIp, dbName: request.databaseName });
        // These routes' contract reports a refused machine check as 404.
        throw new MachineNotVisibleError();
      }
      throw error;
    }
    const scope = { userId: actor.userId, vpsId: machine.id, host: machine.ip };
    const row = await deps.store.findByName({ ...scope, engine: "mysql" }, request.databaseName);
    if (!row) {
      if (await deps.store.findByName({ ...scope, engine: "postgres" }, request.databaseName)) {
        throw new InvalidRequestError("This is a PostgreSQL database: browse it with /get-tables-list and /get-table-data");
      }
      throw new NotFoundError("Database not found");
    }
    const password = deps.secretBox.isSealed(row.password) ? deps.secretBox.open(row.password) : row.password;
    return { target: sshTargetFor(machine, deps.ssh, deps.encryptionKey), login: { user: row.username, password, database: row.dbName } };
  }

  async function listTables(actor: Actor, request: typeof MySqlTablesListBody.static): Promise<MySqlTableEntry[]> {
    const { target, login } = await locate(actor, "list-tables", request);
    const timeoutMs = deps.ssh.commandTimeoutMs;
    return deps.leases.withLease(target, async (ssh) => {
      const connection = await connectMySql(ssh, login, timeoutMs);
      try {
        return await listMySqlTables(connection, timeoutMs);
      } finally {
        connection.destroy();
      }
    });
  }

  async function readTable(actor: Actor, request: typeof MySqlTableDataBody.static): Promise<MySqlTableRead> {
    const { target, login } = await locate(actor, "read-table", request);
    const timeoutMs = deps.ssh.commandTimeoutMs;
    const format = request.format ?? "json";
    const offset = request.offset ?? 0;
    const limit = request.limit ?? (format === "json" ? deps.maxRows : undefined);
    const query = { table: request.tableName, orderBy: request.orderBy, descending: request.order === "desc", offset };

    // Both formats stream; the session stays leased until the body has been read or cancelled.
    return withHeldLease(deps.leases, target, async (ssh) => {
      const session = await openMySqlSession(ssh, login, timeoutMs);
      const { connection } = session;
      try {
        const pageSize = limit ?? deps.maxRows;
        // A JSON page asks for one row more than it shows, to tell whether more exist.
        const head = await mysqlTableHead(connection, { ...query, limit: format === "json" ? pageSize + 1 : limit }, timeoutMs);
        const writer = format === "json" ? jsonPageWriter(head, { limit: pageSize, offset }) : csvWriter(head);
        let release: () => void = () => undefined;
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        const body = streamMySqlRows(session, head, writer, timeoutMs, () => {
          connection.destroy();
          release();
        });
        return { value: { format, body }, released };
      } catch (error) {
        connection.destroy();
        throw error;
      }
    });
  }

  return { listTables, readTable };
}

export type MySqlBrowsingService = ReturnType<typeof createMySqlBrowsingService>;
