import { StringDecoder } from "node:string_decoder";
import { Client, type ClientChannel, type PasswordAuthMethod, type PublicKeyAuthMethod, type ConnectConfig } from "ssh2";
import {
  MachineUnreachableError,
  RemoteOutputTooLargeError,
  RemoteStepError,
  RemoteTimeoutError,
  SshChannelUnavailableError,
} from "../errors/appErrors";
import { streamChannel, type ExecStreamOptions, type StreamedCommand } from "./streamedCommand";

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

export interface CommandResult {
  command: string;
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface CommandControl {
  /**
   * Restart the command's timer with a new budget (e.g. when a long install begins); never
   * past the command's `deadlineMs`.
   */
  extendTimeout(ms: number): void;
}

export interface ExecOptions {
  /** Fed to the command's stdin, then stdin is closed. The only way secrets travel. */
  stdin?: string;
  timeoutMs: number;
  /**
   * A hard bound on the command's whole run, which `extendTimeout` cannot move: the machine
   * decides when it prints progress, so progress alone must not keep a command alive for ever.
   */
  deadlineMs?: number;
  /** Past this many bytes of stdout the command is stopped (RemoteOutputTooLargeError). */
  maxStdoutBytes?: number;
  /** Live output, for progress logs. */
  onLog?: (chunk: string, stream: "stdout" | "stderr") => void;
  onStdout?: (chunk: string, control: CommandControl) => void;
}

const STDERR_LIMIT = 64 * 1024;
/**
 * Our scripts print markers and short answers, so a buffered command's stdout is small; a
 * caller expecting more (a tables list) says so. The machine is the tenant's, so its output
 * is never trusted to be small.
 */
export const STDOUT_MAX_BYTES = 1024 * 1024;
const CHANNEL_OPEN_RETRIES = 5;
const EXIT_STATUS_GRACE_MS = 2_000;
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

  async exec(command: string, options: ExecOptions): Promise<CommandResult> {
    return this.collect(command, await this.openChannel(command), options);
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
    return streamChannel(await this.openChannel(command), this.options.host, options);
  }

  private collect(command: string, channel: ClientChannel, options: ExecOptions): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const stdout: Buffer[] = [];
      let stdoutBytes = 0;
      // Chunks can end inside a character: decoded as a stream for live readers, once at the end for the result.
      const live = options.onStdout || options.onLog ? new StringDecoder("utf8") : undefined;
      let stderr = "";
      let exitCode: number | null = null;
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = options.deadlineMs === undefined ? Infinity : Date.now() + options.deadlineMs;
      const maxStdout = options.maxStdoutBytes ?? STDOUT_MAX_BYTES;

      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
      };
      const stop = (error: Error) => {
        settle(() => reject(error));
        // Closing the channel makes sshd hang up on the remote process.
        channel.close();
      };
      const armTimer = (ms: number) => {
        if (settled) return;
        clearTimeout(timer);
        const budget = Math.min(ms, deadline - Date.now());
        const limitMs = budget < ms ? options.deadlineMs ?? ms : ms;
        timer = setTimeout(() => stop(new RemoteTimeoutError(`A remote command did not finish within ${Math.round(limitMs / 1000)} s`)), Math.max(budget, 0));
      };
      const control: CommandControl = { extendTimeout: armTimer };
      armTimer(options.timeoutMs);

      channel.stderr.setEncoding("utf8");
      channel.on("data", (chunk: Buffer) => {
        if (settled) return;
        stdoutBytes += chunk.length;
        if (stdoutBytes > maxStdout) {
          stop(new RemoteOutputTooLargeError());
          return;
        }
        stdout.push(chunk);
        if (!live) return;
        const text = live.write(chunk);
        options.onLog?.(text, "stdout");
        options.onStdout?.(text, control);
      });
      channel.stderr.on("data", (chunk: string) => {
        stderr += chunk;
        if (stderr.length > STDERR_LIMIT) stderr = stderr.slice(-STDERR_LIMIT);
        options.onLog?.(chunk, "stderr");
      });
      let streamClosed = false;
      const finish = () =>
        settle(() => {
          if (exitCode === null) {
            reject(new MachineUnreachableError(`The connection to ${this.options.host} was lost during a remote command`));
          } else {
            resolve({ command, stdout: Buffer.concat(stdout, stdoutBytes).toString("utf8"), stderr, exitCode });
          }
        });
      channel.on("exit", (code: number | null) => {
        // A command killed by a signal has no exit code; report it as a failure, not a lost link.
        exitCode = code ?? 255;
        if (streamClosed) finish();
      });
      channel.on("error", () => {
        settle(() => reject(new MachineUnreachableError(`The SSH channel to ${this.options.host} failed`)));
      });
      channel.on("close", () => {
        streamClosed = true;
        if (exitCode !== null) {
          finish();
          return;
        }
        // The stream can close on the remote EOF, before the exit status (sent right after it)
        // has been read: wait for it briefly; only a connection that really went away loses it.
        clearTimeout(timer);
        timer = setTimeout(finish, this.closed ? 0 : EXIT_STATUS_GRACE_MS);
      });
      channel.end(options.stdin ?? "");
    });
  }

  /** Runs commands one after another, stopping at the first non-zero exit. */
  async runSequential(commands: string[], options: ExecOptions): Promise<CommandResult[]> {
    const results: CommandResult[] = [];
    for (const command of commands) {
      const result = await this.exec(command, options);
      results.push(result);
      if (result.exitCode !== 0) {
        throw new RemoteStepError(command, `A remote command failed with exit code ${result.exitCode}`);
      }
    }
    return results;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
  }
}
