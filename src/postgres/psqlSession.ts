import { randomUUID } from "node:crypto";
import type { ClientChannel } from "ssh2";
import { RemoteTimeoutError } from "../errors/appErrors";
import type { SSHClient } from "../ssh/SSHClient";
import { psqlAsDatabaseOwnerCommand } from "./remoteScripts";

/** Keep a session only for a burst of requests, so it never stands in the way of a DROP DATABASE. */
export const PSQL_SESSION_IDLE_MS = 5_000;

/**
 * One psql process (in one database, as its owner: psqlAsDatabaseOwnerCommand) kept open on a
 * pooled SSH connection and fed script after script through stdin. Starting psql and a server backend
 * costs far more than a catalog query, so repeated reads (the portal's tables list) skip it.
 * A session serves one script at a time; any failure closes it, and callers fall back to a
 * one-shot psql.
 */
class PsqlSession {
  private buffer = "";
  private waiting: { marker: string; resolve: (output: string) => void; reject: (error: Error) => void } | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private open = true;

  constructor(
    private readonly channel: ClientChannel,
    readonly dbName: string,
    private readonly onClosed: () => void,
  ) {
    channel.setEncoding("utf8");
    channel.on("data", (chunk: string) => this.onData(chunk));
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
        this.close();
        reject(new RemoteTimeoutError(`A remote command did not finish within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.waiting = {
        marker,
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
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    const waiting = this.waiting;
    if (!waiting) return;
    const end = this.buffer.indexOf(`${waiting.marker}\n`);
    if (end === -1 || (end > 0 && this.buffer[end - 1] !== "\n")) return;
    const output = this.buffer.slice(0, end);
    this.buffer = this.buffer.slice(end + waiting.marker.length + 1);
    this.waiting = undefined;
    waiting.resolve(output);
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
    if (error instanceof RemoteTimeoutError) throw error;
    return undefined;
  }
}
