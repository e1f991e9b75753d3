import type { BackupEngine } from "../backupEngine";
import { scriptedBackupEngine } from "../scriptedBackupEngine";
import { postgresBackupDir, postgresDumpScript, postgresRestoreScript, readBackupScript, removeBackupScript } from "./remoteScripts";

/** PostgreSQL backups: pg_dump -Fc as the machine's postgres superuser, restore as the database's role. */
export function postgresBackupEngine(sshUser: string): BackupEngine {
  return scriptedBackupEngine(
    {
      engine: "postgres",
      fileExtension: ".dump",
      directoryOf: postgresBackupDir,
      dump: postgresDumpScript,
      restore: postgresRestoreScript,
      remove: removeBackupScript,
      read: readBackupScript,
    },
    sshUser,
  );
}
