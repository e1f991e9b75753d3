/**
 * Hot-path benchmark (issue "Performance"): run with `npm run bench:api` (as root).
 * Builds sandbox VPS hosts and a real metadata database, starts the service in-process, then
 * measures each figure next to its physical or framework reference, all in one run.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecretBox } from "../src/crypto/secretBox";
import { deployed_db } from "../src/metadata/schema";
import { SSHClient } from "../src/ssh/SSHClient";
import { createDirectSessions } from "../tests/support/directSessions";
import { removeStaleSandboxes, startSandboxVps } from "../tests/support/sandboxVps";
import { startTestApp, TEST_SSH } from "../tests/support/testApp";
import { createTestDatabases } from "../tests/support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../tests/support/tokens";
import { markdownTable, percentile, timeIt, writeBenchmarkSection } from "./support";

const LOAD_SECONDS = 5;
const CONCURRENCY = 32;
const USER = 9;

/** Asynchronous on purpose: the service under load runs in this very process. */
async function run(command: string[]): Promise<string> {
  const child = Bun.spawn(command, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (exitCode !== 0) throw new Error(`${command[0]} failed: ${stderr}`);
  return stdout;
}

async function wrkRate(url: string, token?: string): Promise<number> {
  const args = ["wrk", "-t2", `-c${CONCURRENCY}`, `-d${LOAD_SECONDS}s`, url];
  if (token) args.splice(1, 0, "-H", `Authorization: Bearer ${token}`);
  const output = await run(args);
  if (/Non-2xx/.test(output)) throw new Error(`wrk saw errors:\n${output}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
}

await removeStaleSandboxes();
const vps = await startSandboxVps({ postgres: "running" });
const fresh = await startSandboxVps({ postgres: "absent" });
const dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
const app = startTestApp({ store: dbs.store, registry: dbs.registry });
const coldApp = startTestApp({ store: dbs.store, registry: dbs.registry, sessions: createDirectSessions(TEST_SSH.connectTimeoutMs) });
const rows: string[][] = [];

try {
  const machineId = await dbs.addMachine({ ip: vps.ip, ownerId: USER, rootPassword: vps.rootPassword });
  const freshId = await dbs.addMachine({ ip: fresh.ip, ownerId: USER, rootPassword: fresh.rootPassword });

  // GET /get-db for a user with 10 databases, next to the framework's and the database's ceilings.
  const box = createSecretBox(TEST_ENCRYPTION_KEY);
  await dbs.drizzleDb.insert(deployed_db).values(
    Array.from({ length: 10 }, (_, i) => ({
      dbName: `bench_${i}`,
      username: `bench_user_${i}`,
      password: box.seal(`password-${i}`),
      host: "198.51.100.1",
      dbType: "postgres",
      vpsId: 1,
      userId: USER,
      status: "running",
    })),
  );
  const token = tokenFor(USER, { expiresIn: "1h" });
  const getDbRate = await wrkRate(`${app.baseUrl}/get-db`, token);
  const healthRate = await wrkRate(`${app.baseUrl}/health`);
  const script = join(tmpdir(), "zsl-bench-get-db.sql");
  writeFileSync(script, `SELECT id, db_name, username, password, host, db_type, vps_id, user_id, status, created_at FROM deployed_db WHERE user_id = ${USER} ORDER BY id;\n`);
  const pgbench = await run(["pgbench", "-n", "-c", String(CONCURRENCY), "-j", "2", "-T", String(LOAD_SECONDS), "-f", script, dbs.metadata.url]);
  const pgbenchRate = Number(/tps = ([\d.]+)/.exec(pgbench)?.[1]);
  rows.push(["GET /get-db (10 rows), req/s", getDbRate.toFixed(0), `pgbench same SELECT: ${pgbenchRate.toFixed(0)}`, (getDbRate / pgbenchRate).toFixed(2), "≥ 0.25"]);
  rows.push(["GET /health, req/s", healthRate.toFixed(0), "(framework ceiling)", (getDbRate / healthRate).toFixed(2), ""]);

  // POST /get-tables-list: warm (pooled connection) and cold (new connection each), vs a bare command.
  const body = { databaseName: "postgres", vpsId: machineId, vpsIp: vps.ip };
  const list = (target: typeof app) => target.request("POST", "/get-tables-list", { userId: USER, body });
  await list(app);
  const warm: number[] = [];
  for (let i = 0; i < 50; i++) warm.push(await timeIt(() => list(app)));
  const cold: number[] = [];
  for (let i = 0; i < 10; i++) cold.push(await timeIt(() => list(coldApp)));
  const ssh = new SSHClient({ host: vps.ip, port: 22, username: "root", password: vps.rootPassword, connectTimeoutMs: 5_000 });
  await ssh.connect();
  const bare: number[] = [];
  for (let i = 0; i < 50; i++) bare.push(await timeIt(() => ssh.exec("true", { timeoutMs: 5_000 })));
  ssh.close();
  const bareP50 = percentile(bare, 50);
  rows.push(["tables list warm p50 / p95, ms", `${percentile(warm, 50).toFixed(1)} / ${percentile(warm, 95).toFixed(1)}`, `bare command p50: ${bareP50.toFixed(1)}`, (percentile(warm, 50) / bareP50).toFixed(1), "p50 ≤ 25 ms"]);
  rows.push(["tables list cold p50 / p95, ms", `${percentile(cold, 50).toFixed(1)} / ${percentile(cold, 95).toFixed(1)}`, `bare command p50: ${bareP50.toFixed(1)}`, (percentile(cold, 50) / bareP50).toFixed(1), ""]);

  // Deploys: on a machine already set up (after a first deploy configured it), and on a fresh one.
  const deploy = (target: typeof app, vpsId: number, ip: string, name: string) =>
    target.request("POST", "/deploy-postgres", { userId: USER, body: { vpsId, vpsIp: ip, dbName: name, userName: `${name}_u`, password: "bench-pass" } });
  const freshTime = await timeIt(async () => {
    const response = await deploy(app, freshId, fresh.ip, "fresh_0");
    if (response.status !== 200) throw new Error(`fresh deploy failed: ${JSON.stringify(response.body)}`);
  });
  await deploy(app, machineId, vps.ip, "setup_warmup");
  const setUp: number[] = [];
  for (let i = 0; i < 5; i++) {
    setUp.push(
      await timeIt(async () => {
        const response = await deploy(app, machineId, vps.ip, `setup_${i}`);
        if (response.status !== 200) throw new Error(`deploy failed: ${JSON.stringify(response.body)}`);
      }),
    );
  }
  rows.push(["deploy, machine already set up, p50 ms", percentile(setUp, 50).toFixed(0), `bare command p50: ${bareP50.toFixed(1)}`, (percentile(setUp, 50) / bareP50).toFixed(1), "≤ 500 ms"]);
  rows.push(["deploy, fresh machine (install path), ms", freshTime.toFixed(0), "(stand-in apt-get, real cluster creation)", "", ""]);
} finally {
  await app.stop();
  await coldApp.stop();
  await dbs.dropAll();
  await vps.stop();
  await fresh.stop();
}

const table = markdownTable(["figure", "service", "reference (same run)", "ratio", "target"], rows);
console.log(table);
writeBenchmarkSection(
  "api",
  `## API hot paths (\`npm run bench:api\`)

Measured ${new Date().toISOString().slice(0, 10)} on the project's machine kind (firecracker VM, 2 cores, 24 GiB), service in-process
(Bun ${Bun.version}), load by \`wrk -t2 -c${CONCURRENCY} -d${LOAD_SECONDS}s\` and \`pgbench -c ${CONCURRENCY} -j 2 -T ${LOAD_SECONDS}\` on the same
machine, the VPS a network namespace on a veth pair. Latencies are sequential requests (50 warm, 10 cold, 5 deploys).

${table}

For comparison, the previous implementation (figures from the issue, same kind of machine): about 125 ms for every tables
list (a new SSH handshake and login each time), about 3.5 s for a deploy on a machine already set up (a dozen commands and a
PostgreSQL restart every time), and \`GET /get-db\` at about a tenth of the database's own rate. "Bare command" is \`true\`
run over an already open SSH channel: the physical floor of any remote step. The warm tables list uses a psql session kept
on the pooled connection; cold is a new SSH connection and a new psql.`,
);
