import { decryptMachineSecret } from "../crypto/machineSecret";
import type { SshTarget } from "../ssh/sshSessions";
import type { MachineRecord } from "./machineRegistry";

export interface SshLoginSettings {
  user: string;
  port: number;
}

/** Decrypts the machine's credentials; fails with a clear error rather than trying an empty password. */
export function sshTargetFor(machine: MachineRecord, login: SshLoginSettings, encryptionKey: string): SshTarget {
  const password = decryptMachineSecret(machine.encryptedPassword, encryptionKey);
  const privateKey = machine.encryptedSshKey ? decryptMachineSecret(machine.encryptedSshKey, encryptionKey) : undefined;
  return { machineId: machine.id, host: machine.ip, port: login.port, username: login.user, password, privateKey };
}
