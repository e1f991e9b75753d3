import { SshChannelUnavailableError } from "../../src/errors/appErrors";
import { SSHClient, type CommandResult, type ExecOptions } from "../../src/ssh/SSHClient";
import type { SshLeases, SshTarget } from "../../src/ssh/sshLeases";

/** One remote command as the service sent it. */
export interface RemoteCall {
  command: string;
  stdin: string;
  target: SshTarget;
}

export interface ScriptedAnswer {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
}

/** Answers a remote command, or throws what the connection would (a timeout, a lost machine). */
export type MachineScript = (call: RemoteCall) => ScriptedAnswer | Promise<ScriptedAnswer>;

/**
 * A stand-in for the SSH connection of fast service tests: every buffered command is answered by
 * the test's script and recorded. It opens no channels (streams, psql sessions, forwarding):
 * what needs those is tested against sandbox machines.
 */
class ScriptedSsh extends SSHClient {
  constructor(
    private readonly target: SshTarget,
    private readonly script: MachineScript,
    private readonly calls: RemoteCall[],
  ) {
    super({ host: target.host, port: target.port, username: target.username, connectTimeoutMs: 1 });
  }

  override async connect(): Promise<void> {}

  override async exec(command: string, options: ExecOptions): Promise<CommandResult> {
    const call = { command, stdin: options.stdin ?? "", target: this.target };
    this.calls.push(call);
    const answer = await this.script(call);
    const stdout = answer.stdout ?? "";
    if (stdout) {
      options.onLog?.(stdout, "stdout");
      options.onStdout?.(stdout, { extendTimeout: () => undefined });
    }
    return { command, stdout, stderr: answer.stderr ?? "", exitCode: answer.exitCode ?? 0 };
  }

  override openChannel(): Promise<never> {
    return Promise.reject(new SshChannelUnavailableError("a scripted machine opens no channels"));
  }
}

export function scriptedLeases(script: MachineScript): SshLeases & { calls: RemoteCall[] } {
  const calls: RemoteCall[] = [];
  return {
    calls,
    withLease: (target, work) => work(new ScriptedSsh(target, script, calls)),
    closeAll: async () => undefined,
  };
}

/** The SQL a deploy script carries base64-encoded (the password never travels as text). */
export function embeddedSql(script: string): string {
  return [...script.matchAll(/printf '%s' '([A-Za-z0-9+/=]{16,})' \| base64 -d/g)].map((m) => Buffer.from(m[1] ?? "", "base64").toString("utf8")).join("\n");
}
