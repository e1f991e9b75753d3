import type { SshLeases, SshTarget } from "../../src/ssh/sshLeases";

/** For the refusal paths only: proves no SSH connection was even attempted. */
export function refusingLeases(): SshLeases & { attempts: SshTarget[] } {
  const attempts: SshTarget[] = [];
  return {
    attempts,
    async withLease(target) {
      attempts.push(target);
      throw new Error("an SSH connection was attempted where none may be made");
    },
    async closeAll() {},
  };
}
