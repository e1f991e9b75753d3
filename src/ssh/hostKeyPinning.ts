import { createHash } from "node:crypto";
import { HostKeyMismatchError } from "../errors/appErrors";
import type { HostKeyStore } from "../metadata/hostKeyStore";
import type { SSHClient, SSHConnectOptions } from "./SSHClient";
import type { SshTarget } from "./sshLeases";

export function hostKeyFingerprint(key: Buffer): string {
  return "SHA256:" + createHash("sha256").update(key).digest("base64").replace(/=+$/, "");
}

export interface PinnedLogin {
  /** Goes into the connection's options: refuses any key but the pinned one. */
  hostVerifier: NonNullable<SSHConnectOptions["hostVerifier"]>;
  /** Connects the client built with that verifier; pins the key on first contact. */
  connect(ssh: SSHClient): Promise<void>;
}

/**
 * Trust on first use, per machine and address: the first host key seen is pinned, and every
 * later login must present it (HostKeyMismatchError otherwise, also when two first contacts race).
 */
export function pinnedLogin(hostKeys: HostKeyStore, target: SshTarget): PinnedLogin {
  let expected: string | undefined;
  let seen: string | undefined;
  return {
    hostVerifier: (key) => {
      seen = hostKeyFingerprint(key);
      return expected === undefined || expected === seen;
    },
    async connect(ssh) {
      expected = await hostKeys.pinned(target.machineId, target.host);
      try {
        await ssh.connect();
      } catch (error) {
        if (expected !== undefined && seen !== undefined && seen !== expected) throw new HostKeyMismatchError(target.machineId);
        throw error;
      }
      // A concurrent first contact may have pinned another key.
      if (expected === undefined && seen !== undefined && (await hostKeys.pin(target.machineId, target.host, seen)) !== seen) {
        ssh.close();
        throw new HostKeyMismatchError(target.machineId);
      }
    },
  };
}
