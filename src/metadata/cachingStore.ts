import { and, asc, eq, lt, sql } from "drizzle-orm";
import { PortInUseError } from "../errors/appErrors";
import type { MetadataDatabase } from "./deployedDbStore";
import { guarded, isUniqueViolation } from "./errors";
import { caching, CACHING_STATUS, type CachingRow, type NewCachingRow } from "./schema";

/** One machine at one address (rows of another machine id at the same address are stale). */
export interface CachingMachine {
  vpsId: number;
  host: string;
}

export type CachingStatus = (typeof CACHING_STATUS)[keyof typeof CACHING_STATUS];

/** Persistence of `caching`. Callers pass sealed passwords; this layer never sees plaintext. */
export interface CachingStore {
  /** Claims (vpsId, host, port) with status `deploying`; a port recorded there already fails with PortInUseError. */
  insertDeploying(row: Omit<NewCachingRow, "id" | "status" | "createdAt" | "cachingType">): Promise<CachingRow>;
  setStatus(id: number, status: CachingStatus): Promise<void>;
  remove(id: number): Promise<void>;
  listByUser(userId: number): Promise<CachingRow[]>;
  /** Any user's row on that machine with that name (names are unique per machine). */
  findByNameOnMachine(machine: CachingMachine, cacheName: string): Promise<CachingRow | undefined>;
  /** The caller's server on that machine with that port and name. */
  findOwned(userId: number, machine: CachingMachine, port: number, cacheName: string): Promise<CachingRow | undefined>;
  /** Ports of the caller's servers recorded for that machine. */
  portsOfUserOnMachine(userId: number, vpsId: number): Promise<number[]>;
  /** Rows still `deploying` although created before `before`: their deploy was interrupted. */
  listStaleDeploying(before: Date): Promise<CachingRow[]>;
  replacePassword(id: number, expectedPassword: string, sealedPassword: string): Promise<void>;
}

const onMachine = (machine: CachingMachine) => and(eq(caching.vpsId, machine.vpsId), eq(caching.host, machine.host));

export function createCachingStore(db: MetadataDatabase): CachingStore {
  // The Cache Memory page's hot path.
  const listByUser = db
    .select()
    .from(caching)
    .where(eq(caching.userId, sql.placeholder("userId")))
    .orderBy(asc(caching.id))
    .prepare("caching_list_by_user");

  return {
    insertDeploying: (row) =>
      guarded(async () => {
        try {
          const [inserted] = await db.insert(caching).values({ ...row, cachingType: "redis", status: CACHING_STATUS.deploying }).returning();
          if (!inserted) throw new Error("insert returned no row");
          return inserted;
        } catch (error) {
          if (isUniqueViolation(error)) throw new PortInUseError(row.port, "a Redis server recorded on this machine");
          throw error;
        }
      }),
    setStatus: (id, status) =>
      guarded(async () => {
        await db.update(caching).set({ status }).where(eq(caching.id, id));
      }),
    remove: (id) =>
      guarded(async () => {
        await db.delete(caching).where(eq(caching.id, id));
      }),
    listByUser: (userId) => guarded(() => listByUser.execute({ userId })),
    findByNameOnMachine: (machine, cacheName) =>
      guarded(async () => {
        const [row] = await db
          .select()
          .from(caching)
          .where(and(onMachine(machine), eq(caching.cacheName, cacheName)))
          .limit(1);
        return row;
      }),
    findOwned: (userId, machine, port, cacheName) =>
      guarded(async () => {
        const [row] = await db
          .select()
          .from(caching)
          .where(and(onMachine(machine), eq(caching.userId, userId), eq(caching.port, port), eq(caching.cacheName, cacheName)));
        return row;
      }),
    portsOfUserOnMachine: (userId, vpsId) =>
      guarded(async () => {
        const rows = await db
          .selectDistinct({ port: caching.port })
          .from(caching)
          .where(and(eq(caching.userId, userId), eq(caching.vpsId, vpsId)));
        return rows.map((row) => row.port);
      }),
    listStaleDeploying: (before) =>
      guarded(() =>
        db
          .select()
          .from(caching)
          .where(and(eq(caching.status, CACHING_STATUS.deploying), lt(caching.createdAt, before)))
          .orderBy(asc(caching.id)),
      ),
    replacePassword: (id, expectedPassword, sealedPassword) =>
      guarded(async () => {
        await db
          .update(caching)
          .set({ password: sealedPassword })
          .where(and(eq(caching.id, id), sql`${caching.password} = ${expectedPassword}`));
      }),
  };
}
