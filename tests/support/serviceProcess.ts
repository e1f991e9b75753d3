import type { Subprocess } from "bun";
import { join } from "node:path";
import { TEST_ACCESS_SECRET, TEST_ENCRYPTION_KEY } from "./tokens";

const ROOT = join(import.meta.dir, "..", "..");

/** The real entry point (`src/index.ts`) as a child process, in production mode. */
export interface ServiceProcess {
  baseUrl: string;
  process: Subprocess<"ignore", "ignore", "ignore">;
  waitHealthy(): Promise<void>;
}

export interface ServiceEnvironment {
  metadataUrl: string;
  registryUrl: string;
  extra?: Record<string, string>;
}

/** The environment of a production-mode service on `port`. */
export function serviceEnvironment(env: ServiceEnvironment, port: number): Record<string, string> {
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

export function startServiceProcess(env: ServiceEnvironment): ServiceProcess {
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  const child = Bun.spawn(["bun", "src/index.ts"], {
    cwd: ROOT,
    stdin: "ignore",
    // Nobody reads its logs here; an unread pipe would eventually block the service.
    stdout: "ignore",
    stderr: "ignore",
    env: serviceEnvironment(env, port),
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    process: child,
    async waitHealthy() {
      for (let i = 0; i < 300; i++) {
        if (await fetch(`${baseUrl}/health`).then((r) => r.ok, () => false)) return;
        await Bun.sleep(100);
      }
      throw new Error("the service did not become healthy");
    },
  };
}
