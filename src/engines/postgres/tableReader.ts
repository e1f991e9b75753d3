import { InvalidRequestError, NotFoundError, ReadRefusedError, RemoteOutputTooLargeError, RemoteStepError, RemoteTimeoutError } from "../../errors/appErrors";
import type { SSHClient } from "../../ssh/SSHClient";
import type { StreamedCommand } from "../../ssh/streamedCommand";
import { psqlAsDatabaseOwnerCommand, psqlAsPostgresCommand } from "./remoteScripts";
import { runInReaderSession } from "./psqlSession";
import { awaitFirstRows, readScriptHead } from "./scriptStream";
import { parseTableHead } from "./tableHead";
import { backendPort, cancelBackendSql, tableDataSql, type TableDataQuery } from "./tableQueries";
import type { ColumnSpec } from "./tableValues";

/**
 * A table page whose head has been checked and whose rows are still arriving. Whoever
 * holds it must either read `rows` to the end and then call `finish()`, or call `abort()`.
 */
export interface OpenedTableData {
  /** Empty for the CSV format, whose header line comes with the rows. */
  columns: ColumnSpec[];
  estimatedTotal: number | null;
  /** Positions in `columns` of the primary key when the page is in key order (see TableHead). */
  keyColumns: number[] | undefined;
  /** The rows as printed by COPY (text or CSV format), in chunks of any size. */
  rows: AsyncIterator<Buffer>;
  /** Resolves once the remote command has exited cleanly; throws if it did not. */
  finish(): Promise<void>;
  /** Stops the remote query; resolves once it is gone (or after the command timeout). */
  abort(): Promise<void>;
}

/** A remote psql that sees its channel close gets a moment to exit by itself before its query is cancelled. */
const EXIT_GRACE_MS = 50;

/**
 * Starts reading a table page and returns once its head is known and the first rows (or the
 * end) have arrived, so that every problem found before then is an ordinary error. `signal`
 * (the HTTP request's) stops the remote query if the client leaves before that.
 */
export async function openTableData(ssh: SSHClient, timeoutMs: number, query: TableDataQuery, signal?: AbortSignal): Promise<OpenedTableData> {
  const command = await openBrowsingScript(ssh, query.dbName, tableDataSql(query), timeoutMs);
  const finish = () => expectSuccess(command);
  let backendId: string | undefined;
  let rowsStarted = false;
  let stopping: Promise<void> | undefined;
  const abort = () => (stopping ??= stopCommand(ssh, timeoutMs, command, backendId, rowsStarted));
  const onClientGone = () => void abort();
  signal?.addEventListener("abort", onClientGone, { once: true });
  try {
    if (signal?.aborted) throw new RemoteStepError("table-data", "The request was cancelled");
    const head = await within(readScriptHead(command.stdout[Symbol.asyncIterator]()), timeoutMs);
    const parsed = parseTableHead(head.lines);
    backendId = parsed.backendId;
    if (!head.rows) {
      await finish();
      throwIfMissing(parsed.missing, { dbName: query.dbName, schema: query.schema, table: query.table, orderBy: query.orderBy });
      throw new RemoteStepError("table-data", "PostgreSQL on the machine gave an unexpected answer while reading the table");
    }
    const first = await awaitFirstRows(head.rows);
    rowsStarted = true;
    if (first.empty) await finish();
    return { columns: parsed.columns, estimatedTotal: parsed.estimatedTotal, keyColumns: parsed.keyColumns, rows: first.rows, finish, abort };
  } catch (error) {
    void abort();
    throw error;
  } finally {
    signal?.removeEventListener("abort", onClientGone);
  }
}

/**
 * A browsing script's output: in the connection's kept reader for the database when it is
 * free (no role to create, no login), else in a one-shot reader psql.
 */
export async function openBrowsingScript(ssh: SSHClient, dbName: string, script: string, timeoutMs: number): Promise<StreamedCommand> {
  return (await runInReaderSession(ssh, dbName, script, timeoutMs)) ?? (await ssh.execStream(psqlAsDatabaseOwnerCommand(dbName), { stdin: script, timeoutMs }));
}

/**
 * The head is a few lines sent at once. Output keeps the idle timer of a streamed command
 * alive, so a machine dripping bytes could hold the request for ever without this bound.
 */
export async function within<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RemoteTimeoutError(`A remote command did not finish within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function expectSuccess(command: StreamedCommand): Promise<void> {
  const result = await command.result;
  if (result.exitCode !== 0) throw new RemoteStepError("table-data", "PostgreSQL on the machine failed while reading the table");
}

/**
 * Closing the channel ends a psql that is writing (EPIPE); one still waiting for its query
 * (a long sort) would run on, since sshd passes no signals on, so its query is cancelled
 * through a second command on the same connection.
 */
async function stopCommand(ssh: SSHClient, timeoutMs: number, command: StreamedCommand, backendId: string | undefined, rowsStarted: boolean): Promise<void> {
  command.abort();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  const gone = command.result.then(
    () => true,
    () => true,
  );
  const cancel = async () => {
    if (backendId === undefined) return;
    // A server still planning or sorting writes nothing, so it never learns that psql died:
    // before the first row the query is always cancelled. Once rows flow, a psql that exits
    // makes the server's next write fail, which ends the query without a second command.
    if (rowsStarted && (await Promise.race([gone, Bun.sleep(EXIT_GRACE_MS).then(() => false)]))) return;
    await ssh.exec(psqlAsPostgresCommand({ port: backendPort(backendId) }), { stdin: cancelBackendSql(backendId), timeoutMs }).catch(() => undefined);
  };
  try {
    await Promise.race([Promise.all([cancel(), gone]), bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Maps what a browsing script reported missing to the error the caller gets. */
export function throwIfMissing(missing: string | undefined, where: { dbName: string; schema: string; table?: string; orderBy?: string }): void {
  const table = `${where.schema}.${where.table ?? ""}`;
  switch (missing) {
    case undefined:
      return;
    case "database":
      throw new NotFoundError(`Database ${where.dbName} does not exist on the machine`);
    case "schema":
      throw new NotFoundError(`Schema ${where.schema} does not exist in ${where.dbName}`);
    case "table":
      throw new NotFoundError(`Table ${table} does not exist in ${where.dbName}`);
    case "column":
      throw new InvalidRequestError(`orderBy: ${table} has no column ${where.orderBy ?? ""}`);
    case "ordering":
      throw new InvalidRequestError(`orderBy: the values of ${where.orderBy ?? ""} have no sort order`);
    case "key":
      throw new InvalidRequestError(`after: ${table} has no primary key to page by; use offset`);
    case "after":
      throw new InvalidRequestError(`after: not a primary key of ${table}; send the nextAfter of the previous page`);
    case "read-privilege":
      throw new ReadRefusedError(`The owner of ${where.dbName} may not read ${table}`);
    case "safe-owner":
      throw new ReadRefusedError(`${where.dbName} belongs to a role with superuser or server file rights; it is not browsed`);
    default:
      throw new RemoteStepError("table-data", `PostgreSQL on the machine reported something missing: ${missing}`);
  }
}

/** A whole (small) output as text, stopping the command past `maxBytes`. */
export async function collectOutput(command: StreamedCommand, maxBytes: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of command.stdout) {
    size += chunk.length;
    if (size > maxBytes) {
      command.abort();
      throw new RemoteOutputTooLargeError();
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, size).toString("utf8");
}
