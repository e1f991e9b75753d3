/**
 * Redis benchmark (issue 12): run with `npm run bench:redis` (as root).
 * A sandbox VPS with Debian's redis-server installed (its own instance on 6379), a real metadata
 * database, the service in-process with the SSH pool; each figure next to its reference.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecretBox } from "../src/crypto/secretBox";
import { caching } from "../src/metadata/schema";
import { SSHClient } from "../src/ssh/SSHClient";
import { removeStaleSandboxes, startSandboxVps } from "../tests/support/sandboxVps";
import { startTestApp } from "../tests/support/testApp";
import { createTestDatabases } from "../tests/support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../tests/support/tokens";
import { markdownTable, percentile, timeIt, writeBenchmarkSection } from "./support";

const LOAD_SECONDS = 5;
const CONCURRENCY = 32;
const USER = 9;
const ROUNDS = 5;

async function run(command: string[]): Promise<string> {
  const child = Bun.spawn(command, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (exitCode !== 0) throw new Error(`${command[0]} failed: ${stderr}`);
  return stdout;
}

async function wrkRate(url: string, token: string): Promise<number> {
  const output = await run(["wrk", "-H", `Authorization: Bearer ${token}`, "-t2", `-c${CONCURRENCY}`, `-d${LOAD_SECONDS}s`, url]);
  if (/Non-2xx/.test(output)) throw new Error(`wrk saw errors:\n${output}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
}

const ok = async (response: Promise<{ status: number; body: unknown }>) => {
  const { status, body } = await response;
  if (status !== 200) throw new Error(`request failed: ${status} ${JSON.stringify(body)}`);
};

await removeStaleSandboxes();
const vps = await startSandboxVps({ postgres: "absent", systemd: true, redis: "installed" });
const dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
const app = startTestApp({ store: dbs.store, caching: dbs.caching, registry: dbs.registry });
const rows: string[][] = [];

try {
  const machineId = await dbs.addMachine({ ip: vps.ip, ownerId: USER, rootPassword: vps.rootPassword });
  const body = (name: string, port: number) => ({ name, password: "bench-pass-1", vpsId: machineId, vpsIp: vps.ip, port: String(port) });
  const deploy = (name: string, port: number) => ok(app.request("POST", "/deploy-redis", { userId: USER, body: body(name, port) }));

  // The first deploy also opens the pooled SSH connection: not counted.
  await deploy("warmup", 7000);
  const deploys: number[] = [];
  for (let i = 0; i < ROUNDS; i++) deploys.push(await timeIt(() => deploy(`bench-${i}`, 7001 + i)));
  const roundTrips: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    roundTrips.push(
      await timeIt(async () => {
        await ok(app.request("POST", "/stop-redis-server", { userId: USER, body: body("bench-0", 7001) }));
        await ok(app.request("POST", "/start-stopped-redis-server", { userId: USER, body: body("bench-0", 7001) }));
      }),
    );
  }
  const ssh = new SSHClient({ host: vps.ip, port: 22, username: "root", password: vps.rootPassword, connectTimeoutMs: 5_000 });
  await ssh.connect();
  const bare: number[] = [];
  for (let i = 0; i < 50; i++) bare.push(await timeIt(() => ssh.exec("true", { timeoutMs: 5_000 })));
  ssh.close();
  const bareP50 = percentile(bare, 50);
  rows.push(["deploy, Redis installed, p50 / max ms", `${percentile(deploys, 50).toFixed(0)} / ${Math.max(...deploys).toFixed(0)}`, `bare command p50: ${bareP50.toFixed(1)}`, (percentile(deploys, 50) / bareP50).toFixed(1), "≤ 1500 ms"]);
  rows.push(["stop + start round trip, p50 ms", percentile(roundTrips, 50).toFixed(0), `bare command p50: ${bareP50.toFixed(1)}`, (percentile(roundTrips, 50) / bareP50).toFixed(1), ""]);

  // GET /get-redis-server for a user with 10 servers, next to the database's own rate for the same SELECT.
  await dbs.drizzleDb.delete(caching);
  const box = createSecretBox(TEST_ENCRYPTION_KEY);
  await dbs.drizzleDb.insert(caching).values(
    Array.from({ length: 10 }, (_, i) => ({ cacheName: `c-${i}`, password: box.seal(`password-${i}`), host: "198.51.100.1", vpsId: 1, userId: USER, port: 7100 + i, status: "running", unitInstance: `c-${i}` })),
  );
  const rate = await wrkRate(`${app.baseUrl}/get-redis-server`, tokenFor(USER, { expiresIn: "1h" }));
  const script = join(tmpdir(), "zsl-bench-get-redis.sql");
  writeFileSync(script, `SELECT id, cache_name, password, host, vps_id, user_id, port, caching_type, status, created_at, unit_instance FROM caching WHERE user_id = ${USER} ORDER BY id;\n`);
  const pgbench = await run(["pgbench", "-n", "-c", String(CONCURRENCY), "-j", "2", "-T", String(LOAD_SECONDS), "-f", script, dbs.metadata.url]);
  const pgbenchRate = Number(/tps = ([\d.]+)/.exec(pgbench)?.[1]);
  rows.push(["GET /get-redis-server (10 rows), req/s", rate.toFixed(0), `pgbench same SELECT: ${pgbenchRate.toFixed(0)}`, (rate / pgbenchRate).toFixed(2), ""]);
} finally {
  await app.stop();
  await dbs.dropAll();
  await vps.stop();
}

const table = markdownTable(["figure", "service", "reference (same run)", "ratio", "target"], rows);
console.log(table);
writeBenchmarkSection(
  "redis",
  `## Redis (\`npm run bench:redis\`)

Measured ${new Date().toISOString().slice(0, 10)} on the project's machine kind (firecracker VM, 2 cores, 24 GiB), service in-process
(Bun ${Bun.version}), SSH pool. The VPS is a network namespace running Debian's redis-server ${"7.0"} under the sandbox's
systemctl stand-in, its package instance on 6379. Deploys (${ROUNDS}, after one warm-up that opens the SSH connection) and
stop + start round trips (${ROUNDS}) are sequential and each include the service's own AUTH + PING over TCP; load by
\`wrk -t2 -c${CONCURRENCY} -d${LOAD_SECONDS}s\` and \`pgbench -c ${CONCURRENCY} -j 2 -T ${LOAD_SECONDS}\` on the same machine.

${table}
`,
);
