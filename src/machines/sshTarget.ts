import type { SshSettings } from "../config/env";
import { decryptMachineSecret } from "../crypto/machineSecret";
import type { SshTarget } from "../ssh/sshLeases";
import type { MachineRecord } from "./machineRegistry";

export type SshLoginSettings = Pick<SshSettings, "user" | "port">;

function tryDecrypt(cipherText: string, encryptionKey: string): string | undefined {
  try {
    return decryptMachineSecret(cipherText, encryptionKey);
  } catch {
    return undefined;
  }
}

/**
 * Decrypts the machine's credentials. A machine with an SSH key logs in with it (its password
 * is only a fallback); without a key an undecryptable password is a clear error, never an
 * attempt with an empty one.
 */
export function sshTargetFor(machine: MachineRecord, login: SshLoginSettings, encryptionKey: string): SshTarget {
  const base = { machineId: machine.id, host: machine.ip, port: login.port, username: login.user };
  if (machine.encryptedSshKey) {
    const privateKey = decryptMachineSecret(machine.encryptedSshKey, encryptionKey);
    return { ...base, privateKey, password: tryDecrypt(machine.encryptedPassword, encryptionKey) };
  }
  return { ...base, password: decryptMachineSecret(machine.encryptedPassword, encryptionKey) };
}
