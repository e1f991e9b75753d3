import { createHash } from "node:crypto";
import type { SshSettings } from "../../config/env";
import pg from "pg";
import { NotFoundError, RemoteStepError, RemoteTimeoutError } from "../../errors/appErrors";
import { PostgresSSHHelper } from "./PostgresSSHHelper";
import type { SSHClient, RemoteChannel } from "../../ssh/SSHClient";
import type { SshLeases, SshTarget } from "../../ssh/sshLeases";

/** Who logs in where: the database's own recorded role, never a superuser. */
export interface SqlLogin {
  dbName: string;
  role: string;
  password: string;
}

/** A logged-in session to one database, over an SSH-forwarded channel. */
export interface SqlConnection {
  readonly client: pg.Client;
  /** Asks the server to cancel what this session is running (a CancelRequest on a second channel). */
  cancel(): Promise<void>;
  /** `format_type` names of (oid, typmod) pairs seen on this session. */
  readonly typeNames: Map<string, string>;
}

export interface SqlConnectionSettings {
  leases: SshLeases;
  ssh: SshSettings;
  connectTimeoutMs: number;
  /** Server-side statement_timeout, set at login (a startup parameter, so DISCARD ALL keeps it). */
  statementTimeoutMs: number;
  /** An idle session is closed after this long (it also holds an SSH lease). */
  idleMs: number;
  /** Idle sessions kept per (machine, database, role). */
  maxIdlePerKey: number;
  /**
   * Idle sessions kept per machine, whatever the database: each holds an SSH lease, and leases
   * are shared with deploys and browsing (sshPool.ts), which must never wait on idle editors.
   */
  maxIdlePerMachine: number;
}

interface Pooled extends SqlConnection {
  key: string;
  machineKey: string;
  broken: boolean;
  idleTimer?: ReturnType<typeof setTimeout>;
  close(): Promise<void>;
}

const CANCEL_REQUEST_CODE = 80877102;
const CLOSE_GRACE_MS = 2_000;

/** pg drives a net.Socket; an ssh2 channel is a Duplex that is already connected. */
function asSocket(channel: RemoteChannel): RemoteChannel {
  return Object.assign(channel, {
    setNoDelay: () => channel,
    setKeepAlive: () => channel,
    ref: () => channel,
    unref: () => channel,
    connect: () => {
      queueMicrotask(() => channel.emit("connect"));
      return channel;
    },
  });
}

function sendCancelRequest(ssh: SSHClient, port: number, processId: number, secretKey: number): Promise<void> {
  return ssh.forwardToLocalPort(port).then(
    (channel) =>
      new Promise<void>((resolve) => {
        const message = Buffer.alloc(16);
        message.writeInt32BE(16, 0);
        message.writeInt32BE(CANCEL_REQUEST_CODE, 4);
        message.writeInt32BE(processId, 8);
        message.writeInt32BE(secretKey, 12);
        channel.on("error", () => resolve());
        channel.on("close", () => resolve());
        channel.end(message);
        // The server closes after reading it; do not wait on a peer that never does.
        setTimeout(() => {
          channel.destroy();
          resolve();
        }, 2_000).unref?.();
      }),
  );
}

/** pg reports a refused login as an ErrorResponse; our words for it, never the password. */
function loginFailure(error: unknown, login: SqlLogin): Error {
  const code = (error as { code?: unknown }).code;
  if (code === "3D000") return new NotFoundError(`Database ${login.dbName} was not found on the machine`);
  if (code === "28P01" || code === "28000") return new RemoteStepError("login", `PostgreSQL refused the login of role ${login.role} to ${login.dbName} (was its password changed outside this service?)`);
  if (error instanceof RemoteTimeoutError) return error;
  return new RemoteStepError("login", `Could not open a session to ${login.dbName} on the machine`);
}

/**
 * Sessions to users' databases, logged in as the database's role through an SSH-forwarded
 * channel to the machine's local PostgreSQL, kept per (machine, host, database, role,
 * password) and reused: a warm query costs one round trip. Each live session holds one lease
 * of the machine's pooled SSH connection (so host-key pinning and the connection limits
 * apply), released when the session is closed, after `idleMs` unused.
 */
export function createSqlConnectionPool(settings: SqlConnectionSettings) {
  const idle = new Map<string, Pooled[]>();
  const live = new Set<Pooled>();

  const machineKeyOf = (target: SshTarget) => `${target.machineId}|${target.host}`;
  const keyOf = (target: SshTarget, login: SqlLogin) =>
    [target.machineId, target.host, login.dbName, login.role, createHash("sha256").update(login.password).digest("hex")].join("|");

  function open(target: SshTarget, login: SqlLogin, key: string): Promise<Pooled> {
    return new Promise<Pooled>((resolve, reject) => {
      let endLease: () => void = () => undefined;
      const leaseEnded = new Promise<void>((done) => {
        endLease = done;
      });
      settings.leases
        .withLease(target, async (ssh) => {
          const port = await new PostgresSSHHelper(ssh, settings.ssh, target.host).findDatabasePort(login.dbName);
          if (port === undefined) throw new NotFoundError(`Database ${login.dbName} was not found on the machine`);
          const channel = await ssh.forwardToLocalPort(port);
          const client = new pg.Client({
            user: login.role,
            password: login.password,
            database: login.dbName,
            stream: () => asSocket(channel),
            connectionTimeoutMillis: settings.connectTimeoutMs,
            statement_timeout: settings.statementTimeoutMs,
            application_name: "zyotra-sql-editor",
          });
          const pooled: Pooled = {
            key,
            machineKey: machineKeyOf(target),
            client,
            broken: false,
            typeNames: new Map(),
            cancel: async () => {
              // Set by the server's BackendKeyData at login; pg keeps them but does not type them.
              const { processID, secretKey } = client as pg.Client & { processID: number | null; secretKey: number | null };
              if (processID === null || secretKey === null) return;
              await sendCancelRequest(ssh, port, processID, secretKey).catch(() => undefined);
            },
            close: async () => {
              pooled.broken = true;
              live.delete(pooled);
              // A polite Terminate, but never a wait on a peer that is gone: the lease must come back.
              await Promise.race([client.end().catch(() => undefined), Bun.sleep(CLOSE_GRACE_MS)]);
              channel.destroy();
              endLease();
            },
          };
          client.on("error", () => {
            pooled.broken = true;
          });
          client.on("end", () => {
            pooled.broken = true;
            live.delete(pooled);
            endLease();
          });
          try {
            await client.connect();
          } catch (error) {
            channel.destroy();
            throw loginFailure(error, login);
          }
          live.add(pooled);
          resolve(pooled);
          await leaseEnded;
        })
        // After resolve() this is a no-op; before it, it is how failures reach the caller.
        .catch(reject);
    });
  }

  return {
    /** A session of its own for one request; give it back with `release`. */
    async acquire(target: SshTarget, login: SqlLogin): Promise<SqlConnection> {
      const key = keyOf(target, login);
      const list = idle.get(key);
      while (list && list.length > 0) {
        const candidate = list.pop() as Pooled;
        clearTimeout(candidate.idleTimer);
        if (!candidate.broken) return candidate;
        void candidate.close();
      }
      return open(target, login, key);
    },

    /**
     * Back to the pool once the session is clean: an open transaction is rolled back by the
     * caller; here every session setting, temporary table, prepared statement and LISTEN the
     * user's SQL left behind is dropped (DISCARD ALL), so the next run starts like a new login.
     */
    async release(connection: SqlConnection): Promise<void> {
      const pooled = connection as Pooled;
      if (pooled.broken || pooled.client.getTransactionStatus() !== "I") {
        await pooled.close();
        return;
      }
      try {
        await pooled.client.query("DISCARD ALL");
      } catch {
        await pooled.close();
        return;
      }
      const list = idle.get(pooled.key) ?? [];
      const idleOnMachine = [...idle.values()].reduce((n, sessions) => n + sessions.filter((s) => s.machineKey === pooled.machineKey).length, 0);
      if (list.length >= settings.maxIdlePerKey || idleOnMachine >= settings.maxIdlePerMachine) {
        await pooled.close();
        return;
      }
      list.push(pooled);
      idle.set(pooled.key, list);
      pooled.idleTimer = setTimeout(() => {
        const current = idle.get(pooled.key);
        const index = current?.indexOf(pooled) ?? -1;
        if (current && index !== -1) current.splice(index, 1);
        if (current?.length === 0) idle.delete(pooled.key);
        void pooled.close();
      }, settings.idleMs);
      pooled.idleTimer.unref?.();
    },

    /** Closes a session that must not be reused (e.g. its request was cut off mid-query). */
    async discard(connection: SqlConnection): Promise<void> {
      await (connection as Pooled).close();
    },

    liveCount: () => live.size,

    async closeAll(): Promise<void> {
      for (const list of idle.values()) for (const pooled of list) clearTimeout(pooled.idleTimer);
      idle.clear();
      await Promise.all([...live].map((pooled) => pooled.close()));
    },
  };
}

export type SqlConnectionPool = ReturnType<typeof createSqlConnectionPool>;
