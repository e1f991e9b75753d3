import { NotFoundError, RemoteStepError } from "../errors/appErrors";
import { fileTimestamp, type BackupEngine, type DumpedFile } from "./backupEngine";
import { readMarkers } from "./scriptOutput";
import { bashScriptCommand } from "./shell";

/** The remote scripts one engine's backups consist of (each run as root, fed through stdin). */
export interface BackupScripts {
  engine: string;
  /** e.g. `.dump`, `.sql.gz` */
  fileExtension: string;
  directoryOf(dbName: string): string;
  /** Prints `@@RESULT size=` and `@@RESULT sha256=`, or `@@MISSING` for an unknown database. */
  dump(dbName: string, path: string): string;
  /** Prints `@@RESULT restored=1`, or `@@REFUSED` when the new database's name is taken. */
  restore(spec: Parameters<BackupEngine["restore"]>[1]): string;
  remove(path: string): string;
  /** Writes the file's bytes, only if it still has that SHA-256. */
  read(path: string, sha256: string): string;
}

/** The last line the dump or restore tool printed: a reason a user can act on, never a secret (none travels there). */
function lastLine(stderr: string): string {
  return (stderr.trim().split("\n").filter(Boolean).at(-1) ?? "").slice(0, 300);
}

const withDetail = (text: string, stderr: string) => {
  const detail = lastLine(stderr);
  return detail ? `${text} (${detail})` : text;
};

/** A BackupEngine from an engine's scripts: how their markers are read is the same for all. */
export function scriptedBackupEngine(scripts: BackupScripts, sshUser: string): BackupEngine {
  const command = bashScriptCommand(sshUser);
  return {
    engine: scripts.engine,
    plan(dbName, at) {
      const fileName = `${dbName}-${fileTimestamp(at)}${scripts.fileExtension}`;
      return { fileName, path: `${scripts.directoryOf(dbName)}/${fileName}` };
    },
    async dump(ssh, dbName, path, timeoutMs): Promise<DumpedFile> {
      const result = await ssh.exec(command, { stdin: scripts.dump(dbName, path), timeoutMs });
      const markers = readMarkers(result.stdout);
      if (markers.missing) throw new NotFoundError(`Database ${dbName} was not found on the machine`);
      const sizeBytes = Number(markers.result.get("size"));
      const sha256 = markers.result.get("sha256") ?? "";
      if (result.exitCode !== 0 || !Number.isSafeInteger(sizeBytes) || !/^[0-9a-f]{64}$/.test(sha256)) {
        throw new RemoteStepError("backup", withDetail(`Backup failed: ${markers.failure ?? "the dump did not complete"}`, result.stderr));
      }
      return { sizeBytes, sha256 };
    },
    async restore(ssh, spec, timeoutMs) {
      const result = await ssh.exec(command, { stdin: scripts.restore(spec), timeoutMs });
      const markers = readMarkers(result.stdout);
      if (markers.refused) throw new RemoteStepError("restore", `Database ${spec.dbName} already exists on the machine; choose another name`);
      if (result.exitCode !== 0 || markers.result.get("restored") !== "1") {
        throw new RemoteStepError("restore", withDetail(`Restore failed: ${markers.failure ?? "unknown error"}`, result.stderr));
      }
    },
    async remove(ssh, path, timeoutMs) {
      const result = await ssh.exec(command, { stdin: scripts.remove(path), timeoutMs });
      if (result.exitCode !== 0) throw new RemoteStepError("remove-backup", "Could not remove the backup file on the machine");
    },
    read(ssh, path, sha256, idleTimeoutMs) {
      return ssh.execStream(command, { stdin: scripts.read(path, sha256), timeoutMs: idleTimeoutMs });
    },
  };
}
