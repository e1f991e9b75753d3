import type { SshSessions, SshTarget } from "../../src/ssh/sshSessions";

/** For the refusal paths only: proves no SSH connection was even attempted. */
export function refusingSessions(): SshSessions & { attempts: SshTarget[] } {
  const attempts: SshTarget[] = [];
  return {
    attempts,
    async withSession(target) {
      attempts.push(target);
      throw new Error("an SSH connection was attempted where none may be made");
    },
    async closeAll() {},
  };
}
