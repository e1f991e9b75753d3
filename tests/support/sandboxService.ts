import { afterAll, beforeAll } from "bun:test";
import type { AppDependencies } from "../../src/app";
import { removeStaleSandboxes, startSandboxVps, type SandboxOptions, type SandboxVps } from "./sandboxVps";
import { startTestApp, type RunningTestApp } from "./testApp";
import { createTestDatabases, type TestDatabases } from "./testDatabase";
import { TEST_ENCRYPTION_KEY } from "./tokens";

/** What most end-to-end files need: one sandbox VPS, real metadata, the machine registered, a service. */
export interface SandboxService {
  readonly vps: SandboxVps;
  readonly dbs: TestDatabases;
  /** The VPS as the owner's registered machine. */
  readonly machineId: number;
  readonly app: RunningTestApp;
}

export interface SandboxServiceOptions {
  vps: SandboxOptions;
  ownerId: number;
  /** Dependencies beyond the metadata store and registry (an audit trail, a logger, …). */
  app?: (dbs: TestDatabases) => Partial<AppDependencies> & { hostKeys?: Parameters<typeof startTestApp>[0]["hostKeys"] };
  /** Runs on the VPS before the service starts (tables, roles the tests read). */
  prepare?: (vps: SandboxVps, dbs: TestDatabases) => Promise<void>;
}

/**
 * Builds it before the file's tests and tears it all down after them, even when a test failed.
 * The fields are there once the file's tests run.
 */
export function sandboxService(options: SandboxServiceOptions): SandboxService {
  let vps: SandboxVps | undefined;
  let dbs: TestDatabases | undefined;
  let app: RunningTestApp | undefined;
  let machineId = 0;
  const ready = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new Error(`the sandbox service's ${name} is not built yet (use it inside tests)`);
    return value;
  };

  beforeAll(async () => {
    await removeStaleSandboxes();
    vps = await startSandboxVps(options.vps);
    dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
    machineId = await dbs.addMachine({ ip: vps.ip, ownerId: options.ownerId, rootPassword: vps.rootPassword });
    await options.prepare?.(vps, dbs);
    app = startTestApp({ store: dbs.store, registry: dbs.registry, ...options.app?.(dbs) });
  }, 180_000);

  afterAll(async () => {
    await app?.stop();
    await dbs?.dropAll();
    await vps?.stop();
  }, 60_000);

  return {
    get vps() {
      return ready(vps, "VPS");
    },
    get dbs() {
      return ready(dbs, "databases");
    },
    get machineId() {
      return ready(machineId || undefined, "machine");
    },
    get app() {
      return ready(app, "app");
    },
  };
}
