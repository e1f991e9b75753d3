import { DependencyUnavailableError } from "../errors/appErrors";
import { isConnectionFailure, readTryingTwice } from "../metadata/errors";

/** A machine of the deployment manager's `vps_machines` table, as we use it. */
export interface MachineRecord {
  id: number;
  ownerId: number;
  ip: string;
  /** CryptoJS passphrase-mode ciphertext of the root password. */
  encryptedPassword: string;
  /** CryptoJS ciphertext of a private key, when the machine has one. */
  encryptedSshKey: string | null;
}

export interface MachineRegistry {
  findOwned(machineId: number, ownerId: number): Promise<MachineRecord | null>;
  /** Readiness: resolves when the registry answers. */
  ping(): Promise<void>;
}

/** Anything that runs parameterized SQL: a `pg` Pool in production, PGlite in zero-config mode. */
export interface SqlQueryable {
  query(text: string, params: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

const FIND_OWNED_MACHINE = `SELECT id, "ownerId", vps_ip, vps_password, ssh_key FROM vps_machines WHERE id = $1 AND "ownerId" = $2`;

export function createSqlMachineRegistry(db: SqlQueryable): MachineRegistry {
  return {
    async ping() {
      await db.query("SELECT 1", []);
    },
    async findOwned(machineId, ownerId) {
      let rows: Array<Record<string, unknown>>;
      try {
        ({ rows } = await readTryingTwice(() => db.query(FIND_OWNED_MACHINE, [machineId, ownerId])));
      } catch (error) {
        if (isConnectionFailure(error)) throw new DependencyUnavailableError("The machine registry is unavailable, please try again shortly");
        throw error;
      }
      const row = rows[0];
      if (!row) return null;
      return {
        id: Number(row.id),
        ownerId: Number(row.ownerId),
        ip: String(row.vps_ip ?? ""),
        encryptedPassword: String(row.vps_password ?? ""),
        encryptedSshKey: typeof row.ssh_key === "string" && row.ssh_key !== "" ? row.ssh_key : null,
      };
    },
  };
}
