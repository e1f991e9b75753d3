import { createConnection, type Connection, type FieldPacket } from "mysql2";
import { AppError, InvalidRequestError, NotFoundError, RemoteStepError, RemoteTimeoutError } from "../../errors/appErrors";
import type { SSHClient } from "../../ssh/SSHClient";
import { mysqlIdent } from "./mysqlIdentifiers";
import { ChannelHandover } from "./channelHandover";
import { converterFor, csvField, type MySqlCell } from "./mysqlValues";
import { queryPacket, TextResultConverter, type TextResultEncoding } from "./textResultConverter";

/** Where the service's MySQL deploys listen (the portal shows this port too). */
export const MYSQL_PORT = 3306;
/** MySQL's way of saying "no limit" after an OFFSET. */
const NO_LIMIT = "18446744073709551615";

export interface MySqlLogin {
  user: string;
  password: string;
  database: string;
}

/**
 * A wire-protocol session to the machine's own MySQL through an SSH-forwarded channel, logged
 * in as the database's user. Every cell arrives as raw text bytes (see mysqlValues.ts), so no
 * value can be mistaken for a separator and nothing is converted twice. Table rows bypass
 * `mysql2` (streamMySqlRows).
 */
export async function connectMySql(ssh: SSHClient, login: MySqlLogin, timeoutMs: number, options: { multipleStatements?: boolean } = {}): Promise<Connection> {
  return (await openMySqlSession(ssh, login, timeoutMs, options)).connection;
}

/**
 * Capabilities the session must not negotiate: with query attributes (MySQL 8.0.23+), a COM_QUERY
 * carries two more fields, which the rows' own query packet (textResultConverter.ts) leaves out.
 */
export const SESSION_FLAGS = ["-CLIENT_QUERY_ATTRIBUTES"];

/** A logged-in session whose channel can be taken from `mysql2` to read a large result set directly. */
export interface MySqlSession {
  connection: Connection;
  handover: ChannelHandover;
}

export async function openMySqlSession(ssh: SSHClient, login: MySqlLogin, timeoutMs: number, options: { multipleStatements?: boolean } = {}): Promise<MySqlSession> {
  const channel = await ssh.forwardToLocalPort(MYSQL_PORT);
  const handover = new ChannelHandover(channel);
  const connection = createConnection({
    stream: handover,
    ...login,
    charset: "UTF8MB4_GENERAL_CI",
    connectTimeout: timeoutMs,
    // Every cell as the server's raw text bytes (or null): columns decide what they become (mysqlValues.ts).
    typeCast: false,
    // Only the SQL editor, whose text is the user's own SQL on their own database, takes several statements.
    multipleStatements: options.multipleStatements ?? false,
    flags: SESSION_FLAGS,
  });
  // A failure after the handshake surfaces through the pending query; never crash the process.
  connection.on("error", () => undefined);
  try {
    await new Promise<void>((resolve, reject) => connection.connect((error) => (error ? reject(error) : resolve())));
    return { connection, handover };
  } catch (error) {
    connection.destroy();
    channel.close();
    throw toAppError(error, login);
  }
}

/** MySQL's errors that mean something to the caller; the rest is a failed remote step. */
export function toAppError(error: unknown, login: { user: string; database: string }): Error {
  const code = (error as { code?: unknown }).code;
  if (code === "ER_ACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR") {
    return new RemoteStepError("login", `MySQL refused the login of ${login.user} to ${login.database}`);
  }
  if (code === "ER_BAD_DB_ERROR") return new NotFoundError(`Database ${login.database} does not exist on the machine`);
  if (code === "PROTOCOL_SEQUENCE_TIMEOUT" || code === "ETIMEDOUT") return new RemoteTimeoutError("MySQL did not answer in time");
  if (error instanceof AppError) return error;
  return new RemoteStepError("mysql", "MySQL on the machine failed to answer the query");
}

function convertRows(rows: unknown, fields: FieldPacket[]): MySqlCell[][] {
  const converters = fields.map(converterFor);
  return (rows as Array<Array<Buffer | null>>).map((row) => row.map((raw, i) => (converters[i] ?? converterFor(fields[i] as FieldPacket))(raw)));
}

function select(connection: Connection, sql: string, values: unknown[], timeoutMs: number): Promise<MySqlCell[][]> {
  return new Promise((resolve, reject) => {
    connection.query({ sql, values, rowsAsArray: true, timeout: timeoutMs }, (error, rows, fields) => {
      if (error) reject(toAppError(error, { user: connection.config.user ?? "", database: connection.config.database ?? "" }));
      else resolve(convertRows(rows, fields ?? []));
    });
  });
}

export interface MySqlTableEntry {
  name: string;
  /** Data and index bytes of a base table; views have none. */
  size?: number;
}

export async function listMySqlTables(connection: Connection, timeoutMs: number): Promise<MySqlTableEntry[]> {
  const rows = await select(
    connection,
    "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
    [],
    timeoutMs,
  );
  return rows.map(([name, type, size]) => (type === "VIEW" ? { name: String(name) } : { name: String(name), size: Number(size) }));
}

export interface MySqlTableQuery {
  table: string;
  orderBy?: string;
  descending: boolean;
  /** Rows wanted; undefined = all (CSV). JSON asks for one more to learn whether more exist. */
  limit?: number;
  offset: number;
}

export interface MySqlTableHead {
  columns: Array<{ name: string; type: string }>;
  estimatedTotal: number | null;
  sql: string;
}

/** Checks the table and the sort column, and builds a stable, paged SELECT (primary key last). */
export async function mysqlTableHead(connection: Connection, query: MySqlTableQuery, timeoutMs: number): Promise<MySqlTableHead> {
  const described = await select(
    connection,
    "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    [query.table],
    timeoutMs,
  );
  if (described.length === 0) throw new NotFoundError(`Table ${query.table} does not exist`);
  const columns = described.map(([name, type]) => ({ name: String(name), type: String(type) }));
  if (query.orderBy !== undefined && !columns.some((column) => column.name === query.orderBy)) {
    throw new InvalidRequestError(`Column ${query.orderBy} does not exist in ${query.table}`);
  }
  const primaryKey = described.filter((row) => row[2] === "PRI").map(([name]) => String(name));
  // Without a primary key every column decides, so pages never overlap.
  const tieBreak = primaryKey.length > 0 ? primaryKey : columns.map((column) => column.name);
  const direction = query.descending ? "DESC" : "ASC";
  const order = [...new Set([...(query.orderBy ? [query.orderBy] : []), ...tieBreak])].map((name) => `${mysqlIdent(name)} ${direction}`);
  const limit = query.limit === undefined ? (query.offset > 0 ? ` LIMIT ${NO_LIMIT}` : "") : ` LIMIT ${query.limit}`;
  const offset = query.offset > 0 ? ` OFFSET ${query.offset}` : "";
  const [total] = await select(connection, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", [query.table], timeoutMs);
  const estimate = total?.[0];
  return {
    columns,
    estimatedTotal: typeof estimate === "string" && /^\d+$/.test(estimate) ? Number(estimate) : null,
    sql: `SELECT * FROM ${mysqlIdent(query.table)} ORDER BY ${order.join(", ")}${limit}${offset}`,
  };
}

/** How a streamed answer wraps the converted rows. */
export interface RowsWriter {
  encoding: TextResultEncoding;
  head: string;
  /** Written after the last row, once it is known whether rows were left out. */
  tail(converter: TextResultConverter): string;
}

/** See src/features/tables/tableBody.ts: a GC hint every few MiB keeps the garbage of a large table small. */
const GC_HINT_EVERY_BYTES = 8 * 1024 * 1024;

/**
 * Streams the head's rows through `writer`. The session's channel is taken from `mysql2` (which
 * logged in and read the head), the SELECT is sent on it and its result set converted byte by
 * byte (textResultConverter.ts). Full output buffers go out as they fill; a partial one when
 * the client asks for more and nothing else is there, so a fast client gets rows at once and a
 * slow one gets larger chunks. The channel is paused while the client is behind, so the server
 * waits; the query ends when the client goes away (the channel is closed) or the server stays
 * silent for `idleMs` while the client waits.
 */
export function streamMySqlRows(session: MySqlSession, head: MySqlTableHead, writer: RowsWriter, idleMs: number, onEnd: () => void): ReadableStream<Uint8Array> {
  const channel = session.handover.takeOver();
  const converter = new TextResultConverter(
    head.columns.map((column) => column.name),
    writer.encoding,
  );
  let finished = false;
  let sinceGcHint = 0;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set while the client waits for bytes and none were there. */
  let waitingPull: (() => void) | undefined;
  let onData: (chunk: Buffer) => void = () => undefined;
  let onClose: () => void = () => undefined;
  let onPull: () => Promise<void> | undefined = () => undefined;

  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(idleTimer);
    channel.off("data", onData);
    channel.off("close", onClose);
    channel.close();
    waitingPull?.();
    waitingPull = undefined;
    onEnd();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const fail = (error: Error) => {
          if (finished) return;
          controller.error(error);
          finish();
        };
        const armIdleTimer = () => {
          clearTimeout(idleTimer);
          idleTimer = setTimeout(() => fail(new RemoteTimeoutError(`MySQL sent nothing for ${Math.round(idleMs / 1000)} s while sending the rows`)), idleMs);
        };
        const send = (bytes: Buffer) => {
          if (bytes.length === 0) return;
          sinceGcHint += bytes.length;
          controller.enqueue(bytes);
          const resume = waitingPull;
          waitingPull = undefined;
          resume?.();
        };
        onData = (chunk: Buffer) => {
          if (finished) return;
          armIdleTimer();
          let full: Buffer[];
          try {
            full = converter.push(chunk);
          } catch (error) {
            fail(error instanceof Error ? error : new RemoteStepError("mysql", "MySQL failed while sending the rows"));
            return;
          }
          for (const bytes of full) send(bytes);
          sinceGcHint += chunk.length;
          if (sinceGcHint > GC_HINT_EVERY_BYTES) {
            sinceGcHint = 0;
            Bun.gc(false);
          }
          if (converter.done) {
            send(converter.drain());
            send(Buffer.from(writer.tail(converter)));
            controller.close();
            finish();
            return;
          }
          if (waitingPull) send(converter.drain());
          if ((controller.desiredSize ?? 1) <= 0) {
            // The client is behind: the server waits (and may take its time) until it catches up.
            clearTimeout(idleTimer);
            channel.pause();
          }
        };
        onClose = () => fail(new RemoteStepError("mysql", "The connection to MySQL closed before the last row"));
        onPull = () => {
          if (finished) return undefined;
          if (channel.isPaused()) {
            armIdleTimer();
            channel.resume();
          }
          // Output converted but not yet sent: the client wants it now.
          if (converter.pendingBytes > 0) {
            send(converter.drain());
            return undefined;
          }
          return new Promise<void>((resolve) => {
            waitingPull = resolve;
          });
        };
        channel.on("data", onData);
        channel.on("close", onClose);
        controller.enqueue(Buffer.from(writer.head));
        armIdleTimer();
        channel.write(queryPacket(head.sql));
      },
      pull() {
        return onPull();
      },
      cancel() {
        finish();
      },
    },
    { highWaterMark: 4 },
  );
}

/** CSV as COPY writes it: a header line, NULL as an empty field. */
export function csvWriter(head: MySqlTableHead): RowsWriter {
  return {
    encoding: { kind: "csv" },
    head: head.columns.map((column) => csvField(column.name)).join(",") + "\n",
    tail: () => "",
  };
}

/**
 * The JSON page of the table-data contract; the SELECT asks for one row more than `limit`,
 * which is left out and only tells that more rows exist (`truncated`, written last).
 */
export function jsonPageWriter(head: MySqlTableHead, page: { limit: number; offset: number }): RowsWriter {
  return {
    encoding: { kind: "json", limit: page.limit },
    head: `{"status":"success","columns":${JSON.stringify(head.columns)},"limit":${page.limit},"offset":${page.offset},"estimatedTotal":${JSON.stringify(head.estimatedTotal)},"data":[`,
    tail: (converter) => `],"truncated":${converter.truncated}}`,
  };
}
