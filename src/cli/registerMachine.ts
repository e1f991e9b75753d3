/**
 * Zero-config helper: registers a machine you can deploy to.
 *   bun run machine:add --ip 10.0.0.5 --owner 7 --password-stdin [--ssh-key-file key] [--name web-1]
 * The root password is read from stdin (or --password, which lands in shell history).
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { adminSocketPath } from "../devMode/adminSocket";
import { DataDirInUseError } from "../devMode/dataDirLock";
import { loadOrCreateDevSecrets } from "../devMode/devSecrets";
import { openEmbeddedDatabase } from "../devMode/embeddedDatabase";
import { registerLocalMachine, type NewLocalMachine } from "../devMode/localMachines";

const { values } = parseArgs({
  options: {
    ip: { type: "string" },
    owner: { type: "string" },
    password: { type: "string" },
    "password-stdin": { type: "boolean", default: false },
    "ssh-key-file": { type: "string" },
    name: { type: "string" },
    "data-dir": { type: "string" },
  },
});

function die(message: string): never {
  console.error(message);
  process.exit(2);
}

const dataDir = values["data-dir"] ?? process.env.DATA_DIR ?? ".data";
if (!values.ip) die("--ip is required");
if (!values.owner || !/^[1-9]\d{0,9}$/.test(values.owner)) die("--owner must be the owner's user id (a positive integer)");
const rootPassword = values["password-stdin"] ? (await Bun.stdin.text()).replace(/\r?\n$/, "") : values.password;
if (!rootPassword) die("give the root password with --password-stdin (or --password)");

const machine: NewLocalMachine = {
  ip: values.ip,
  ownerId: Number(values.owner),
  rootPassword,
  sshKey: values["ssh-key-file"] ? readFileSync(values["ssh-key-file"], "utf8") : undefined,
  name: values.name,
};

/** A service that is still creating its database has the data directory locked but no socket yet. */
const WAIT_FOR_STARTING_SERVICE_MS = 180_000;

async function throughRunningService(socket: string): Promise<number | undefined> {
  let response: Response;
  try {
    response = await fetch("http://localhost/machines", { unix: socket, method: "POST", body: JSON.stringify(machine) });
  } catch {
    return undefined; // a socket left behind by a service that is gone
  }
  if (!response.ok) die(`the running service refused the machine (HTTP ${response.status})`);
  return ((await response.json()) as { id: number }).id;
}

async function register(): Promise<number> {
  const socket = adminSocketPath(dataDir);
  const deadline = Date.now() + WAIT_FOR_STARTING_SERVICE_MS;
  let told = false;
  for (;;) {
    if (existsSync(socket)) {
      const id = await throughRunningService(socket);
      if (id !== undefined) return id;
    }
    try {
      const { secrets } = loadOrCreateDevSecrets(dataDir);
      const db = await openEmbeddedDatabase(dataDir, "tool");
      try {
        return await registerLocalMachine(db.registry, machine, process.env.ENCRYPTION_KEY || secrets.ENCRYPTION_KEY);
      } finally {
        await db.close();
      }
    } catch (error) {
      if (!(error instanceof DataDirInUseError)) throw error;
      if (Date.now() > deadline) die(error.message);
      if (!told) console.error(`waiting for process ${error.holderPid} (the service starting?) to open ${dataDir}…`);
      told = true;
      await Bun.sleep(250);
    }
  }
}

const id = await register();
console.log(JSON.stringify({ vpsId: id, vpsIp: machine.ip, ownerId: machine.ownerId }));
