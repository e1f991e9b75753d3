import { MachineAccessDeniedError } from "../errors/appErrors";
import type { MachineRecord, MachineRegistry } from "./machineRegistry";

/**
 * The machine must exist, belong to the caller, and have the IP the caller names.
 * Every failure looks the same to the caller, so probing reveals nothing.
 */
export async function verifyMachine(registry: MachineRegistry, machineId: number, userId: number, machineIp: string): Promise<MachineRecord> {
  if (!Number.isSafeInteger(machineId) || machineId < 1 || machineId > 2_147_483_647) throw new MachineAccessDeniedError();
  const machine = await registry.findOwned(machineId, userId);
  if (!machine || machine.ownerId !== userId || machine.ip.trim() !== machineIp.trim()) throw new MachineAccessDeniedError();
  return machine;
}
