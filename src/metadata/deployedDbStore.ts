import { and, asc, count, eq, lt, ne, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { DatabaseAlreadyExistsError } from "../errors/appErrors";
import { ofEngine, type Engine } from "./engines";
import { guarded, guardedRead, isUniqueViolation } from "./errors";
import { FOLD_UNQUOTED_SQL } from "./recordedNames";
import { DEPLOY_STATUS, deployed_db, type DeployedDbRow, type NewDeployedDbRow } from "./schema";

export type MetadataDatabase = PgDatabase<PgQueryResultHKT>;

/**
 * One caller's rows for one machine at one address. Rows of another machine id or owner at
 * the same address are stale (the address moved to another tenant) and never take part.
 */
export interface MachineScope {
  userId: number;
  vpsId: number;
  host: string;
  /** Rows of the other engine never take part: their names and users live in another server. */
  engine: Engine;
}

/** Persistence of `deployed_db`. Callers pass sealed passwords; this layer never sees plaintext. */
export interface DeployedDbStore {
  /** Claims (vpsId, host, dbName) with status `deploying`; a concurrent or earlier claim fails. */
  insertDeploying(row: Omit<NewDeployedDbRow, "id" | "status" | "createdAt">): Promise<DeployedDbRow>;
  markRunning(id: number): Promise<void>;
  markFailed(id: number): Promise<void>;
  /** That engine's rows still `deploying` although created before `before`: their deploy was interrupted. */
  listStaleDeploying(before: Date, engine: Engine): Promise<DeployedDbRow[]>;
  remove(id: number): Promise<void>;
  listByUser(userId: number): Promise<DeployedDbRow[]>;
  findByIdForUser(id: number, userId: number): Promise<DeployedDbRow | undefined>;
  exists(id: number): Promise<boolean>;
  /** Every row of the caller on that machine, by id. */
  listOnMachine(scope: MachineScope): Promise<DeployedDbRow[]>;
  /** The caller's row on that machine for a database named exactly `dbName` in the request. */
  findByName(scope: MachineScope, dbName: string): Promise<DeployedDbRow | undefined>;
  /** The caller's rows of both engines on that machine named exactly `dbName` (at most one each), in one query. */
  findByNameAnyEngine(scope: Omit<MachineScope, "engine">, dbName: string): Promise<DeployedDbRow[]>;
  /** How many other of the caller's databases on that machine use the role `roleName` (its name there). */
  countOtherUsersOfRole(scope: MachineScope, roleName: string, excludeId: number): Promise<number>;
  /** Keeps the caller's recorded passwords of one role on that machine in step with the role's real password. */
  setRolePassword(scope: MachineScope, roleName: string, sealedPassword: string): Promise<void>;
  replacePassword(id: number, expectedPassword: string, sealedPassword: string): Promise<void>;
  /** Readiness: resolves when the metadata database answers. */
  ping(): Promise<void>;
}

const inScope = (scope: MachineScope) =>
  and(eq(deployed_db.userId, scope.userId), eq(deployed_db.vpsId, scope.vpsId), eq(deployed_db.host, scope.host), ofEngine(scope.engine));

/** The row's role as named on the machine (see recordedNames.ts). */
const roleOnMachine = sql`CASE WHEN ${deployed_db.legacyNames} THEN translate(${deployed_db.username}, ${FOLD_UNQUOTED_SQL.from}, ${FOLD_UNQUOTED_SQL.to}) ELSE ${deployed_db.username} END`;

export function createDeployedDbStore(db: MetadataDatabase): DeployedDbStore {
  // The portal's hot path: a named prepared statement skips parsing and planning per request.
  const listByUser = db
    .select()
    .from(deployed_db)
    .where(eq(deployed_db.userId, sql.placeholder("userId")))
    .orderBy(asc(deployed_db.id))
    .prepare("deployed_db_list_by_user");

  return {
    insertDeploying: (row) =>
      guarded(async () => {
        try {
          const [inserted] = await db.insert(deployed_db).values({ ...row, status: DEPLOY_STATUS.deploying }).returning();
          if (!inserted) throw new Error("insert returned no row");
          return inserted;
        } catch (error) {
          if (isUniqueViolation(error)) throw new DatabaseAlreadyExistsError(row.dbName, row.host);
          throw error;
        }
      }),
    markRunning: (id) =>
      guarded(async () => {
        await db.update(deployed_db).set({ status: DEPLOY_STATUS.running }).where(eq(deployed_db.id, id));
      }),
    markFailed: (id) =>
      guarded(async () => {
        await db.update(deployed_db).set({ status: DEPLOY_STATUS.failed }).where(eq(deployed_db.id, id));
      }),
    listStaleDeploying: (before, engine) =>
      guarded(() =>
        db
          .select()
          .from(deployed_db)
          .where(and(eq(deployed_db.status, DEPLOY_STATUS.deploying), lt(deployed_db.createdAt, before), ofEngine(engine)))
          .orderBy(asc(deployed_db.id)),
      ),
    remove: (id) =>
      guarded(async () => {
        await db.delete(deployed_db).where(eq(deployed_db.id, id));
      }),
    listByUser: (userId) => guardedRead(() => listByUser.execute({ userId })),
    findByIdForUser: (id, userId) =>
      guarded(async () => {
        const [row] = await db
          .select()
          .from(deployed_db)
          .where(and(eq(deployed_db.id, id), eq(deployed_db.userId, userId)));
        return row;
      }),
    exists: (id) =>
      guarded(async () => {
        const [row] = await db.select({ id: deployed_db.id }).from(deployed_db).where(eq(deployed_db.id, id));
        return row !== undefined;
      }),
    listOnMachine: (scope) => guardedRead(() => db.select().from(deployed_db).where(inScope(scope)).orderBy(asc(deployed_db.id))),
    findByName: (scope, dbName) =>
      guarded(async () => {
        const [row] = await db
          .select()
          .from(deployed_db)
          .where(and(inScope(scope), eq(deployed_db.dbName, dbName)));
        return row;
      }),
    findByNameAnyEngine: (scope, dbName) =>
      guarded(() =>
        db
          .select()
          .from(deployed_db)
          .where(and(eq(deployed_db.userId, scope.userId), eq(deployed_db.vpsId, scope.vpsId), eq(deployed_db.host, scope.host), eq(deployed_db.dbName, dbName))),
      ),
    countOtherUsersOfRole: (scope, roleName, excludeId) =>
      guarded(async () => {
        const [result] = await db
          .select({ n: count() })
          .from(deployed_db)
          .where(and(inScope(scope), sql`${roleOnMachine} = ${roleName}`, ne(deployed_db.id, excludeId)));
        return result?.n ?? 0;
      }),
    setRolePassword: (scope, roleName, sealedPassword) =>
      guarded(async () => {
        await db
          .update(deployed_db)
          .set({ password: sealedPassword })
          .where(and(inScope(scope), sql`${roleOnMachine} = ${roleName}`));
      }),
    ping: async () => {
      await db.execute(sql`SELECT 1`);
    },
    replacePassword: (id, expectedPassword, sealedPassword) =>
      guarded(async () => {
        // Compare-and-set: never overwrite a password another request changed meanwhile.
        await db
          .update(deployed_db)
          .set({ password: sealedPassword })
          .where(and(eq(deployed_db.id, id), sql`${deployed_db.password} = ${expectedPassword}`));
      }),
  };
}
