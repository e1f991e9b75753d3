import type { QuerySettings } from "../../config/env";
import type { MachineServiceDeps } from "../serviceDeps";
import type { Actor } from "../../metadata/auditTrail";
import type { DeployedDbRow } from "../../metadata/schema";
import { runMySqlText, type MySqlStatementResult } from "../../engines/mysql/mysqlQueryRun";
import { connectMySql } from "../../engines/mysql/mysqlReader";
import { InvalidRequestError, MachineAccessDeniedError, NotFoundError, RemoteTimeoutError, SqlStatementError } from "../../errors/appErrors";
import { sshTargetFor } from "../../machines/sshTarget";
import { verifyMachine } from "../../machines/verifyMachine";
import type { RunMySqlQueryBody } from "./mysql.model";

export interface MySqlQueryDeps extends MachineServiceDeps {
  query: QuerySettings;
}

/** MariaDB's and MySQL's "statement ran past its time limit". */
const TIMEOUT_ERRNOS = new Set([1969, 3024]);
const TIMEOUT_GRACE_MS = 2_000;

/** Exact name first, then case-insensitively (the portal lower-cases it); two case variants are ambiguous. */
function resolveMySqlRow(rows: DeployedDbRow[], databaseName: string): DeployedDbRow {
  const exact = rows.find((row) => row.dbName === databaseName);
  if (exact) return exact;
  const folded = rows.filter((row) => row.dbName.toLowerCase() === databaseName.toLowerCase());
  if (folded.length > 1) throw new InvalidRequestError(`databaseName ${databaseName} matches several of your MySQL databases on this machine (${folded.map((row) => row.dbName).join(", ")}); send the exact name`);
  const [row] = folded;
  if (!row) throw new NotFoundError("Database not found");
  return row;
}

const shaped = (result: MySqlStatementResult) => ({
  rows: result.rows,
  columns: result.columns,
  command: result.command,
  rowCount: result.rowCount,
  executionTime: `${Math.round(result.elapsedMs)} ms`,
});

/** The MySQL SQL editor: the caller's SQL on their database, as the database's own user. */
export function createMySqlQueryService(deps: MySqlQueryDeps) {
  async function runQuery(actor: Actor, request: typeof RunMySqlQueryBody.static) {
    const vpsId = request.vpsId;
    const auditBase = { action: "run-query" as const, machineId: vpsId, host: request.vpsIp, dbName: request.databaseName };
    let machine;
    try {
      machine = await verifyMachine(deps.registry, vpsId, actor.userId, request.vpsIp);
    } catch (error) {
      if (error instanceof MachineAccessDeniedError) await deps.audit.record(actor, { ...auditBase, outcome: "refused" });
      throw error;
    }
    const scope = { userId: actor.userId, vpsId: machine.id, host: machine.ip };
    const mysqlRows = await deps.store.listOnMachine({ ...scope, engine: "mysql" });
    if (!mysqlRows.some((row) => row.dbName.toLowerCase() === request.databaseName.toLowerCase())) {
      const pgRows = await deps.store.listOnMachine({ ...scope, engine: "postgres" });
      if (pgRows.some((row) => row.dbName.toLowerCase() === request.databaseName.toLowerCase())) {
        throw new InvalidRequestError("This is a PostgreSQL database: run SQL on it with /run-query");
      }
    }
    const row = resolveMySqlRow(mysqlRows, request.databaseName);
    const password = deps.secretBox.isSealed(row.password) ? deps.secretBox.open(row.password) : row.password;
    const login = { user: row.username, password, database: row.dbName };
    const target = sshTargetFor(machine, deps.ssh, deps.encryptionKey);
    const { statementTimeoutMs, maxRows } = deps.query;

    const outcome = await deps.leases.withLease(target, async (ssh) => {
      const connection = await connectMySql(ssh, login, deps.ssh.commandTimeoutMs, { multipleStatements: true });
      // The server stops a statement past the limit (MariaDB: max_statement_time in seconds; MySQL: max_execution_time, SELECTs).
      const limit = await runMySqlText(connection, "SELECT VERSION()", 1);
      const mariadb = String(limit.results[0]?.rows[0]?.["VERSION()"] ?? "").toLowerCase().includes("mariadb");
      await runMySqlText(connection, mariadb ? `SET SESSION max_statement_time = ${statementTimeoutMs / 1000}` : `SET SESSION max_execution_time = ${statementTimeoutMs}`, 1);
      let timedOut = false;
      // Should the server not stop it (MySQL's limit covers SELECTs only), the service hangs up.
      const timer = setTimeout(() => {
        timedOut = true;
        connection.destroy();
      }, statementTimeoutMs + TIMEOUT_GRACE_MS);
      try {
        const result = await runMySqlText(connection, request.query, maxRows);
        if (timedOut) throw new RemoteTimeoutError(`The query did not finish within ${statementTimeoutMs / 1000} s and was stopped`);
        return result;
      } finally {
        clearTimeout(timer);
        connection.destroy();
      }
    });

    if (outcome.error) {
      const { message, errno, statement } = outcome.error;
      await deps.audit.record(actor, { ...auditBase, dbName: row.dbName, outcome: "failure", detail: `mysql error ${errno} at statement ${statement}` });
      if (TIMEOUT_ERRNOS.has(errno)) throw new RemoteTimeoutError(`The query did not finish within ${statementTimeoutMs / 1000} s and was stopped`);
      throw new SqlStatementError(message, String(errno), statement);
    }
    await deps.audit.record(actor, { ...auditBase, dbName: row.dbName, outcome: "success", detail: `${outcome.results.length} statement(s)` });
    const last = outcome.results.at(-1);
    const top = last ? shaped(last) : { rows: [], columns: [], command: "OK", rowCount: 0, executionTime: "0 ms" };
    return { message: "success" as const, ...top, results: outcome.results.map(shaped), truncated: outcome.truncated };
  }

  return { runQuery };
}

export type MySqlQueryService = ReturnType<typeof createMySqlQueryService>;
