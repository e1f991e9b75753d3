import { StringDecoder } from "node:string_decoder";
import { RemoteOutputTooLargeError, RemoteTimeoutError } from "../errors/appErrors";
import type { StreamedCommand } from "./streamedCommand";

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

/**
 * Our scripts print markers and short answers, so a buffered command's stdout is small; a
 * caller expecting more (a tables list) says so. The machine is the tenant's, so its output
 * is never trusted to be small.
 */
export const STDOUT_MAX_BYTES = 1024 * 1024;

/**
 * Reads a streamed command to its end under a whole-run timer (which progress may extend, up to
 * the deadline) and an output cap: the buffered form of a remote command. Exit status, stderr
 * and lost connections are the streamed command's business.
 */
export async function collectOutput(command: string, stream: StreamedCommand, options: ExecOptions): Promise<CommandResult> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  // Chunks can end inside a character: decoded as a stream for live readers, once at the end for the result.
  const live = options.onStdout || options.onLog ? new StringDecoder("utf8") : undefined;
  const maxBytes = options.maxStdoutBytes ?? STDOUT_MAX_BYTES;
  const deadline = options.deadlineMs === undefined ? Infinity : Date.now() + options.deadlineMs;
  let stopped: Error | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onStopped: (error: Error) => void = () => undefined;
  const whenStopped = new Promise<never>((_, reject) => {
    onStopped = reject;
  });
  whenStopped.catch(() => undefined);

  const stop = (error: Error) => {
    if (stopped) return;
    stopped = error;
    clearTimeout(timer);
    onStopped(error);
    // Closing the channel makes sshd hang up on the remote process.
    stream.abort();
  };
  const armTimer = (ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    const budget = Math.min(ms, deadline - Date.now());
    const limitMs = budget < ms ? options.deadlineMs ?? ms : ms;
    timer = setTimeout(() => stop(new RemoteTimeoutError(`A remote command did not finish within ${Math.round(limitMs / 1000)} s`)), Math.max(budget, 0));
  };
  const control: CommandControl = { extendTimeout: armTimer };
  armTimer(options.timeoutMs);

  try {
    for await (const chunk of stream.stdout) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        stop(new RemoteOutputTooLargeError());
        break;
      }
      chunks.push(chunk);
      if (!live) continue;
      const text = live.write(chunk);
      options.onLog?.(text, "stdout");
      options.onStdout?.(text, control);
    }
    if (stopped) throw stopped;
    const { exitCode, stderr } = await Promise.race([stream.result, whenStopped]);
    return { command, stdout: Buffer.concat(chunks, bytes).toString("utf8"), stderr, exitCode };
  } catch (error) {
    throw stopped ?? error;
  } finally {
    clearTimeout(timer);
  }
}
