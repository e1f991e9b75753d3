/**
 * Ops: forget a machine's pinned SSH host key (after a legitimate reinstall), so the next
 * connection pins the new one.
 *   STORAGE_LAYER_DATABASE_URL=... bun run hostkey:reset --machine 42
 * Without STORAGE_LAYER_DATABASE_URL it works on the zero-config embedded database (stop the service first).
 */
import { drizzle } from "drizzle-orm/node-postgres";
import { parseArgs } from "node:util";
import pg from "pg";
import { createHostKeyStore } from "../metadata/hostKeyStore";
import { DataDirInUseError } from "../devMode/dataDirLock";
import { openEmbeddedDatabase } from "../devMode/embeddedDatabase";

const { values } = parseArgs({ options: { machine: { type: "string" }, "data-dir": { type: "string" } } });
if (!values.machine || !/^[1-9]\d{0,9}$/.test(values.machine)) {
  console.error("usage: bun run hostkey:reset --machine <machine id>");
  process.exit(2);
}
const machineId = Number(values.machine);
const url = process.env.STORAGE_LAYER_DATABASE_URL;
let removed: number;
if (url) {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  removed = await createHostKeyStore(drizzle(pool)).reset(machineId);
  await pool.end();
} else {
  const embedded = await openEmbeddedDatabase(values["data-dir"] ?? process.env.DATA_DIR ?? ".data", "tool").catch((error: unknown) => {
    if (!(error instanceof DataDirInUseError)) throw error;
    console.error(error.message);
    process.exit(2);
  });
  removed = await createHostKeyStore(embedded.metadata).reset(machineId);
  await embedded.close();
}
console.log(removed > 0 ? `Pinned host key of machine ${machineId} removed; the next connection pins the key it sees.` : `Machine ${machineId} had no pinned host key.`);
