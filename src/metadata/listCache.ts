import type { DeployedDbStore } from "./deployedDbStore";
import type { DeployedDbRow } from "./schema";

/** Short enough that another instance's deploy or delete shows within a portal poll or two. */
export const DEFAULT_LIST_CACHE_TTL_MS = 1_000;

export interface ListCacheSettings {
  /** How long a user's rows may be answered from memory: the staleness another instance's writes can cause. */
  ttlMs: number;
  /** Users remembered at most (the longest unused go first). */
  maxUsers?: number;
  now?: () => number;
}

/** Methods that only read; every other method of the store writes and empties the cache. */
const READS = new Set<keyof DeployedDbStore>([
  "listByUser",
  "findByIdForUser",
  "exists",
  "listOnMachine",
  "findByName",
  "countOtherUsersOfRole",
  "listStaleDeploying",
  "ping",
]);

interface Entry {
  rows: readonly DeployedDbRow[];
  expiresAt: number;
}

/**
 * `GET /get-db` is polled by the portal; this keeps each user's rows (passwords still sealed)
 * for `ttlMs`. Any write through this store (deploy, delete, restore, status changes, password
 * changes, reconciliation: every method not in READS, including ones added later) empties the
 * cache when it settles, and a read that started before a write never stores its result, so
 * this instance never answers from before its own write. Writes by other instances show after
 * at most `ttlMs`.
 */
export function withListCache(store: DeployedDbStore, settings: ListCacheSettings): DeployedDbStore {
  const now = settings.now ?? Date.now;
  const maxUsers = settings.maxUsers ?? 10_000;
  const entries = new Map<number, Entry>();
  // Bumped by every write: a read that saw another generation when it started must not be kept.
  let generation = 0;

  const invalidate = () => {
    generation++;
    entries.clear();
  };

  const listByUser = async (userId: number): Promise<DeployedDbRow[]> => {
    const hit = entries.get(userId);
    if (hit && hit.expiresAt > now()) return [...hit.rows];
    const startedIn = generation;
    const rows = await store.listByUser(userId);
    if (startedIn === generation) {
      entries.delete(userId);
      entries.set(userId, { rows: [...rows], expiresAt: now() + settings.ttlMs });
      if (entries.size > maxUsers) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    }
    return rows;
  };

  const cached: Record<string, unknown> = { ...store, listByUser };
  for (const name of Object.keys(store) as Array<keyof DeployedDbStore>) {
    if (READS.has(name)) continue;
    const write = store[name] as (...args: unknown[]) => Promise<unknown>;
    cached[name] = (...args: unknown[]) => write(...args).finally(invalidate);
  }
  return cached as unknown as DeployedDbStore;
}
