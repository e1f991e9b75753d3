/**
 * Zero-config helper: registers a machine you can deploy to.
 *   bun run machine:add --ip 10.0.0.5 --owner 7 --password-stdin [--ssh-key-file key] [--name web-1]
 * The root password is read from stdin (or --password, which lands in shell history).
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { adminSocketPath } from "../devMode/adminSocket";
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

let id: number;
const socket = adminSocketPath(dataDir);
if (existsSync(socket)) {
  const response = await fetch("http://localhost/machines", { unix: socket, method: "POST", body: JSON.stringify(machine) });
  if (!response.ok) die(`the running service refused the machine (HTTP ${response.status})`);
  id = ((await response.json()) as { id: number }).id;
} else {
  const { secrets } = loadOrCreateDevSecrets(dataDir);
  const db = await openEmbeddedDatabase(dataDir);
  id = await registerLocalMachine(db.registry, machine, process.env.ENCRYPTION_KEY || secrets.ENCRYPTION_KEY);
  await db.close();
}
console.log(JSON.stringify({ vpsId: id, vpsIp: machine.ip, ownerId: machine.ownerId }));
