import type { SSHClient, SSHConnectOptions } from "./SSHClient";

/** Who to log in as on a machine; `machineId` keeps leases of different machines apart. */
export interface SshTarget {
  machineId: number;
  host: string;
  port: number;
  username: string;
  password?: string;
  privateKey?: string;
}

/** How services obtain an SSH connection: the app factory decides (direct, pooled, test double). */
export interface SshLeases {
  withLease<T>(target: SshTarget, work: (ssh: SSHClient) => Promise<T>): Promise<T>;
  closeAll(): Promise<void>;
}

export function toConnectOptions(target: SshTarget, connectTimeoutMs: number): SSHConnectOptions {
  return {
    host: target.host,
    port: target.port,
    username: target.username,
    password: target.password,
    privateKey: target.privateKey,
    connectTimeoutMs,
  };
}
