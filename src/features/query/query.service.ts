import type { SecretBox } from "../../crypto/secretBox";
import type { SshSettings } from "../../config/env";
import type { Actor, AuditTrail } from "../../metadata/auditTrail";
import type { DeployedDbStore } from "../../metadata/deployedDbStore";
import { namesOnMachine } from "../../metadata/recordedNames";
import { DEPLOY_STATUS, type DeployedDbRow } from "../../metadata/schema";
import { ConflictError, InvalidRequestError, MachineAccessDeniedError, MachineUnreachableError, RemoteTimeoutError, SqlStatementError } from "../../errors/appErrors";
import type { MachineRegistry } from "../../machines/machineRegistry";
import { sshTargetFor } from "../../machines/sshTarget";
import { verifyMachine } from "../../machines/verifyMachine";
import type { SqlConnection, SqlConnectionPool } from "../../engines/postgres/sqlConnections";
import { statementIndexAt } from "../../engines/postgres/statementIndex";
import { SqlTextRun, type SqlTextOutcome, type StatementResult } from "../../engines/postgres/sqlTextRun";
import type { RunQueryBody } from "./query.model";
import { resolveDatabaseRow } from "./resolveDatabaseRow";

export interface QueryServiceDeps {
  registry: MachineRegistry;
  store: Pick<DeployedDbStore, "listOnMachine">;
  audit: AuditTrail;
  secretBox: SecretBox;
  encryptionKey: string;
  ssh: SshSettings;
  connections: SqlConnectionPool;
  statementTimeoutMs: number;
  maxRows: number;
  /** Cell bytes kept in one answer. */
  maxBytes: number;
}

type RunQueryRequest = typeof RunQueryBody.static;

interface StatementAnswer {
  rows: StatementResult["rows"];
  columns: Array<{ name: string; type: string }>;
  command: string;
  rowCount: number;
  executionTime: string;
}

export interface QueryAnswer extends StatementAnswer {
  message: "success";
  results: StatementAnswer[];
  truncated: boolean;
}

/** How much later than the server's own statement_timeout the service cancels by itself. */
const TIMEOUT_GRACE_MS = 1_000;
const QUERY_CANCELED = "57014";

const milliseconds = (ms: number) => `${Math.round(ms)} ms`;

/** The SQL editor: a user's SQL text, run as the database's own role through an SSH-forwarded session. */
export function createQueryService(deps: QueryServiceDeps) {
  async function openPassword(row: DeployedDbRow): Promise<string> {
    // Plaintext rows of the previous implementation are sealed by GET /get-db; read them as they are.
    return deps.secretBox.isSealed(row.password) ? deps.secretBox.open(row.password) : row.password;
  }

  async function typeNames(connection: SqlConnection, results: StatementResult[]): Promise<Map<string, string>> {
    const names = connection.typeNames;
    const missing = new Map<string, { oid: number; mod: number }>();
    for (const result of results) {
      for (const column of result.columns) {
        const key = `${column.typeOid}:${column.typeModifier}`;
        if (!names.has(key)) missing.set(key, { oid: column.typeOid, mod: column.typeModifier });
      }
    }
    if (missing.size === 0) return names;
    const pairs = [...missing.entries()];
    try {
      const answer = await connection.client.query<{ name: string }>({
        text: "SELECT format_type(t.o, t.m) AS name FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS t(o, m, i) ORDER BY t.i",
        values: [pairs.map(([, p]) => p.oid), pairs.map(([, p]) => p.mod)],
      });
      pairs.forEach(([key], i) => names.set(key, answer.rows[i]?.name ?? "unknown"));
    } catch {
      // The user's SQL may have left the session unable to answer (e.g. a 1 ms statement_timeout):
      // the results stand, their columns are named by type OID for this once.
      return new Map(pairs.map(([key, p]) => [key, `oid ${p.oid}`]));
    }
    return names;
  }

  function toAnswer(result: StatementResult, names: Map<string, string>): StatementAnswer {
    return {
      rows: result.rows,
      columns: result.columns.map((column) => ({ name: column.name, type: names.get(`${column.typeOid}:${column.typeModifier}`) ?? "unknown" })),
      command: result.command,
      rowCount: result.rowCount,
      executionTime: milliseconds(result.elapsedMs),
    };
  }

  /** Runs the text; a timeout or a client that went away cancels it on the server. */
  async function execute(connection: SqlConnection, text: string, signal?: AbortSignal): Promise<{ outcome: SqlTextOutcome; timedOut: boolean; abandoned: boolean }> {
    const run = new SqlTextRun(text, { maxRows: deps.maxRows, maxBytes: deps.maxBytes });
    let timedOut = false;
    let abandoned = false;
    const timer = setTimeout(() => {
      // The user's SQL may have switched statement_timeout off for its session: we still stop it.
      timedOut = true;
      void connection.cancel();
    }, deps.statementTimeoutMs + TIMEOUT_GRACE_MS);
    const onAbort = () => {
      abandoned = true;
      void connection.cancel();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (signal?.aborted) onAbort();
      connection.client.query(run);
      const outcome = await run.outcome.catch(() => {
        throw new MachineUnreachableError("The session to the database on the machine was lost while the query ran");
      });
      return { outcome, timedOut, abandoned };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  return {
    async runQuery(actor: Actor, request: RunQueryRequest, signal?: AbortSignal): Promise<QueryAnswer> {
      if (request.query.includes("\0")) throw new InvalidRequestError("query must not contain NUL characters");
      if (request.query.trim() === "") throw new InvalidRequestError("query is empty");
      const auditBase = { action: "run-query" as const, machineId: request.vpsId, host: request.vpsIp, dbName: request.databaseName };
      let machine;
      try {
        machine = await verifyMachine(deps.registry, request.vpsId, actor.userId, request.vpsIp);
      } catch (error) {
        if (error instanceof MachineAccessDeniedError) await deps.audit.record(actor, { ...auditBase, outcome: "refused" });
        throw error;
      }
      const scope = { userId: actor.userId, vpsId: machine.id, host: machine.ip };
      const pgRows = await deps.store.listOnMachine({ ...scope, engine: "postgres" });
      const named = (rows: Array<{ dbName: string }>) => rows.some((row) => row.dbName.toLowerCase() === request.databaseName.toLowerCase());
      if (!named(pgRows) && named(await deps.store.listOnMachine({ ...scope, engine: "mysql" }))) {
        throw new InvalidRequestError("This is a MySQL database: run SQL on it with /run-mysql-query");
      }
      const row = resolveDatabaseRow(pgRows, request.databaseName);
      if (row.status !== DEPLOY_STATUS.running) throw new ConflictError(`Database ${row.dbName} is ${row.status === DEPLOY_STATUS.deploying ? "still being deployed" : "not running"}`);
      const { dbName, roleName } = namesOnMachine(row);
      const target = sshTargetFor(machine, deps.ssh, deps.encryptionKey);
      const started = performance.now();
      const audited = (outcome: "success" | "failure", detail: string) =>
        deps.audit.record(actor, { ...auditBase, dbName: row.dbName, outcome, detail: `${detail}, ${milliseconds(performance.now() - started)}` });

      let connection: SqlConnection;
      try {
        connection = await deps.connections.acquire(target, { dbName, role: roleName, password: await openPassword(row) });
      } catch (error) {
        await audited("failure", `session: ${error instanceof Error ? error.constructor.name : "error"}`);
        throw error;
      }
      let reusable = false;
      try {
        const { outcome, timedOut, abandoned } = await execute(connection, request.query, signal);
        const ran = outcome.results.length + (outcome.error ? 1 : 0);
        // A BEGIN left open (or a transaction aborted by the error) ends here, never in the next run.
        if (connection.client.getTransactionStatus() !== "I") await connection.client.query("ROLLBACK");
        reusable = !abandoned;
        if (outcome.error) {
          const { wire } = outcome.error;
          const position = Number(wire.position);
          const at = Number.isInteger(position) && position > 0 ? position : undefined;
          // Syntax errors come before anything ran; the position says which statement it was.
          const statement = at === undefined ? outcome.error.statement : statementIndexAt(request.query, at);
          if (wire.code === QUERY_CANCELED && (timedOut || /statement timeout/.test(wire.message))) {
            await audited("failure", `timeout at statement ${statement}`);
            throw new RemoteTimeoutError(`The query did not finish within ${Math.round(deps.statementTimeoutMs / 1000)} s (statement_timeout) and was cancelled`);
          }
          await audited("failure", `sql error ${wire.code ?? ""} at statement ${statement} of ${ran}`);
          throw new SqlStatementError(wire.message, wire.code ?? "XX000", statement, at);
        }
        const names = await typeNames(connection, outcome.results);
        await audited("success", `${ran} statement${ran === 1 ? "" : "s"}`);
        const results = outcome.results.map((result) => toAnswer(result, names));
        const last = results.at(-1) ?? { rows: [], columns: [], command: "", rowCount: 0, executionTime: "0 ms" };
        return { message: "success", ...last, executionTime: milliseconds(performance.now() - started), results, truncated: outcome.truncated };
      } finally {
        if (reusable) void deps.connections.release(connection);
        else void deps.connections.discard(connection);
      }
    },
  };
}

export type QueryService = ReturnType<typeof createQueryService>;
