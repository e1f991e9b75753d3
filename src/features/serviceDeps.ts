import type { SshSettings } from "../config/env";
import type { SecretBox } from "../crypto/secretBox";
import type { AuditTrail } from "../metadata/auditTrail";
import type { DeployedDbStore } from "../metadata/deployedDbStore";
import type { MachineRegistry } from "../machines/machineRegistry";
import type { SshLeases } from "../ssh/sshLeases";

/** What every service acting on a caller's machine needs: the machine, a way in, its records, the audit. */
export interface MachineServiceDeps<Store = DeployedDbStore> {
  store: Store;
  audit: AuditTrail;
  registry: MachineRegistry;
  leases: SshLeases;
  /** Seals and opens the recorded databases' passwords. */
  secretBox: SecretBox;
  /** Opens the machines' root credentials. */
  encryptionKey: string;
  ssh: SshSettings;
}
