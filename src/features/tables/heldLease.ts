import type { SSHClient } from "../../ssh/SSHClient";
import type { SshLeases, SshTarget } from "../../ssh/sshLeases";

export interface Held<T> {
  value: T;
  /** Settles when the caller is done with the connection (e.g. a streamed body has ended). */
  released: Promise<void>;
}

/**
 * Like withLease, but hands `value` out as soon as it is ready while holding the lease
 * until `released` settles: a streamed response still reads from the connection
 * after the route handler has returned, and a pool must not lend it out or close it then.
 */
export function withHeldLease<T>(leases: SshLeases, target: SshTarget, open: (ssh: SSHClient) => Promise<Held<T>>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    leases
      .withLease(target, async (ssh) => {
        const held = await open(ssh);
        resolve(held.value);
        await held.released;
      })
      // After resolve() this is a no-op; before it, it is how failures reach the caller.
      .catch(reject);
  });
}
