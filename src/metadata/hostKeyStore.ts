import { and, eq } from "drizzle-orm";
import type { MetadataDatabase } from "./deployedDbStore";
import { machine_host_keys } from "./schema";

/** Trust on first use: the first host key seen for a machine and address is pinned. */
export interface HostKeyStore {
  pinned(machineId: number, host: string): Promise<string | undefined>;
  /** Pins unless a key is already pinned; returns the key that is pinned afterwards. */
  pin(machineId: number, host: string, fingerprint: string): Promise<string>;
  reset(machineId: number): Promise<number>;
}

export function createHostKeyStore(db: MetadataDatabase): HostKeyStore {
  const pinned = async (machineId: number, host: string) => {
    const [row] = await db
      .select({ fingerprint: machine_host_keys.fingerprint })
      .from(machine_host_keys)
      .where(and(eq(machine_host_keys.machineId, machineId), eq(machine_host_keys.host, host)));
    return row?.fingerprint;
  };
  return {
    pinned,
    async pin(machineId, host, fingerprint) {
      await db.insert(machine_host_keys).values({ machineId, host, fingerprint }).onConflictDoNothing();
      return (await pinned(machineId, host)) ?? fingerprint;
    },
    async reset(machineId) {
      const removed = await db.delete(machine_host_keys).where(eq(machine_host_keys.machineId, machineId)).returning();
      return removed.length;
    },
  };
}
