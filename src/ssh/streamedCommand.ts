import type { ClientChannel } from "ssh2";
import { MachineUnreachableError, RemoteTimeoutError } from "../errors/appErrors";

/** How long a closed channel may wait for its exit status before the link counts as lost. */
const EXIT_STATUS_GRACE_MS = 2_000;

export interface ExecStreamOptions {
  /** Fed to the command's stdin, then stdin is closed. */
  stdin?: string;
  /**
   * Idle limit: while the consumer is waiting for output, the command must produce some
   * (or finish) within this time. A slow consumer never trips it. `Infinity` leaves the
   * timing to the consumer (the buffered exec keeps a whole-run timer of its own).
   */
  timeoutMs: number;
  /** Live stderr, for progress logs. */
  onStderr?: (chunk: string) => void;
}

export interface StreamedCommandResult {
  exitCode: number;
  /** The last 64 KiB of stderr. */
  stderr: string;
}

export interface StreamedCommand {
  /** stdout as raw bytes, chunk by chunk. Iterate it once; breaking out aborts the command. */
  readonly stdout: AsyncIterable<Buffer>;
  /**
   * Settles when the channel closes. Rejects on a timeout, a lost connection, or an abort
   * before the command exited.
   */
  readonly result: Promise<StreamedCommandResult>;
  /** Stops the remote command by closing its channel; a pending read ends. */
  abort(): void;
}

const STDERR_LIMIT = 64 * 1024;
/**
 * Above this many queued bytes the channel is paused. ssh2 then stops granting SSH
 * window once its own 2 MiB buffer fills, so the remote writer blocks: memory stays bounded
 * by roughly these buffers, whatever the size of the output.
 */
const PAUSE_ABOVE = 1024 * 1024;
const RESUME_BELOW = 256 * 1024;
const TAKE_MAX = 256 * 1024;

interface Waiter {
  resolve(result: IteratorResult<Buffer>): void;
  reject(error: Error): void;
}

/** Wraps an open exec channel as a pull-based stream with backpressure and an idle timeout. */
export function streamChannel(channel: ClientChannel, host: string, options: ExecStreamOptions, connectionClosed: () => boolean = () => false): StreamedCommand {
  const queue: Buffer[] = [];
  let queued = 0;
  let paused = false;
  let stdoutEnded = false;
  let failure: Error | undefined;
  let waiter: Waiter | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let exitCode: number | null = null;
  let stderr = "";
  let aborted = false;
  let settleResult: (outcome: StreamedCommandResult | Error) => void = () => undefined;

  const result = new Promise<StreamedCommandResult>((resolve, reject) => {
    let settled = false;
    settleResult = (outcome) => {
      if (settled) return;
      settled = true;
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
  });
  // Callers that only iterate stdout must not leave an unhandled rejection behind.
  result.catch(() => undefined);

  const wake = () => {
    clearTimeout(timer);
    timer = undefined;
    const current = waiter;
    if (!current) return;
    waiter = undefined;
    if (queue.length > 0) current.resolve({ value: take(), done: false });
    else if (failure) current.reject(failure);
    else if (stdoutEnded) current.resolve({ value: undefined, done: true });
    else waiter = current;
  };

  // Hands over everything already queued (up to TAKE_MAX) as one chunk: sshd sends small
  // packets, and a consumer that fell behind catches up in fewer, larger steps.
  const take = (): Buffer => {
    let chunk = queue.shift() ?? Buffer.alloc(0);
    if (queue.length > 0 && chunk.length < TAKE_MAX) {
      const parts = [chunk];
      let size = chunk.length;
      while (queue.length > 0 && size + (queue[0] as Buffer).length <= TAKE_MAX) {
        const next = queue.shift() as Buffer;
        parts.push(next);
        size += next.length;
      }
      if (parts.length > 1) chunk = Buffer.concat(parts, size);
    }
    queued -= chunk.length;
    if (paused && queued < RESUME_BELOW) {
      paused = false;
      channel.resume();
    }
    return chunk;
  };

  const fail = (error: Error) => {
    if (!failure) failure = error;
    settleResult(error);
    wake();
  };

  const armIdleTimer = () => {
    clearTimeout(timer);
    if (!Number.isFinite(options.timeoutMs)) return;
    timer = setTimeout(() => {
      fail(new RemoteTimeoutError(`A remote command produced no output for ${Math.round(options.timeoutMs / 1000)} s`));
      channel.close();
    }, options.timeoutMs);
  };

  channel.stderr.setEncoding("utf8");
  channel.on("data", (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (!paused && queued > PAUSE_ABOVE) {
      paused = true;
      channel.pause();
    }
    wake();
  });
  // stderr must always flow: an unread stderr would stall the whole channel's window.
  channel.stderr.on("data", (chunk: string) => {
    stderr += chunk;
    if (stderr.length > STDERR_LIMIT) stderr = stderr.slice(-STDERR_LIMIT);
    options.onStderr?.(chunk);
  });
  channel.on("end", () => {
    stdoutEnded = true;
    wake();
  });
  let channelClosed = false;
  const finish = () => {
    if (exitCode !== null && !aborted) settleResult({ exitCode, stderr });
    else if (aborted) fail(new MachineUnreachableError(`The remote command on ${host} was stopped`));
    else fail(new MachineUnreachableError(`The connection to ${host} was lost during a remote command`));
    wake();
  };
  channel.on("exit", (code: number | null) => {
    // Killed by a signal: a failure of the command, not a lost connection.
    exitCode = code ?? 255;
    if (channelClosed) finish();
  });
  channel.on("error", () => fail(new MachineUnreachableError(`The SSH channel to ${host} failed`)));
  channel.on("close", () => {
    stdoutEnded = true;
    channelClosed = true;
    clearTimeout(timer);
    // The stream can close on the remote EOF before the exit status (sent right after) is read:
    // wait for it briefly; only a connection that really went away loses it.
    if (exitCode === null && !aborted && !connectionClosed()) setTimeout(finish, EXIT_STATUS_GRACE_MS);
    else finish();
  });
  channel.end(options.stdin ?? "");

  const abort = () => {
    if (aborted) return;
    aborted = true;
    queue.length = 0;
    queued = 0;
    stdoutEnded = true;
    clearTimeout(timer);
    wake();
    // sshd forwards the signal where it allows it; closing the channel hangs up on the command anyway.
    try {
      channel.signal("TERM");
    } catch {
      // the channel may already be gone
    }
    channel.close();
  };

  const stdout: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        new Promise<IteratorResult<Buffer>>((resolve, reject) => {
          if (waiter) {
            reject(new Error("streamed command output is read by one consumer at a time"));
            return;
          }
          waiter = { resolve, reject };
          wake();
          if (waiter) armIdleTimer();
        }),
      return: async () => {
        abort();
        return { value: undefined, done: true };
      },
    }),
  };

  return { stdout, result, abort };
}
