import { createHash } from "node:crypto";
import type { HostKeyStore } from "../metadata/hostKeyStore";
import { SshChannelUnavailableError } from "../errors/appErrors";
import { pinnedLogin } from "./hostKeyPinning";
import { SSHClient } from "./SSHClient";
import { toConnectOptions, type SshLeases, type SshTarget } from "./sshLeases";

export interface SshPoolSettings {
  connectTimeoutMs: number;
  /** A connection nobody used for this long is closed. */
  idleTimeoutMs: number;
  /** Units of work sharing one connection at once; below sshd's default MaxSessions (10). */
  maxLeasesPerConnection: number;
  /** Connections per key before further work waits for a free lease. */
  maxConnectionsPerKey: number;
  /** Trust on first use; without it host keys are not checked (tests of the pool alone). */
  hostKeys?: HostKeyStore;
}

/**
 * sshd allows 10 channels per connection by default: 7 units of work, one kept psql session
 * (postgres/psqlSession.ts) and one spare for cancelling a streamed query.
 */
export const DEFAULT_POOL_SETTINGS = { idleTimeoutMs: 60_000, maxLeasesPerConnection: 7, maxConnectionsPerKey: 4 };

interface PooledConnection {
  ssh: SSHClient;
  ready: Promise<void>;
  leases: number;
  idleTimer?: ReturnType<typeof setTimeout>;
}

interface Waiter {
  resolve: () => void;
}

/**
 * Keeps SSH connections per (machine, host, port, user, credential fingerprint) and lends them
 * out, so a request to a machine usually costs one channel instead of a handshake and a login.
 * Credentials are part of the key: a changed password or key gets its own connection, and no
 * request can ever ride on another machine's connection.
 */
export function createSshPool(settings: SshPoolSettings): SshLeases & { openConnections(): number } {
  const pools = new Map<string, PooledConnection[]>();
  const waiters = new Map<string, Waiter[]>();
  let closed = false;

  const keyOf = (target: SshTarget) => {
    const fingerprint = createHash("sha256")
      .update(target.password ?? "")
      .update("\0")
      .update(target.privateKey ?? "")
      .digest("hex");
    return [target.machineId, target.host, target.port, target.username, fingerprint].join("|");
  };

  const remove = (key: string, connection: PooledConnection) => {
    clearTimeout(connection.idleTimer);
    const list = pools.get(key) ?? [];
    const index = list.indexOf(connection);
    if (index !== -1) list.splice(index, 1);
    if (list.length === 0) pools.delete(key);
    connection.ssh.close();
    wakeOne(key);
  };

  const wakeOne = (key: string) => {
    const queue = waiters.get(key);
    const next = queue?.shift();
    if (queue && queue.length === 0) waiters.delete(key);
    next?.resolve();
  };

  const open = (key: string, target: SshTarget): PooledConnection => {
    const options = toConnectOptions(target, settings.connectTimeoutMs);
    const pinning = settings.hostKeys && pinnedLogin(settings.hostKeys, target);
    const ssh = new SSHClient(pinning ? { ...options, hostVerifier: pinning.hostVerifier } : options);
    const connect = () => (pinning ? pinning.connect(ssh) : ssh.connect());
    const connection: PooledConnection = { ssh, ready: connect(), leases: 0 };
    // A failed handshake must not linger in the pool for the next request.
    connection.ready.catch(() => remove(key, connection));
    const list = pools.get(key) ?? [];
    list.push(connection);
    pools.set(key, list);
    return connection;
  };

  async function acquire(key: string, target: SshTarget, fresh: boolean): Promise<PooledConnection> {
    // Bounded: each pass either returns or waits for a lease to be released or a connection removed.
    for (let attempt = 0; attempt < 10_000; attempt++) {
      if (closed) throw new SshChannelUnavailableError("The service is shutting down");
      const list = pools.get(key) ?? [];
      // Liveness check before reuse: a connection whose peer went away is dropped, not lent.
      for (const connection of [...list]) if (!connection.ssh.isOpen && connection.leases === 0) remove(key, connection);
      const live = (pools.get(key) ?? []).filter((c) => c.ssh.isOpen);
      const reusable = fresh ? undefined : live.find((c) => c.leases < settings.maxLeasesPerConnection);
      const connection = reusable ?? (live.length < settings.maxConnectionsPerKey || fresh ? open(key, target) : undefined);
      if (connection) {
        connection.leases++;
        clearTimeout(connection.idleTimer);
        connection.idleTimer = undefined;
        try {
          await connection.ready;
        } catch (error) {
          connection.leases--;
          throw error;
        }
        return connection;
      }
      await new Promise<void>((resolve) => {
        const queue = waiters.get(key) ?? [];
        queue.push({ resolve });
        waiters.set(key, queue);
      });
    }
    throw new SshChannelUnavailableError("No SSH connection became available");
  }

  function release(key: string, connection: PooledConnection) {
    connection.leases--;
    if (!connection.ssh.isOpen) {
      if (connection.leases === 0) remove(key, connection);
      else wakeOne(key);
      return;
    }
    if (connection.leases === 0) {
      connection.idleTimer = setTimeout(() => remove(key, connection), settings.idleTimeoutMs);
      // An idle pool must never keep the process alive.
      connection.idleTimer.unref?.();
    }
    wakeOne(key);
  }

  async function run<T>(key: string, target: SshTarget, work: (ssh: SSHClient) => Promise<T>, fresh: boolean): Promise<T> {
    const connection = await acquire(key, target, fresh);
    const startedBefore = connection.ssh.commandsStarted;
    const reused = !fresh && startedBefore > 0;
    const alone = connection.leases === 1;
    try {
      return await work(connection.ssh);
    } catch (error) {
      // The peer went away between uses and nothing of this work ran: try once on a new connection.
      if (error instanceof SshChannelUnavailableError && reused && alone && connection.ssh.commandsStarted === startedBefore && !closed) {
        connection.ssh.close();
        release(key, connection);
        return run(key, target, work, true);
      }
      throw error;
    } finally {
      if (connection.leases > 0 && pools.get(key)?.includes(connection)) release(key, connection);
    }
  }

  return {
    withLease: (target, work) => run(keyOf(target), target, work, false),
    async closeAll() {
      closed = true;
      for (const [key, list] of [...pools]) for (const connection of [...list]) remove(key, connection);
      for (const queue of waiters.values()) for (const waiter of queue) waiter.resolve();
      waiters.clear();
    },
    openConnections: () => [...pools.values()].reduce((n, list) => n + list.filter((c) => c.ssh.isOpen).length, 0),
  };
}
