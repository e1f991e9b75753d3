import { closeSync, existsSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../config/env";

/**
 * PGlite assumes it is the only process using its data directory. Two processes that open the
 * same directory at once (a second `npm start`, or `machine:add` run while the service is still
 * creating the database) both run initdb and the migrations over the same files, and one of
 * them fails inside PGlite at the first migration (a WASM `RuntimeError` such as `Aborted()` or
 * "Unreachable code should not be executed", or a duplicate `drizzle` schema) or corrupts the
 * database. Every opener therefore holds this lock first.
 *
 * The lock is a file naming its holder by pid and start time, so a lock left by a process that
 * died is recognised as stale (also after the pid has been reused) and taken over.
 */
const LOCK_FILE = "pglite.lock";

/** Who holds the data directory: the service for its lifetime, a command-line tool briefly. */
export type DataDirUser = "service" | "tool";

export class DataDirInUseError extends ConfigError {
  constructor(
    dataDir: string,
    readonly holderPid: number,
    readonly holder: DataDirUser,
  ) {
    super("DATA_DIR", `${dataDir} is in use by another process (pid ${holderPid}); stop it first or use another DATA_DIR`);
  }
}

export interface DataDirLock {
  release(): void;
}

interface Holder {
  pid: number;
  /** Field 22 of /proc/PID/stat where there is a /proc; empty elsewhere. */
  startTime: string;
  user: DataDirUser;
}

function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}

function isAlive(holder: Holder): boolean {
  if (holder.pid <= 0) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: alive, but someone else's.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return holder.startTime === "" || !existsSync("/proc/self/stat") || processStartTime(holder.pid) === holder.startTime;
}

const describe = (holder: Holder) => `${holder.pid} ${holder.startTime || "-"} ${holder.user}\n`;

function readHolder(file: string): Holder | undefined {
  try {
    const [pid = "", startTime = "-", user] = readFileSync(file, "utf8").trim().split(" ");
    return { pid: /^\d+$/.test(pid) ? Number(pid) : 0, startTime: startTime === "-" ? "" : startTime, user: user === "tool" ? "tool" : "service" };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Creates the lock with its content in one step (a hard link fails if the lock exists). */
function tryCreate(file: string, me: Holder): boolean {
  const draft = `${file}.new-${process.pid}`;
  const fd = openSync(draft, "w", 0o600);
  try {
    writeSync(fd, describe(me));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(draft, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    unlinkSync(draft);
  }
}

/**
 * Moves a stale lock aside. Renaming is atomic, so of two processes taking over the same stale
 * lock only one moves it; one that moved a lock just re-created by the other puts it back.
 */
function removeStale(file: string, stale: Holder): void {
  const aside = `${file}.stale-${process.pid}`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const moved = readHolder(aside);
  if (moved && describe(moved) !== describe(stale)) {
    try {
      linkSync(aside, file);
    } catch {
      // Someone holds a newer lock already; theirs stays.
    }
  }
  unlinkSync(aside);
}

/** Takes the data directory for this process, or throws `DataDirInUseError` naming the live holder. */
export function lockDataDir(dataDir: string, user: DataDirUser): DataDirLock {
  const file = join(dataDir, LOCK_FILE);
  const me: Holder = { pid: process.pid, startTime: processStartTime(process.pid), user };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(file, me)) {
      const release = () => {
        const holder = readHolder(file);
        if (holder && describe(holder) === describe(me)) unlinkSync(file);
        process.off("exit", release);
      };
      // A crash leaves a stale lock, which the next start takes over; a normal exit leaves none.
      process.on("exit", release);
      return { release };
    }
    const holder = readHolder(file);
    if (holder === undefined) continue;
    if (isAlive(holder)) throw new DataDirInUseError(dataDir, holder.pid, holder.user);
    removeStale(file, holder);
  }
  throw new ConfigError("DATA_DIR", `could not take the lock ${file}; is another process starting on ${dataDir}?`);
}
