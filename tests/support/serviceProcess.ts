import type { Subprocess } from "bun";
import { join } from "node:path";
import { TEST_ACCESS_SECRET, TEST_ENCRYPTION_KEY } from "./tokens";

const ROOT = join(import.meta.dir, "..", "..");

/** The real entry point (`src/index.ts`) as a child process, in production mode. */
export interface ServiceProcess {
  baseUrl: string;
  process: Subprocess<"ignore", "pipe" | "ignore", "ignore">;
  waitHealthy(): Promise<void>;
  /** Its stdout (the JSON log) so far; empty unless started with `captureLog`. */
  log(): string;
}

export interface ServiceProcessOptions {
  metadataUrl: string;
  registryUrl: string;
  extra?: Record<string, string>;
  /** A module Bun loads before the entry point (e.g. one that plants a fault). */
  preload?: string;
  /** Keep the service's log lines for log(). */
  captureLog?: boolean;
}

/** The environment of a production-mode service on `port`. */
export function serviceEnvironment(env: Pick<ServiceProcessOptions, "metadataUrl" | "registryUrl" | "extra">, port: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/root",
    NODE_ENV: "production",
    PORT: String(port),
    STORAGE_LAYER_DATABASE_URL: env.metadataUrl,
    DEPLOYMENT_MANAGER_DATABASE_URL: env.registryUrl,
    ACCESS_TOKEN_SECRET: TEST_ACCESS_SECRET,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ...env.extra,
  };
}

export function startServiceProcess(env: ServiceProcessOptions): ServiceProcess {
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  const argv = env.preload ? ["bun", "--preload", env.preload, "src/index.ts"] : ["bun", "src/index.ts"];
  const child = Bun.spawn(argv, {
    cwd: ROOT,
    stdin: "ignore",
    // Unless kept, nobody reads its logs; an unread pipe would eventually block the service.
    stdout: env.captureLog ? "pipe" : "ignore",
    stderr: "ignore",
    env: serviceEnvironment(env, port),
  });
  let log = "";
  if (child.stdout instanceof ReadableStream) {
    // Drained continuously, so the pipe never fills up and blocks the service.
    const decoder = new TextDecoder();
    void (async () => {
      for await (const chunk of child.stdout as ReadableStream<Uint8Array>) log += decoder.decode(chunk, { stream: true });
    })().catch(() => undefined);
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    process: child,
    log: () => log,
    async waitHealthy() {
      for (let i = 0; i < 300; i++) {
        if (await fetch(`${baseUrl}/health`).then((r) => r.ok, () => false)) return;
        await Bun.sleep(100);
      }
      throw new Error("the service did not become healthy");
    },
  };
}
