import type { BackupEngine } from "../backupEngine";
import { scriptedBackupEngine } from "../scriptedBackupEngine";
import { MYSQL_BACKUP_DIR, mysqlDumpScript, mysqlRestoreScript, readMySqlBackupScript, removeMySqlBackupScript } from "./remoteScripts";

/**
 * MySQL backups behind the same BackupEngine as PostgreSQL's: a gzip-ed mysqldump taken as the
 * machine's root through the socket; restored into a new database the backup's user owns.
 * (`roleName` of the generic restore spec is the MySQL user.)
 */
export function mysqlBackupEngine(sshUser: string): BackupEngine {
  return scriptedBackupEngine(
    {
      engine: "mysql",
      fileExtension: ".sql.gz",
      directoryOf: (dbName) => `${MYSQL_BACKUP_DIR}/${dbName}`,
      dump: mysqlDumpScript,
      restore: (spec) => mysqlRestoreScript({ path: spec.path, sha256: spec.sha256, dbName: spec.dbName, userName: spec.roleName }),
      remove: removeMySqlBackupScript,
      read: readMySqlBackupScript,
    },
    sshUser,
  );
}
