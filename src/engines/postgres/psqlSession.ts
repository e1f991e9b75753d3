import { randomUUID } from "node:crypto";
import { MachineUnreachableError, RemoteTimeoutError } from "../../errors/appErrors";
import type { SSHClient, RemoteChannel } from "../../ssh/SSHClient";
import type { StreamedCommand, StreamedCommandResult } from "../../ssh/streamedCommand";
import { EndMarkerScanner } from "./endMarkerScanner";
import { psqlAsDatabaseOwnerCommand } from "./remoteScripts";

/**
 * Keep a reader only for a burst of browsing: it holds a backend in the database, which a
 * delete terminates anyway, but which would make a user's own `DROP DATABASE` wait.
 */
export const PSQL_SESSION_IDLE_MS = 10_000;
/** A reader is not reused past this age, however busy: the role it logged in as expires in minutes. */
export const PSQL_SESSION_MAX_AGE_MS = 60_000;
/** One buffered script's answer (a tables list: about 130,000 names) never comes near this. */
export const PSQL_SESSION_OUTPUT_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Between two scripts, everything a user's code could have left in the session (settings,
 * `SET ROLE`, temporary tables, prepared statements, listeners, advisory locks) goes: each
 * script starts like a fresh login as the reader, whose connection-start options (read-only
 * transactions, pinned search_path) are what RESET returns to.
 */
const RESET_SQL = "DISCARD ALL;\n";

/** How long a closed channel may wait for its exit status before the link counts as lost. */
const EXIT_STATUS_GRACE_MS = 2_000;

/** Above this many queued bytes the channel is paused (backpressure to the VPS, as in streamChannel). */
const PAUSE_ABOVE = 1024 * 1024;
const RESUME_BELOW = 256 * 1024;

/**
 * One reader psql (psqlAsDatabaseOwnerCommand: a throwaway member of the database's owner, never
 * postgres) kept open on a pooled SSH connection and fed script after script through stdin.
 * Creating the reader role, logging in and starting psql cost far more than a page of rows, so
 * repeated browsing of one database (tables list, pages, downloads) pays for it once.
 *
 * Each script's output is streamed until a random end marker (`\echo` after the script), which
 * no data can carry: it is drawn after the script was sent. A script that ends psql (`\quit`,
 * an error with ON_ERROR_STOP) ends the session; its output then ends with the channel and its
 * exit status is psql's, exactly as for a one-shot psql.
 */
class ReaderSession {
  private readonly openedAt = Date.now();
  private scripts = 0;
  private current: SessionRun | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private exitCode: number | null = null;
  private channelClosed = false;
  private closed = false;

  constructor(
    private readonly channel: RemoteChannel,
    readonly dbName: string,
    private readonly onClosed: () => void,
  ) {
    channel.on("data", (chunk: Buffer) => {
      if (this.current) this.current.push(chunk);
      // Output while no script runs is not from an honest psql.
      else this.close();
    });
    // stderr must always flow: an unread stderr would stall the whole channel's window.
    channel.stderr.resume();
    channel.on("exit", (code: number | null) => {
      this.exitCode = code ?? 255;
      if (this.channelClosed) this.ended();
    });
    channel.on("close", () => {
      this.channelClosed = true;
      // As in streamChannel: the close can be seen before the exit status sent just ahead of it.
      if (this.exitCode === null && this.current && !this.closed) setTimeout(() => this.ended(), EXIT_STATUS_GRACE_MS);
      else this.ended();
    });
    channel.on("error", () => this.ended());
  }

  /** Serving a script now (a page still streaming to its client). */
  get busy(): boolean {
    return !this.closed && this.current !== undefined;
  }

  reusableFor(dbName: string): boolean {
    return !this.closed && this.current === undefined && this.dbName === dbName && Date.now() - this.openedAt < PSQL_SESSION_MAX_AGE_MS;
  }

  run(script: string, timeoutMs: number): StreamedCommand {
    clearTimeout(this.idleTimer);
    const marker = `@@END ${randomUUID()}`;
    const run = new SessionRun(this.channel, new EndMarkerScanner(marker), timeoutMs, {
      done: () => {
        this.current = undefined;
        this.idleTimer = setTimeout(() => this.close(), PSQL_SESSION_IDLE_MS);
        this.idleTimer.unref?.();
      },
      abort: () => this.close({ stopScript: true }),
    });
    this.current = run;
    const reset = this.scripts++ > 0 ? RESET_SQL : "";
    this.channel.write(`${reset}${script}\n\\echo ${marker}\n`);
    return run.command;
  }

  close(options: { stopScript?: boolean } = {}): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    if (options.stopScript) {
      // As for a one-shot command (streamChannel): sshd passes the signal on where it allows it.
      try {
        this.channel.signal("TERM");
      } catch {
        // the channel may already be gone
      }
    }
    this.channel.close();
    this.onClosed();
  }

  /** The channel is gone: psql ended (a `\quit`, an error) or the connection was lost. */
  private ended(): void {
    const run = this.current;
    this.current = undefined;
    const exitCode = this.exitCode;
    this.close();
    run?.channelEnded(exitCode);
  }
}

interface RunHooks {
  /** The end marker arrived: the session can serve the next script. */
  done(): void;
  /** The consumer gave up or timed out: the session must go. */
  abort(): void;
}

/** One script's output in a ReaderSession, as a pull-based stream with backpressure and an idle timeout. */
class SessionRun {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private paused = false;
  private ended = false;
  private aborted = false;
  private completed = false;
  private failure: Error | undefined;
  private waiter: { resolve: (result: IteratorResult<Buffer>) => void; reject: (error: Error) => void } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private settle: (outcome: StreamedCommandResult | Error) => void = () => undefined;
  readonly command: StreamedCommand;

  constructor(
    private readonly channel: RemoteChannel,
    private readonly scanner: EndMarkerScanner,
    private readonly timeoutMs: number,
    private readonly hooks: RunHooks,
  ) {
    let settled = false;
    const result = new Promise<StreamedCommandResult>((resolve, reject) => {
      this.settle = (outcome) => {
        if (settled) return;
        settled = true;
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
    });
    result.catch(() => undefined);
    const stdout: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          new Promise<IteratorResult<Buffer>>((resolve, reject) => {
            if (this.waiter) {
              reject(new Error("streamed command output is read by one consumer at a time"));
              return;
            }
            this.waiter = { resolve, reject };
            this.wake();
            if (this.waiter) this.armTimer();
          }),
        return: async () => {
          this.abort();
          return { value: undefined, done: true };
        },
      }),
    };
    this.command = { stdout, result, abort: () => this.abort() };
  }

  push(chunk: Buffer): void {
    if (this.ended) return;
    const scanned = this.scanner.push(chunk);
    if (scanned.bytes.length > 0) {
      this.queue.push(scanned.bytes);
      this.queued += scanned.bytes.length;
      if (!this.paused && this.queued > PAUSE_ABOVE) {
        this.paused = true;
        this.channel.pause();
      }
    }
    if (scanned.found) {
      this.ended = true;
      this.completed = true;
      this.resume();
      this.settle({ exitCode: 0, stderr: "" });
      this.hooks.done();
    }
    this.wake();
  }

  channelEnded(exitCode: number | null): void {
    // A stopped script counts as gone only now, once the remote psql really is (see stopCommand).
    if (this.aborted) this.settle(this.failure ?? new MachineUnreachableError("The remote command was stopped"));
    if (this.ended) return;
    this.ended = true;
    const held = this.scanner.rest();
    if (held.length > 0) {
      this.queue.push(held);
      this.queued += held.length;
    }
    if (exitCode === null) this.fail(new MachineUnreachableError("The connection was lost during a remote command"));
    else this.settle({ exitCode, stderr: "" });
    this.wake();
  }

  private abort(): void {
    // A finished script's session may already serve the next one: nothing of it to stop.
    if (this.aborted || this.completed) return;
    this.aborted = true;
    this.ended = true;
    this.failure ??= new MachineUnreachableError("The remote command was stopped");
    this.queue.length = 0;
    this.queued = 0;
    this.wake();
    this.hooks.abort();
  }

  private fail(error: Error): void {
    this.ended = true;
    this.failure ??= error;
    this.settle(error);
    this.wake();
  }

  private resume(): void {
    if (this.paused && this.queued < RESUME_BELOW) {
      this.paused = false;
      this.channel.resume();
    }
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fail(new RemoteTimeoutError(`A remote command produced no output for ${Math.round(this.timeoutMs / 1000)} s`));
      this.hooks.abort();
    }, this.timeoutMs);
  }

  private wake(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const waiter = this.waiter;
    if (!waiter) return;
    this.waiter = undefined;
    if (this.queue.length > 0) {
      const chunk = this.queue.length === 1 ? (this.queue.shift() as Buffer) : Buffer.concat(this.queue.splice(0), this.queued);
      this.queued -= chunk.length;
      this.resume();
      waiter.resolve({ value: chunk, done: false });
    } else if (this.failure) waiter.reject(this.failure);
    else if (this.ended) waiter.resolve({ value: undefined, done: true });
    else this.waiter = waiter;
  }
}

/** At most one kept reader per connection: its channel counts against sshd's MaxSessions. */
const sessions = new WeakMap<SSHClient, ReaderSession | "opening">();

/**
 * Runs a browsing script (no `\quit` needed; ON_ERROR_STOP ends the session on an error) in the
 * connection's kept reader for `dbName`, opening one if there is none, and streams its output.
 * Returns undefined when the kept reader is busy or being opened, or no channel could be opened:
 * the caller then runs the script in a one-shot psql.
 */
export async function runInReaderSession(ssh: SSHClient, dbName: string, script: string, timeoutMs: number): Promise<StreamedCommand | undefined> {
  let session = sessions.get(ssh);
  if (session === "opening" || session?.busy) return undefined;
  if (session?.reusableFor(dbName)) return session.run(script, timeoutMs);
  // Another database's reader, or one too old: replaced, so a connection keeps one at most.
  session?.close();
  sessions.set(ssh, "opening");
  let channel: RemoteChannel;
  try {
    channel = await ssh.openChannel(psqlAsDatabaseOwnerCommand(dbName));
  } catch {
    sessions.delete(ssh);
    return undefined;
  }
  const opened: ReaderSession = new ReaderSession(channel, dbName, () => {
    if (sessions.get(ssh) === opened) sessions.delete(ssh);
  });
  sessions.set(ssh, opened);
  return opened.run(script, timeoutMs);
}
