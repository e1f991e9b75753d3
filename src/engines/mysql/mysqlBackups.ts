import { NotFoundError, RemoteStepError } from "../../errors/appErrors";
import { fileTimestamp, type BackupEngine, type DumpedFile } from "../backupEngine";
import { readMarkers } from "../scriptOutput";
import { bashScriptCommand } from "../shell";
import { MYSQL_BACKUP_DIR, mysqlDumpScript, mysqlRestoreScript, readMySqlBackupScript, removeMySqlBackupScript } from "./remoteScripts";

function lastLine(stderr: string): string {
  return (stderr.trim().split("\n").filter(Boolean).at(-1) ?? "").slice(0, 300);
}

/**
 * MySQL backups behind the same BackupEngine as PostgreSQL's: a gzip-ed mysqldump taken as the
 * machine's root through the socket; restored into a new database the backup's user owns.
 * (`roleName` of the generic restore spec is the MySQL user.)
 */
export function mysqlBackupEngine(sshUser: string): BackupEngine {
  const script = bashScriptCommand(sshUser);
  return {
    engine: "mysql",
    plan(dbName, at) {
      const fileName = `${dbName}-${fileTimestamp(at)}.sql.gz`;
      return { fileName, path: `${MYSQL_BACKUP_DIR}/${dbName}/${fileName}` };
    },
    async dump(ssh, dbName, path, timeoutMs): Promise<DumpedFile> {
      const result = await ssh.exec(script, { stdin: mysqlDumpScript(dbName, path), timeoutMs });
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
      const result = await ssh.exec(script, { stdin: mysqlRestoreScript({ path: spec.path, sha256: spec.sha256, dbName: spec.dbName, userName: spec.roleName }), timeoutMs });
      const markers = readMarkers(result.stdout);
      if (markers.refused) throw new RemoteStepError("restore", `Database ${spec.dbName} already exists on the machine; choose another name`);
      if (result.exitCode !== 0 || markers.result.get("restored") !== "1") {
        const detail = lastLine(result.stderr);
        throw new RemoteStepError("restore", `Restore failed: ${markers.failure ?? "unknown error"}${detail ? ` (${detail})` : ""}`);
      }
    },
    async remove(ssh, path, timeoutMs) {
      const result = await ssh.exec(script, { stdin: removeMySqlBackupScript(path), timeoutMs });
      if (result.exitCode !== 0) throw new RemoteStepError("remove-backup", "Could not remove the backup file on the machine");
    },
    read(ssh, path, sha256, idleTimeoutMs) {
      return ssh.execStream(script, { stdin: readMySqlBackupScript(path, sha256), timeoutMs: idleTimeoutMs });
    },
  };
}
