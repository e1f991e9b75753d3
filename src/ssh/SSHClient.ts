import { Client, type ClientChannel, type PasswordAuthMethod, type PublicKeyAuthMethod, type ConnectConfig } from "ssh2";
import { MachineUnreachableError, RemoteTimeoutError, SshChannelUnavailableError } from "../errors/appErrors";
import { collectOutput, type CommandResult, type ExecOptions } from "./bufferedCommand";
import { streamChannel, type ExecStreamOptions, type StreamedCommand } from "./streamedCommand";

export type { CommandControl, CommandResult, ExecOptions } from "./bufferedCommand";
/** A channel of an SSH connection (a remote process's stdio, or a forwarded TCP connection). */
export type RemoteChannel = ClientChannel;

export interface SSHConnectOptions {
  host: string;
  port: number;
  username: string;
  password?: string;
  privateKey?: string;
  connectTimeoutMs: number;
  /** Called with the server's host key; return false to refuse the connection. */
  hostVerifier?: (key: Buffer) => boolean;
}

const CHANNEL_OPEN_RETRIES = 5;
const CHANNEL_OPEN_RETRY_MS = 20;

/** Thin promise wrapper over an ssh2 connection. */
export class SSHClient {
  private readonly client = new Client();
  private closed = false;
  private started = 0;

  constructor(private readonly options: SSHConnectOptions) {
    this.client.on("close", () => {
      this.closed = true;
    });
    // An error after the handshake surfaces through the pending exec; never crash the process.
    this.client.on("error", () => undefined);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** How many remote commands got a channel; lets a pool tell whether a failed unit of work ran anything. */
  get commandsStarted(): number {
    return this.started;
  }

  connect(): Promise<void> {
    const { host, port, username, password, privateKey, connectTimeoutMs, hostVerifier } = this.options;
    return new Promise((resolve, reject) => {
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onError = (error: Error & { level?: string }) => {
        cleanup();
        this.closed = true;
        if (/timed out/i.test(error.message)) {
          reject(new RemoteTimeoutError(`Could not connect to ${host}:${port} within ${connectTimeoutMs} ms`));
        } else if (error.level === "client-authentication") {
          reject(new MachineUnreachableError(`SSH login to ${host} was refused (check the machine's credentials)`));
        } else if (error.level === "client-host-key" || /host key/i.test(error.message)) {
          reject(new MachineUnreachableError(`The SSH host key of ${host} was not accepted`));
        } else {
          reject(new MachineUnreachableError(`Could not connect to ${host}:${port} over SSH`));
        }
      };
      const cleanup = () => {
        this.client.off("ready", onReady);
        this.client.off("error", onError);
      };
      this.client.once("ready", onReady);
      this.client.once("error", onError);
      const config: ConnectConfig = {
        host,
        port,
        username,
        readyTimeout: connectTimeoutMs,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
      };
      // The key goes first when there is one; the password stays a fallback.
      const methods: Array<PasswordAuthMethod | PublicKeyAuthMethod> = [];
      if (privateKey) methods.push({ type: "publickey", username, key: privateKey });
      if (password) methods.push({ type: "password", username, password });
      config.authHandler = methods;
      if (hostVerifier) config.hostVerifier = hostVerifier;
      this.client.connect(config);
    });
  }

  /** Runs a command to its end and hands back its whole (bounded) output. */
  async exec(command: string, options: ExecOptions): Promise<CommandResult> {
    const onStderr = options.onLog && ((chunk: string) => options.onLog?.(chunk, "stderr"));
    const stream = streamChannel(await this.openChannel(command), this.options.host, { stdin: options.stdin, timeoutMs: Infinity, onStderr }, () => this.closed);
    return collectOutput(command, stream, options);
  }

  /** A raw channel for a long conversation with one remote process (e.g. a psql session). */
  async openChannel(command: string): Promise<ClientChannel> {
    // sshd frees a closed channel's slot only after the close handshake, so under heavy churn
    // an open can be refused for a moment although the connection is fine: retry, bounded.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.tryOpenChannel(command);
      } catch (error) {
        if (this.closed || attempt >= CHANNEL_OPEN_RETRIES) throw error;
        await Bun.sleep(CHANNEL_OPEN_RETRY_MS * (attempt + 1));
      }
    }
  }

  private tryOpenChannel(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new SshChannelUnavailableError(`The SSH connection to ${this.options.host} is closed`));
        return;
      }
      this.client.exec(command, (error, channel) => {
        if (error) {
          reject(new SshChannelUnavailableError(`Could not open an SSH channel to ${this.options.host}`));
          return;
        }
        this.started++;
        resolve(channel);
      });
    });
  }

  /**
   * A TCP connection from the machine itself to `127.0.0.1:<port>` there (ssh `direct-tcpip`),
   * e.g. to the machine's local PostgreSQL: no port has to be open to the outside, and the
   * bytes travel inside the authenticated, host-key-pinned SSH connection.
   */
  forwardToLocalPort(port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new SshChannelUnavailableError(`The SSH connection to ${this.options.host} is closed`));
        return;
      }
      this.client.forwardOut("127.0.0.1", 0, "127.0.0.1", port, (error, channel) => {
        if (error) {
          reject(new MachineUnreachableError(`${this.options.host} refused a forwarded connection to its port ${port} (is TCP forwarding allowed in sshd, and is the server listening?)`));
          return;
        }
        resolve(channel);
      });
    });
  }

  /**
   * Starts a command whose stdout is consumed as it arrives (large outputs in bounded memory).
   * Resolves once the channel is open; see StreamedCommand for the rest.
   */
  async execStream(command: string, options: ExecStreamOptions): Promise<StreamedCommand> {
    return streamChannel(await this.openChannel(command), this.options.host, options, () => this.closed);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
  }
}
