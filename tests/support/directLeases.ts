import { SSHClient } from "../../src/ssh/SSHClient";
import { toConnectOptions, type SshLeases } from "../../src/ssh/sshLeases";

/** One connection per unit of work, always closed afterwards. */
export function createDirectLeases(connectTimeoutMs: number): SshLeases {
  const open = new Set<SSHClient>();
  return {
    async withLease(target, work) {
      const ssh = new SSHClient(toConnectOptions(target, connectTimeoutMs));
      open.add(ssh);
      try {
        await ssh.connect();
        return await work(ssh);
      } finally {
        ssh.close();
        open.delete(ssh);
      }
    },
    async closeAll() {
      for (const ssh of open) ssh.close();
      open.clear();
    },
  };
}
