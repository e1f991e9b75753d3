import type { Server } from "bun";
import { Elysia } from "elysia";
import type { Actor } from "../../metadata/auditTrail";
import type { Engine } from "../../metadata/engines";
import { checkAuth } from "../../auth/checkAuth";
import { InvalidRequestError } from "../../errors/appErrors";
import { actorOf } from "../../http/actor";
import { userRateLimit, type RateLimitSettings } from "../../http/rateLimits";
import { AUTHENTICATED_ERRORS, errorBodies } from "../../http/responseModels";
import { BackupBody, BackupCreated, BackupFile, BackupDeleted, BackupIdParams, BackupList, BackupListQuery, RestoreBody, RestoreResponse } from "./backups.model";
import { backupCreatedMessage, toBackupView, type BackupService } from "./backups.service";

export function backupsController(service: BackupService, accessTokenSecret: string, limits: RateLimitSettings) {
  /** Both engines' backup routes answer alike; the store, list, download, restore and delete are shared. */
  async function createBackup(engine: Engine, body: typeof BackupBody.static, actor: Actor, request: Request, server: Server<unknown> | null) {
    server?.timeout(request, 0);
    const dbName = body.dbName ?? body.databaseName;
    if (!dbName) throw new InvalidRequestError("dbName is required");
    const outcome = await service.create(actor, { vpsId: body.vpsId, vpsIp: body.vpsIp, dbName }, engine);
    const view = toBackupView(outcome.backup);
    return {
      status: outcome.state === "done" ? (200 as const) : ("running" as const),
      message: backupCreatedMessage(outcome),
      backup: { id: view.id, databaseId: view.databaseId, fileName: view.fileName, sizeBytes: view.sizeBytes, sha256: view.sha256, status: view.status, createdAt: view.createdAt },
    };
  }

  const writes = new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userWrites, "writes"))
    .post(
      "/backup-postgres-db",
      ({ body, userId, request, server }) => createBackup("postgres", body, actorOf(userId, request, server), request, server),
      {
        body: BackupBody,
        response: { 200: BackupCreated, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 415, 500, 502, 504]) },
        detail: { tags: ["backups"], summary: "Back up one of the caller's PostgreSQL databases (pg_dump, custom format) into a file on its machine" },
      },
    )
    .post(
      "/backup-mysql-db",
      ({ body, userId, request, server }) => createBackup("mysql", body, actorOf(userId, request, server), request, server),
      {
        body: BackupBody,
        response: { 200: BackupCreated, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 415, 500, 502, 504]) },
        detail: { tags: ["backups"], summary: "Back up one of the caller's MySQL databases (mysqldump --single-transaction --routines --triggers --events, gzip) into a file on its machine" },
      },
    )
    .post(
      "/backups/:id/restore",
      async ({ params, body, userId, request, server }) => {
        server?.timeout(request, 0);
        const restored = await service.restore(actorOf(userId, request, server), params.id, body.dbName);
        return { status: 200 as const, message: `Backup ${params.id} restored into the new database ${restored.dbName}`, id: restored.id, dbName: restored.dbName };
      },
      {
        params: BackupIdParams,
        body: RestoreBody,
        response: { 200: RestoreResponse, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 415, 500, 502, 504]) },
        detail: { tags: ["backups"], summary: "Restore a backup into a NEW database owned by the same role (recorded like a deploy)" },
      },
    )
    .delete(
      "/backups/:id",
      async ({ params, userId, request, server }) => {
        await service.remove(actorOf(userId, request, server), params.id);
        return { status: 200 as const, message: `Backup ${params.id} deleted` };
      },
      {
        params: BackupIdParams,
        response: { 200: BackupDeleted, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 500, 502, 504]) },
        detail: { tags: ["backups"], summary: "Delete a backup: its file on the machine and its record" },
      },
    );

  const reads = new Elysia()
    .use(checkAuth(accessTokenSecret))
    .use(userRateLimit(limits.windowMs, limits.userReads, "reads"))
    .get(
      "/backups",
      async ({ query, userId, request, server }) => {
        const rows = await service.list(actorOf(userId, request, server), query.databaseId);
        return { status: 200 as const, data: rows.map(toBackupView) };
      },
      {
        query: BackupListQuery,
        response: { 200: BackupList, ...errorBodies([...AUTHENTICATED_ERRORS]) },
        detail: { tags: ["backups"], summary: "The caller's backups of one database, newest first" },
      },
    )
    .get(
      "/backups/:id/download",
      async ({ params, userId, request, server }) => {
        server?.timeout(request, 0);
        const file = await service.download(actorOf(userId, request, server), params.id);
        return new Response(file.body, {
          headers: {
            "content-type": "application/octet-stream",
            "content-disposition": `attachment; filename="${file.fileName}"`,
            // Bun streams this body chunked (no Content-Length): these let a client check what it got.
            "x-backup-size": String(file.sizeBytes),
            "x-backup-sha256": file.sha256,
          },
        });
      },
      {
        params: BackupIdParams,
        response: { 200: BackupFile, ...errorBodies([...AUTHENTICATED_ERRORS, 403, 404, 409, 500, 502, 504]) },
        detail: {
          tags: ["backups"],
          summary: "Download a backup file (streamed; SHA-256 checked on the machine first and while streaming: a mismatch is a 409 before any byte, or a body cut short)",
        },
      },
    );

  return new Elysia().use(writes).use(reads);
}
