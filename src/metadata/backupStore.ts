import { and, desc, eq, sql } from "drizzle-orm";
import type { MetadataDatabase } from "./deployedDbStore";
import { BACKUP_STATUS, backups, type BackupRow, type NewBackupRow } from "./schema";
import { guarded } from "./errors";

/** Persistence of `backups`: one row per backup, whatever the engine. */
export interface BackupStore {
  insertRunning(row: Omit<NewBackupRow, "id" | "status" | "createdAt" | "finishedAt" | "sizeBytes" | "sha256" | "error">): Promise<BackupRow>;
  markDone(id: number, file: { sizeBytes: number; sha256: string }): Promise<BackupRow>;
  markFailed(id: number, reason: string): Promise<void>;
  /** The caller's backups of one database row, newest first. */
  listForDatabase(userId: number, databaseId: number): Promise<BackupRow[]>;
  findForUser(id: number, userId: number): Promise<BackupRow | undefined>;
  /** Backups still `running`: after a restart, their dump was interrupted. */
  listRunning(): Promise<BackupRow[]>;
  remove(id: number): Promise<void>;
}

export function createBackupStore(db: MetadataDatabase): BackupStore {
  return {
    insertRunning: (row) =>
      guarded(async () => {
        const [inserted] = await db.insert(backups).values({ ...row, status: BACKUP_STATUS.running }).returning();
        if (!inserted) throw new Error("insert returned no row");
        return inserted;
      }),
    markDone: (id, file) =>
      guarded(async () => {
        const [row] = await db
          .update(backups)
          .set({ status: BACKUP_STATUS.done, sizeBytes: file.sizeBytes, sha256: file.sha256, finishedAt: sql`now()` })
          .where(eq(backups.id, id))
          .returning();
        if (!row) throw new Error("backup row vanished");
        return row;
      }),
    markFailed: (id, reason) =>
      guarded(async () => {
        await db
          .update(backups)
          .set({ status: BACKUP_STATUS.failed, error: reason.slice(0, 500), finishedAt: sql`now()` })
          .where(eq(backups.id, id));
      }),
    listForDatabase: (userId, databaseId) =>
      guarded(() =>
        db
          .select()
          .from(backups)
          .where(and(eq(backups.userId, userId), eq(backups.databaseId, databaseId)))
          .orderBy(desc(backups.createdAt), desc(backups.id)),
      ),
    findForUser: (id, userId) =>
      guarded(async () => {
        const [row] = await db
          .select()
          .from(backups)
          .where(and(eq(backups.id, id), eq(backups.userId, userId)));
        return row;
      }),
    listRunning: () => guarded(() => db.select().from(backups).where(eq(backups.status, BACKUP_STATUS.running))),
    remove: (id) =>
      guarded(async () => {
        await db.delete(backups).where(eq(backups.id, id));
      }),
  };
}
