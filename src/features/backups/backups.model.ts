import { t } from "elysia";
import { identifier, machineId, machineIp } from "../../http/commonModels";

/** The portal sends `dbName`/`userName`; the original read `databaseName`/`username`: both are accepted. */
export const BackupBody = t.Object({
  vpsId: machineId,
  vpsIp: machineIp,
  dbName: t.Optional(identifier("dbName")),
  databaseName: t.Optional(identifier("databaseName")),
  // Accepted for the portal's contract; the backup is of the recorded database, whoever owns it there.
  userName: t.Optional(identifier("userName")),
  username: t.Optional(identifier("username")),
});

export const BackupIdParams = t.Object({
  id: t.Numeric({ minimum: 1, maximum: 2_147_483_647, error: "id must be a positive integer" }),
});

export const BackupListQuery = t.Object({
  databaseId: t.Numeric({ minimum: 1, maximum: 2_147_483_647, error: "databaseId must be a positive integer" }),
});

export const RestoreBody = t.Object({
  /** The new database's name; default `<db>_restored_<UTC time>`. */
  dbName: t.Optional(identifier("dbName")),
});

const BackupSummary = t.Object({
  id: t.Integer(),
  databaseId: t.Integer(),
  fileName: t.String(),
  sizeBytes: t.Union([t.Integer(), t.Null()]),
  sha256: t.Union([t.String(), t.Null()]),
  status: t.String({ description: "running, done or failed" }),
  createdAt: t.String(),
});

export const BackupCreated = t.Object(
  {
    status: t.Union([t.Literal(200), t.Literal("running")], { description: '200 when the file is complete; "running" when the dump goes on in the background (over 60 s)' }),
    message: t.String(),
    backup: BackupSummary,
  },
  {
    examples: [
      {
        status: 200,
        message: "Backup created: shop-20261124T020512.123Z.dump, 1.2 MiB",
        backup: { id: 3, databaseId: 4, fileName: "shop-20261124T020512.123Z.dump", sizeBytes: 1258291, sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", status: "done", createdAt: "2026-11-24T02:05:12.123Z" },
      },
    ],
  },
);

const BackupEntry = t.Object({
  id: t.Integer(),
  databaseId: t.Integer(),
  dbName: t.String(),
  engine: t.String(),
  fileName: t.String(),
  sizeBytes: t.Union([t.Integer(), t.Null()]),
  sha256: t.Union([t.String(), t.Null()]),
  status: t.String(),
  error: t.Union([t.String(), t.Null()]),
  createdAt: t.String(),
  finishedAt: t.Union([t.String(), t.Null()]),
});

export const BackupList = t.Object(
  { status: t.Literal(200), data: t.Array(BackupEntry) },
  { description: "The caller's backups of that database, newest first (also after the database was deleted)" },
);

export const RestoreResponse = t.Object(
  { status: t.Literal(200), message: t.String(), id: t.Integer({ description: "The new database's row (as GET /get-db lists it)" }), dbName: t.String() },
  { examples: [{ status: 200, message: "Backup 3 restored into the new database shop_restored_20261124020512", id: 9, dbName: "shop_restored_20261124020512" }] },
);

export const BackupDeleted = t.Object({ status: t.Literal(200), message: t.String() });

/** Documentation only: the download is a streamed Response, which Elysia does not check. */
export const BackupFile = t.String({ format: "binary", description: "The dump file (sent as application/octet-stream, with X-Backup-Size and X-Backup-Sha256 headers)" });
