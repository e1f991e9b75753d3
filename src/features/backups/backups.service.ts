import { createHash } from "node:crypto";
import type { SshSettings } from "../../config/env";
import type { Actor, AuditTrail } from "../../metadata/auditTrail";
import type { BackupStore } from "../../metadata/backupStore";
import type { DeployedDbStore } from "../../metadata/deployedDbStore";
import { engineOf, type Engine } from "../../metadata/engines";
import { namesOnMachine } from "../../metadata/recordedNames";
import { BACKUP_STATUS, DEPLOY_STATUS, type BackupRow, type DeployedDbRow } from "../../metadata/schema";
import { AppError, ConflictError, InvalidRequestError, MachineAccessDeniedError, NotFoundError } from "../../errors/appErrors";
import type { MachineRecord, MachineRegistry } from "../../machines/machineRegistry";
import { sshTargetFor } from "../../machines/sshTarget";
import { verifyMachine } from "../../machines/verifyMachine";
import type { Logger } from "../../shared/logger";
import type { SshLeases } from "../../ssh/sshLeases";
import { withHeldLease } from "../tables/heldLease";
import { resolveDatabaseRow } from "../query/resolveDatabaseRow";
import { fileTimestamp, humanSize, type BackupEngine } from "../../engines/backupEngine";

export interface BackupSettings {
  /** Newest done backups kept per database; older ones are removed after each new one. */
  retention: number;
  /** A dump not finished by then is answered `running` and finishes in the background. */
  answerWithinMs: number;
  /** The longest one dump or restore may take. */
  dumpTimeoutMs: number;
  /** Removing a file and other short remote steps. */
  commandTimeoutMs: number;
}

export interface BackupServiceDeps {
  registry: MachineRegistry;
  databases: Pick<DeployedDbStore, "listOnMachine" | "insertDeploying" | "markRunning" | "remove">;
  backups: BackupStore;
  audit: AuditTrail;
  leases: SshLeases;
  encryptionKey: string;
  ssh: SshSettings;
  /** One per engine whose databases can be backed up; a backup row names its engine. */
  engines: Record<Engine, BackupEngine>;
  settings: BackupSettings;
  logger: Logger;
  clock: () => Date;
}

export interface BackupView {
  id: number;
  databaseId: number;
  dbName: string;
  engine: string;
  fileName: string;
  sizeBytes: number | null;
  sha256: string | null;
  status: string;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export function toBackupView(row: BackupRow): BackupView {
  return {
    id: row.id,
    databaseId: row.databaseId,
    dbName: row.dbName,
    engine: row.engine,
    fileName: row.fileName,
    sizeBytes: row.sizeBytes,
    sha256: row.sha256,
    status: row.status,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    finishedAt: row.finishedAt ? row.finishedAt.toISOString() : null,
  };
}

export interface BackupRequest {
  vpsId: number;
  vpsIp: string;
  dbName: string;
}

export type BackupOutcome = { state: "done"; backup: BackupRow } | { state: "running"; backup: BackupRow };

export interface BackupDownload {
  fileName: string;
  sizeBytes: number;
  sha256: string;
  body: ReadableStream<Uint8Array>;
}

const reasonOf = (error: unknown) => (error instanceof AppError ? error.message : "internal error");

/** Backups of users' databases: taken, listed, downloaded, restored and deleted; engine-independent. */
export function createBackupService(deps: BackupServiceDeps) {
  const { settings } = deps;
  const engineOfBackup = (row: BackupRow): BackupEngine => deps.engines[engineOf(row.engine)];
  /** The row's database and owner as named on the machine (only PostgreSQL folds adopted names). */
  const onMachine = (row: DeployedDbRow) => (engineOf(row.dbType) === "postgres" ? namesOnMachine(row) : { dbName: row.dbName, roleName: row.username });
  /** The caller's row of that engine: PostgreSQL resolves as run-query does, MySQL by its exact name. */
  const resolveRow = (rows: DeployedDbRow[], dbName: string, engineName: Engine): DeployedDbRow => {
    if (engineName === "postgres") return resolveDatabaseRow(rows, dbName);
    const row = rows.find((candidate) => candidate.dbName === dbName);
    if (!row) throw new NotFoundError("Database not found");
    return row;
  };

  async function ownMachine(actor: Actor, machineId: number, host: string, dbName: string, action: "backup" | "backup-restore" | "backup-delete" | "backup-download"): Promise<MachineRecord> {
    try {
      return await verifyMachine(deps.registry, machineId, actor.userId, host);
    } catch (error) {
      if (error instanceof MachineAccessDeniedError) await deps.audit.record(actor, { action, outcome: "refused", machineId, host, dbName });
      throw error;
    }
  }

  async function ownBackup(actor: Actor, id: number): Promise<BackupRow> {
    const row = await deps.backups.findForUser(id, actor.userId);
    if (!row) throw new NotFoundError("Backup not found");
    return row;
  }

  /** Keeps the newest `retention` done backups of the database; a failure here never fails the backup. */
  async function applyRetention(machine: MachineRecord, backup: BackupRow): Promise<void> {
    try {
      const done = (await deps.backups.listForDatabase(backup.userId, backup.databaseId)).filter((row) => row.status === BACKUP_STATUS.done && row.engine === backup.engine);
      const expired = done.slice(settings.retention);
      if (expired.length === 0) return;
      await deps.leases.withLease(sshTargetFor(machine, deps.ssh, deps.encryptionKey), async (ssh) => {
        for (const row of expired) {
          await engineOfBackup(row).remove(ssh, row.path, settings.commandTimeoutMs);
          await deps.backups.remove(row.id);
        }
      });
    } catch (error) {
      deps.logger.warn("backup.retention_failed", { backupId: backup.id, reason: error instanceof Error ? error.name : "unknown" });
    }
  }

  return {
    async create(actor: Actor, request: BackupRequest, engineName: Engine = "postgres"): Promise<BackupOutcome> {
      const engine = deps.engines[engineName];
      const machine = await ownMachine(actor, request.vpsId, request.vpsIp, request.dbName, "backup");
      const scope = { userId: actor.userId, vpsId: machine.id, host: machine.ip };
      const rows = await deps.databases.listOnMachine({ ...scope, engine: engineName });
      if (!rows.some((row) => row.dbName.toLowerCase() === request.dbName.toLowerCase())) {
        const other = engineName === "postgres" ? "mysql" : "postgres";
        if ((await deps.databases.listOnMachine({ ...scope, engine: other })).some((row) => row.dbName === request.dbName)) {
          throw new InvalidRequestError(`This is a ${other === "mysql" ? "MySQL" : "PostgreSQL"} database: back it up with /backup-${other === "mysql" ? "mysql" : "postgres"}-db`);
        }
      }
      const row = resolveRow(rows, request.dbName, engineName);
      if (row.status !== DEPLOY_STATUS.running) throw new ConflictError(`Database ${row.dbName} is not running`);
      const { dbName, roleName } = onMachine(row);
      const { fileName, path } = engine.plan(dbName, deps.clock());
      const started = await deps.backups.insertRunning({ databaseId: row.id, userId: actor.userId, machineId: machine.id, host: machine.ip, engine: engine.engine, dbName, roleName, fileName, path });
      const audit = { action: "backup" as const, machineId: machine.id, host: machine.ip, dbName: row.dbName };

      const job = deps.leases
        .withLease(sshTargetFor(machine, deps.ssh, deps.encryptionKey), (ssh) => engine.dump(ssh, dbName, path, settings.dumpTimeoutMs))
        .then(
          async (file) => {
            const done = await deps.backups.markDone(started.id, file);
            await deps.audit.record(actor, { ...audit, outcome: "success", detail: `backup ${started.id}, ${file.sizeBytes} bytes` });
            await applyRetention(machine, done);
            return done;
          },
          async (error: unknown) => {
            await deps.backups.markFailed(started.id, reasonOf(error)).catch(() => undefined);
            await deps.audit.record(actor, { ...audit, outcome: "failure", detail: `backup ${started.id}: ${error instanceof AppError ? error.kind : "error"}` });
            throw error;
          },
        );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stillRunning = new Promise<"running">((resolve) => {
        timer = setTimeout(() => resolve("running"), settings.answerWithinMs);
      });
      try {
        const first = await Promise.race([job, stillRunning]);
        if (first === "running") {
          job.catch(() => undefined);
          return { state: "running", backup: started };
        }
        return { state: "done", backup: first };
      } finally {
        clearTimeout(timer);
      }
    },

    async list(actor: Actor, databaseId: number): Promise<BackupRow[]> {
      return deps.backups.listForDatabase(actor.userId, databaseId);
    },

    /**
     * Resolves once the file's first bytes arrived (a missing file is a 404, not a cut body);
     * the body streams the rest with backpressure and checks size and SHA-256 at its end: a
     * mismatch errors the stream, so the client sees an incomplete download, never wrong bytes
     * passed off as whole.
     */
    async download(actor: Actor, id: number): Promise<BackupDownload> {
      const row = await ownBackup(actor, id);
      if (row.status !== BACKUP_STATUS.done || row.sizeBytes === null || row.sha256 === null) throw new ConflictError(`Backup ${id} is ${row.status}, there is no file to download`);
      const machine = await ownMachine(actor, row.machineId, row.host, row.dbName, "backup-download");
      const expected = { size: row.sizeBytes, sha256: row.sha256 };
      return withHeldLease(deps.leases, sshTargetFor(machine, deps.ssh, deps.encryptionKey), async (ssh) => {
        const command = await engineOfBackup(row).read(ssh, row.path, expected.sha256, settings.commandTimeoutMs);
        const chunks = command.stdout[Symbol.asyncIterator]();
        const first = await chunks.next();
        if (first.done) {
          await command.result.catch(() => undefined);
          throw new ConflictError(`The file of backup ${id} is missing on the machine or no longer matches its recorded checksum; nothing was sent`);
        }
        let release: () => void = () => undefined;
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        const hash = createHash("sha256");
        let bytes = 0;
        let pending: Buffer | undefined = first.value;
        // Checked on the machine before the first byte, and again here as the bytes pass (the
        // file could change meanwhile): the last chunk is held back until size and checksum
        // agree, so a client never receives the whole of a file that turned out wrong.
        let held: Buffer | undefined;
        const fail = (controller: ReadableStreamDefaultController<Uint8Array>, error: unknown) => {
          command.abort();
          controller.error(error);
          release();
        };
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              for (;;) {
                const chunk = pending ?? (await chunks.next()).value;
                pending = undefined;
                if (!chunk) break;
                hash.update(chunk);
                bytes += chunk.length;
                if (bytes > expected.size) return fail(controller, new Error("backup file is larger than recorded"));
                const previous = held;
                held = chunk;
                if (previous) {
                  controller.enqueue(previous);
                  return;
                }
              }
              const result = await command.result;
              if (result.exitCode !== 0 || bytes !== expected.size || hash.digest("hex") !== expected.sha256) {
                deps.logger.warn("backup.download_mismatch", { backupId: id, bytes, expectedBytes: expected.size });
                return fail(controller, new Error("backup file does not match its recorded size and checksum"));
              }
              if (held) controller.enqueue(held);
              controller.close();
              release();
            } catch (error) {
              fail(controller, error);
            }
          },
          cancel() {
            command.abort();
            release();
          },
        });
        await deps.audit.record(actor, { action: "backup-download", outcome: "success", machineId: machine.id, host: machine.ip, dbName: row.dbName, detail: `backup ${id}` });
        return { value: { fileName: row.fileName, sizeBytes: expected.size, sha256: expected.sha256, body }, released };
      });
    },

    /** Into a new database owned by the backup's role, recorded like a deploy. */
    async restore(actor: Actor, id: number, newName?: string): Promise<{ id: number; dbName: string }> {
      const backup = await ownBackup(actor, id);
      if (backup.status !== BACKUP_STATUS.done || backup.sha256 === null) throw new ConflictError(`Backup ${id} is ${backup.status}, it cannot be restored`);
      const engine = engineOfBackup(backup);
      const machine = await ownMachine(actor, backup.machineId, backup.host, backup.dbName, "backup-restore");
      const rows = await deps.databases.listOnMachine({ userId: actor.userId, vpsId: machine.id, host: machine.ip, engine: engineOf(engine.engine) });
      // The role's password is recorded with the caller's databases it serves; the backed-up one may be gone.
      const sameRole = rows.find((row) => row.id === backup.databaseId) ?? rows.find((row) => onMachine(row).roleName === backup.roleName);
      if (!sameRole) throw new ConflictError(`Role ${backup.roleName} of this backup serves none of your recorded databases on the machine any more; it cannot be restored`);
      const stamp = fileTimestamp(deps.clock()).slice(0, 15).replace("T", "");
      const dbName = newName ?? `${backup.dbName.slice(0, 40)}_restored_${stamp}`;
      const claimed = await deps.databases.insertDeploying({ dbName, username: backup.roleName, password: sameRole.password, host: machine.ip, dbType: engine.engine, vpsId: machine.id, userId: actor.userId });
      const audit = { action: "backup-restore" as const, machineId: machine.id, host: machine.ip, dbName };
      try {
        await deps.leases.withLease(sshTargetFor(machine, deps.ssh, deps.encryptionKey), (ssh) =>
          engine.restore(ssh, { path: backup.path, sha256: backup.sha256 ?? "", dbName, roleName: backup.roleName, deployId: claimed.id }, settings.dumpTimeoutMs),
        );
        await deps.databases.markRunning(claimed.id);
      } catch (error) {
        await deps.databases.remove(claimed.id).catch(() => undefined);
        await deps.audit.record(actor, { ...audit, outcome: "failure", detail: `backup ${id}: ${error instanceof AppError ? error.kind : "error"}` });
        throw error;
      }
      await deps.audit.record(actor, { ...audit, outcome: "success", detail: `backup ${id}` });
      return { id: claimed.id, dbName };
    },

    async remove(actor: Actor, id: number): Promise<void> {
      const row = await ownBackup(actor, id);
      if (row.status === BACKUP_STATUS.running) throw new ConflictError(`Backup ${id} is still running`);
      if (row.status === BACKUP_STATUS.done) {
        const machine = await ownMachine(actor, row.machineId, row.host, row.dbName, "backup-delete");
        await deps.leases.withLease(sshTargetFor(machine, deps.ssh, deps.encryptionKey), (ssh) => engineOfBackup(row).remove(ssh, row.path, settings.commandTimeoutMs));
      }
      await deps.backups.remove(id);
      await deps.audit.record(actor, { action: "backup-delete", outcome: "success", machineId: row.machineId, host: row.host, dbName: row.dbName, detail: `backup ${id}` });
    },

    /**
     * At start-up, before requests: a backup still `running` was interrupted by the restart.
     * Its files (temporary or complete) are removed and it is marked failed.
     */
    async failInterrupted(): Promise<number> {
      const running = await deps.backups.listRunning();
      for (const row of running) {
        try {
          const machine = await deps.registry.findOwned(row.machineId, row.userId);
          if (machine && machine.ip.trim() === row.host.trim()) {
            await deps.leases.withLease(sshTargetFor(machine, deps.ssh, deps.encryptionKey), (ssh) => engineOfBackup(row).remove(ssh, row.path, settings.commandTimeoutMs));
          }
        } catch (error) {
          deps.logger.warn("backup.cleanup_failed", { backupId: row.id, reason: error instanceof Error ? error.name : "unknown" });
        }
        await deps.backups.markFailed(row.id, "interrupted: the service restarted while the backup ran");
      }
      return running.length;
    },
  };
}

export type BackupService = ReturnType<typeof createBackupService>;

export function backupCreatedMessage(outcome: BackupOutcome): string {
  const { backup } = outcome;
  if (outcome.state === "running") {
    return `Backup started: ${backup.fileName}. It takes a while for this database and continues on the server; see GET /backups?databaseId=${backup.databaseId} for its state`;
  }
  return `Backup created: ${backup.fileName}, ${humanSize(backup.sizeBytes ?? 0)}`;
}
