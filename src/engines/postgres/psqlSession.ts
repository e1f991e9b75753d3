import { randomUUID } from "node:crypto";
import type { ClientChannel } from "ssh2";
import { RemoteOutputTooLargeError, RemoteTimeoutError } from "../../errors/appErrors";
import type { SSHClient } from "../../ssh/SSHClient";
import { MarkerLineScanner, type MarkerSplit } from "./markerLineScanner";
import { psqlAsDatabaseOwnerCommand } from "./remoteScripts";

/** Keep a session only for a burst of requests, so it never stands in the way of a DROP DATABASE. */
export const PSQL_SESSION_IDLE_MS = 5_000;
/** One script's answer (a tables list: about 130,000 names) never comes near this. */
export const PSQL_SESSION_OUTPUT_MAX_BYTES = 8 * 1024 * 1024;

/**
 * One psql process (in one database, as its owner: psqlAsDatabaseOwnerCommand) kept open on a
 * pooled SSH connection and fed script after script through stdin. Starting psql and a server backend
 * costs far more than a catalog query, so repeated reads (the portal's tables list) skip it.
 * A session serves one script at a time; any failure closes it, and callers fall back to a
 * one-shot psql.
 */
class PsqlSession {
  /** Output that arrived while no script was waiting (none, from an honest psql). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiting: { scanner: MarkerLineScanner; resolve: (output: string) => void; reject: (error: Error) => void } | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private open = true;

  constructor(
    private readonly channel: ClientChannel,
    readonly dbName: string,
    private readonly onClosed: () => void,
  ) {
    channel.on("data", (chunk: Buffer) => this.onData(chunk));
    channel.stderr.resume();
    channel.on("close", () => this.close());
    channel.on("error", () => this.close());
  }

  get usable(): boolean {
    return this.open && this.waiting === undefined;
  }

  run(script: string, timeoutMs: number): Promise<string> {
    clearTimeout(this.idleTimer);
    const marker = `@@END ${randomUUID()}`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Rejected as a timeout before close() ends the session, so the caller does not retry
        // the same slow machine the one-shot way.
        this.waiting = undefined;
        reject(new RemoteTimeoutError(`A remote command did not finish within ${Math.round(timeoutMs / 1000)} s`));
        this.close();
      }, timeoutMs);
      this.waiting = {
        scanner: new MarkerLineScanner(marker, PSQL_SESSION_OUTPUT_MAX_BYTES),
        resolve: (output) => {
          clearTimeout(timer);
          this.idleTimer = setTimeout(() => this.close(), PSQL_SESSION_IDLE_MS);
          this.idleTimer.unref?.();
          resolve(output);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.channel.write(`${script}\n\\echo ${marker}\n`);
      if (this.pendingBytes > 0) {
        const earlier = Buffer.concat(this.pending, this.pendingBytes);
        this.pending = [];
        this.pendingBytes = 0;
        this.onData(earlier);
      }
    });
  }

  private onData(chunk: Buffer): void {
    const waiting = this.waiting;
    if (!waiting) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > PSQL_SESSION_OUTPUT_MAX_BYTES) this.close();
      return;
    }
    let split: MarkerSplit | undefined;
    try {
      split = waiting.scanner.push(chunk);
    } catch (error) {
      // Past the limit: answer now and hang up on psql rather than read the rest.
      this.waiting = undefined;
      waiting.reject(error instanceof Error ? error : new RemoteOutputTooLargeError());
      this.close();
      return;
    }
    if (!split) return;
    this.waiting = undefined;
    this.pending = split.after.length > 0 ? [split.after] : [];
    this.pendingBytes = split.after.length;
    waiting.resolve(split.before.toString("utf8"));
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    clearTimeout(this.idleTimer);
    this.waiting?.reject(new Error("the psql session ended"));
    this.waiting = undefined;
    this.channel.close();
    this.onClosed();
  }
}

/** At most one kept session per connection: its channel counts against sshd's MaxSessions. */
const sessions = new WeakMap<SSHClient, PsqlSession | "opening">();

/**
 * Runs a script (no `\quit`; ON_ERROR_STOP ends the session on an error) in the connection's
 * kept psql session for `dbName`, opening one if there is none. Returns undefined when no
 * session could serve it (busy or being opened, psql could not connect or failed): the caller
 * then runs the script the one-shot way, which also reports why.
 */
export async function runInPsqlSession(ssh: SSHClient, dbName: string, script: string, timeoutMs: number): Promise<string | undefined> {
  let session = sessions.get(ssh);
  if (session === "opening" || (session && !session.usable)) return undefined;
  if (session && session.dbName !== dbName) {
    session.close();
    session = undefined;
  }
  if (!session) {
    sessions.set(ssh, "opening");
    let channel: ClientChannel;
    try {
      channel = await ssh.openChannel(psqlAsDatabaseOwnerCommand(dbName));
    } catch {
      sessions.delete(ssh);
      return undefined;
    }
    const opened: PsqlSession = new PsqlSession(channel, dbName, () => {
      if (sessions.get(ssh) === opened) sessions.delete(ssh);
    });
    sessions.set(ssh, opened);
    session = opened;
  }
  try {
    return await session.run(script, timeoutMs);
  } catch (error) {
    // A machine that is slow or floods us would do the same to a one-shot psql.
    if (error instanceof RemoteTimeoutError || error instanceof RemoteOutputTooLargeError) throw error;
    return undefined;
  }
}
