import type { SSHClient } from "../ssh/SSHClient";
import type { StreamedCommand } from "../ssh/streamedCommand";

/** What a dump produced on the machine. */
export interface DumpedFile {
  sizeBytes: number;
  sha256: string;
}

/**
 * One engine's backups on a machine (PostgreSQL today; a MySQL dumper implements the same).
 * The store, retention, download and routes are engine-independent; files live under
 * `/var/backups/zyotra/<engine>/<db>/`. Implementations know nothing of HTTP.
 */
export interface BackupEngine {
  readonly engine: string;
  /** The file path a new backup of `dbName` taken at `at` gets, and its name. */
  plan(dbName: string, at: Date): { fileName: string; path: string };
  /** Dumps exactly that database into `path` (temporary name, renamed on success). */
  dump(ssh: SSHClient, dbName: string, path: string, timeoutMs: number): Promise<DumpedFile>;
  /** Restores into a NEW database owned by `roleName`; `deployId` tags it like a deploy. */
  restore(ssh: SSHClient, spec: { path: string; sha256: string; dbName: string; roleName: string; deployId: number }, timeoutMs: number): Promise<void>;
  /** Removes the file and any temporary twin. */
  remove(ssh: SSHClient, path: string, timeoutMs: number): Promise<void>;
  /** The file's bytes as a stream, only if it still has its recorded SHA-256 (else no byte and a non-zero exit). */
  read(ssh: SSHClient, path: string, sha256: string, idleTimeoutMs: number): Promise<StreamedCommand>;
}

/** `20261124T020512.123Z`: sortable, unique to the millisecond, safe in a file name. */
export function fileTimestamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, "");
}

export function humanSize(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}
