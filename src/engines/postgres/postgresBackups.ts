import { NotFoundError, RemoteStepError } from "../../errors/appErrors";
import { fileTimestamp, type BackupEngine, type DumpedFile } from "../backupEngine";
import { readMarkers } from "../scriptOutput";
import { bashScriptCommand } from "../shell";
import { postgresBackupDir, postgresDumpScript, postgresRestoreScript, readBackupScript, removeBackupScript } from "./remoteScripts";
import type { SSHClient } from "../../ssh/SSHClient";

/** The last line PostgreSQL's tools printed: a reason a user can act on, never a secret (none travels there). */
function lastLine(stderr: string): string {
  const lines = stderr.trim().split("\n").filter(Boolean);
  return (lines.at(-1) ?? "").slice(0, 300);
}

/** PostgreSQL backups: pg_dump -Fc as the machine's postgres superuser, restore as the database's role. */
export function postgresBackupEngine(sshUser: string): BackupEngine {
  const script = bashScriptCommand(sshUser);
  return {
    engine: "postgres",
    plan(dbName, at) {
      const fileName = `${dbName}-${fileTimestamp(at)}.dump`;
      return { fileName, path: `${postgresBackupDir(dbName)}/${fileName}` };
    },
    async dump(ssh, dbName, path, timeoutMs): Promise<DumpedFile> {
      const result = await ssh.exec(script, { stdin: postgresDumpScript(dbName, path), timeoutMs });
      const markers = readMarkers(result.stdout);
      if (markers.missing) throw new NotFoundError(`Database ${dbName} was not found on the machine`);
      const sizeBytes = Number(markers.result.get("size"));
      const sha256 = markers.result.get("sha256") ?? "";
      if (result.exitCode !== 0 || !Number.isSafeInteger(sizeBytes) || !/^[0-9a-f]{64}$/.test(sha256)) {
        const detail = lastLine(result.stderr);
        throw new RemoteStepError("backup", `Backup failed: ${markers.failure ?? "the dump did not complete"}${detail ? ` (${detail})` : ""}`);
      }
      return { sizeBytes, sha256 };
    },
    async restore(ssh, spec, timeoutMs) {
      const result = await ssh.exec(script, { stdin: postgresRestoreScript(spec), timeoutMs });
      const markers = readMarkers(result.stdout);
      if (markers.refused) throw new RemoteStepError("restore", `Database ${spec.dbName} already exists on the machine; choose another name`);
      if (result.exitCode !== 0 || markers.result.get("restored") !== "1") {
        const detail = lastLine(result.stderr);
        throw new RemoteStepError("restore", `Restore failed: ${markers.failure ?? "unknown error"}${detail ? ` (${detail})` : ""}`);
      }
    },
    async remove(ssh, path, timeoutMs) {
      const result = await ssh.exec(script, { stdin: removeBackupScript(path), timeoutMs });
      if (result.exitCode !== 0) throw new RemoteStepError("remove-backup", "Could not remove the backup file on the machine");
    },
    read(ssh: SSHClient, path: string, sha256: string, idleTimeoutMs: number) {
      return ssh.execStream(script, { stdin: readBackupScript(path, sha256), timeoutMs: idleTimeoutMs });
    },
  };
}
