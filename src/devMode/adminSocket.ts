import { chmodSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { SqlQueryable } from "../machines/machineRegistry";
import { registerLocalMachine, type NewLocalMachine } from "./localMachines";

/**
 * Zero-config mode keeps PGlite open in the service process, and PGlite allows one process
 * per data directory. The CLI therefore registers machines through this unix socket (mode 600,
 * inside the 700 data directory) while the service runs, and opens PGlite itself otherwise.
 */
export function adminSocketPath(dataDir: string): string {
  return join(dataDir, "admin.sock");
}

export function startAdminSocket(dataDir: string, registry: SqlQueryable, encryptionKey: string): { stop(): void } {
  const path = adminSocketPath(dataDir);
  if (existsSync(path)) rmSync(path);
  const server = Bun.serve({
    unix: path,
    async fetch(request) {
      if (request.method !== "POST" || new URL(request.url).pathname !== "/machines") return new Response("not found", { status: 404 });
      const machine = (await request.json()) as NewLocalMachine;
      const id = await registerLocalMachine(registry, machine, encryptionKey);
      return Response.json({ id });
    },
  });
  chmodSync(path, 0o600);
  return {
    stop() {
      server.stop(true);
      if (existsSync(path)) rmSync(path);
    },
  };
}
