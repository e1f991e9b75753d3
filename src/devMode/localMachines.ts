import { encryptMachineSecret } from "../crypto/machineSecret";
import type { SqlQueryable } from "../machines/machineRegistry";

export interface NewLocalMachine {
  ip: string;
  rootPassword: string;
  ownerId: number;
  sshKey?: string;
  name?: string;
}

/** Registers a machine in the zero-config registry, encrypted exactly as the deployment manager does. */
export async function registerLocalMachine(db: SqlQueryable, machine: NewLocalMachine, encryptionKey: string): Promise<number> {
  const { rows } = await db.query(
    `INSERT INTO vps_machines (vps_ip, vps_name, vps_password, "ownerId", ssh_key) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [
      machine.ip,
      machine.name ?? machine.ip,
      encryptMachineSecret(machine.rootPassword, encryptionKey),
      machine.ownerId,
      machine.sshKey ? encryptMachineSecret(machine.sshKey, encryptionKey) : null,
    ],
  );
  return Number(rows[0]?.id);
}
